package linstordb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	linstordb "github.com/linstor-db/linstor-db/bindings/go"
)

var (
	etcd *etcdServer
	kube *apiServer
)

func TestMain(m *testing.M) {
	repo, err := filepath.Abs("../..")
	if err == nil {
		etcd, err = startEtcd()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start etcd:", err)
		os.Exit(1)
	}
	kube, err = startAPIServer(repo)
	if err != nil {
		etcd.stop()
		fmt.Fprintln(os.Stderr, "cannot start the kube-apiserver:", err)
		os.Exit(1)
	}
	code := m.Run()
	kube.stop()
	etcd.stop()
	os.Exit(code)
}

func newContext(t *testing.T, cfg linstordb.Config) *linstordb.Context {
	t.Helper()
	c, err := linstordb.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// etcdContext is a Context whose linstor.toml gives the shared etcd a prefix of its own.
func etcdContext(t *testing.T) *linstordb.Context {
	t.Helper()
	dir, err := etcd.configDir(t.TempDir(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return newContext(t, linstordb.Config{ConfigDir: dir, Kubeconfig: kube.env["KUBE_TEST_ADMIN_KUBECONFIG"]})
}

func wantCode(t *testing.T, err error, sentinel *linstordb.Error, messagePart string) {
	t.Helper()
	var e *linstordb.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *linstordb.Error with code %v, got %v", sentinel.Code, err)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("want code %d (%v), got %d: %s", sentinel.Code, sentinel.Code, e.Code, e.Message)
	}
	if !strings.Contains(e.Message, messagePart) {
		t.Fatalf("message %q does not contain %q", e.Message, messagePart)
	}
}

func TestVersion(t *testing.T) {
	if v := linstordb.Version(); !strings.Contains(v, ".") {
		t.Fatalf("version %q", v)
	}
}

func TestGenerateInfoExportVerifyWithProgress(t *testing.T) {
	c := etcdContext(t)
	ctx := context.Background()
	var tables, rowEvents int
	var lastRows uint64
	generated, err := c.Generate(ctx, etcd.URL, 1000, 3, "", &linstordb.JobOptions{Progress: func(p linstordb.Progress) {
		switch p.Kind {
		case "table":
			if p.Index != tables || p.Total == 0 {
				t.Errorf("table event %+v after %d tables", p, tables)
			}
			tables++
		case "rows":
			if p.Rows < lastRows {
				t.Errorf("rows went back from %d to %d", lastRows, p.Rows)
			}
			lastRows = p.Rows
			rowEvents++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if generated.Rows < 500 || generated.DataVersion != "v1-31-1" {
		t.Fatalf("generated %+v", generated)
	}
	if tables < 20 || rowEvents == 0 || lastRows != generated.Rows {
		t.Fatalf("progress: %d table events, %d row events, last %d rows, report %d rows", tables, rowEvents, lastRows, generated.Rows)
	}

	info, err := c.Info(ctx, etcd.URL)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != generated.Rows || info.EtcdVersion == nil || info.LinstorVersion == "" {
		t.Fatalf("info %+v, generated %d rows", info, generated.Rows)
	}

	file := filepath.Join(t.TempDir(), "export.json")
	exported, err := c.Export(ctx, "", file, nil) // "" is connection_url of linstor.toml
	if err != nil {
		t.Fatal(err)
	}
	if exported.Target != file || exported.Rows == 0 {
		t.Fatalf("exported %+v", exported)
	}
	verified, err := c.Verify(ctx, etcd.URL, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !verified.Equal || verified.RowsA == 0 || len(verified.Tables) == 0 || len(verified.FirstDifferences) != 0 {
		t.Fatalf("verify %+v", verified)
	}
}

func TestVerifyListsDifferences(t *testing.T) {
	c := newContext(t, linstordb.Config{})
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	for i, file := range []string{a, b} {
		if _, err := c.Generate(context.Background(), file, 300, uint64(i+1), "", nil); err != nil {
			t.Fatal(err)
		}
	}
	report, err := c.Verify(context.Background(), a, b, &linstordb.JobOptions{MaxDifferences: 3})
	if err != nil {
		t.Fatal(err)
	}
	if report.Equal || report.Differences <= 3 || len(report.FirstDifferences) != 3 || !report.FirstDifferencesTruncated {
		t.Fatalf("verify of different seeds: %+v", report)
	}
	if d := report.FirstDifferences[0]; d.Kind == "" || d.Table == "" {
		t.Fatalf("difference %+v", d)
	}
}

func TestTargetNotEmptyIsRefusedWithItsMessage(t *testing.T) {
	c := etcdContext(t)
	ctx := context.Background()
	if _, err := c.Generate(ctx, etcd.URL, 200, 1, "", nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.Generate(ctx, etcd.URL, 200, 2, "", nil)
	wantCode(t, err, linstordb.ErrTargetNotEmpty, "already holds a LINSTOR database")
	if _, err := c.Generate(ctx, etcd.URL, 200, 2, "", &linstordb.JobOptions{Replace: true}); err != nil {
		t.Fatalf("with Replace: %v", err)
	}
}

func TestUnreachableEtcdIsAConnectError(t *testing.T) {
	// Connecting tries each endpoint once, whatever the retry timeout.
	c := newContext(t, linstordb.Config{RetryTimeout: 2 * time.Second})
	_, err := c.Info(context.Background(), "etcd://127.0.0.1:1")
	wantCode(t, err, linstordb.ErrConnect, "cannot connect to etcd at 127.0.0.1:1")
}

func TestInvalidArgumentsAreTypedErrors(t *testing.T) {
	c := newContext(t, linstordb.Config{})
	ctx := context.Background()
	_, err := c.Info(ctx, "ftp://somewhere")
	wantCode(t, err, linstordb.ErrInvalidStore, "unknown scheme")
	_, err = c.Generate(ctx, filepath.Join(t.TempDir(), "x.json"), 10, 1, "v9-9-9", nil)
	wantCode(t, err, linstordb.ErrUnsupportedVersion, "v9-9-9")
	_, err = c.Info(ctx, "bad-\xff.json")
	wantCode(t, err, linstordb.ErrInvalidUTF8, "`store` is not valid UTF-8")

	missing := newContext(t, linstordb.Config{ConfigDir: filepath.Join(t.TempDir(), "nowhere")})
	_, err = missing.Info(ctx, "")
	wantCode(t, err, linstordb.ErrConfig, "no LINSTOR configuration")
}

func TestCancelStopsARunningJob(t *testing.T) {
	c := etcdContext(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events int
	started := time.Now()
	_, err := c.Generate(ctx, etcd.URL, 20000, 1, "", &linstordb.JobOptions{Progress: func(p linstordb.Progress) {
		events++
		if p.Kind == "rows" && ctx.Err() == nil {
			cancel()
			// Give the watcher goroutine time to set the library's flag before the next batch.
			time.Sleep(200 * time.Millisecond)
		}
	}})
	wantCode(t, err, linstordb.ErrCancelled, "cancelled")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not match context.Canceled", err)
	}
	t.Logf("cancelled after %d progress events, %v", events, time.Since(started))

	// The interrupted target is marked; without Replace it is refused, with Replace it is finished.
	_, err = c.Generate(context.Background(), etcd.URL, 200, 1, "", nil)
	wantCode(t, err, linstordb.ErrIncompleteImport, "incomplete import")
	if _, err := c.Generate(context.Background(), etcd.URL, 200, 1, "", &linstordb.JobOptions{Replace: true}); err != nil {
		t.Fatalf("finishing with Replace after a cancel: %v", err)
	}
}

func TestCancelledBeforeStartAndDeadline(t *testing.T) {
	c := newContext(t, linstordb.Config{})
	file := filepath.Join(t.TempDir(), "db.json")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Generate(ctx, file, 100, 1, "", nil)
	wantCode(t, err, linstordb.ErrCancelled, "cancelled")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v is not context.Canceled", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("a job cancelled before it started wrote %s", file)
	}

	deadline, stop := context.WithTimeout(context.Background(), time.Millisecond)
	defer stop()
	_, err = c.Generate(deadline, filepath.Join(t.TempDir(), "big.json"), 200000, 1, "", nil)
	if !errors.Is(err, linstordb.ErrCancelled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a cancelled job matching context.DeadlineExceeded, got %v", err)
	}

	// The context stays usable after cancellations.
	if _, err := c.Generate(context.Background(), file, 100, 1, "", nil); err != nil {
		t.Fatalf("after cancellations: %v", err)
	}
}

func TestBackupAndRestoreRoundTrip(t *testing.T) {
	source := etcdContext(t)
	ctx := context.Background()
	generated, err := source.Generate(ctx, etcd.URL, 500, 11, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "backup.tar.gz")
	toFile, err := source.Backup(ctx, etcd.URL, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if toFile.Rows != generated.Rows || toFile.Bytes == 0 || len(toFile.SHA256) != 64 || toFile.Parts != 0 {
		t.Fatalf("backup to file: %+v", toFile)
	}
	secret := fmt.Sprintf("secret://default/go-backup-%d", time.Now().UnixNano())
	toSecret, err := source.Backup(ctx, etcd.URL, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if toSecret.Target != secret || toSecret.Rows != generated.Rows || toSecret.Parts < 1 {
		t.Fatalf("backup to Secret: %+v", toSecret)
	}
	_, err = source.Backup(ctx, etcd.URL, secret, nil)
	wantCode(t, err, linstordb.ErrBackupExists, "never overwritten")

	listings, err := source.ListBackups(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	var listed *linstordb.BackupListing
	for i := range listings {
		if listings[i].Address == secret {
			listed = &listings[i]
		}
	}
	if listed == nil || !listed.Complete || listed.Rows == nil || *listed.Rows != generated.Rows {
		t.Fatalf("%s not listed as complete with %d rows: %+v", secret, generated.Rows, listings)
	}
	// A dry run of a prune that keeps every backup deletes nothing; keep 0 is refused by the library.
	pruned, err := source.PruneBackups(ctx, "default", 1000, time.Hour, true)
	if err != nil {
		t.Fatal(err)
	}
	if !pruned.DryRun || pruned.Deleted != 0 || len(pruned.Choices) < 1 {
		t.Fatalf("dry-run prune: %+v", pruned)
	}
	for _, choice := range pruned.Choices {
		if choice.Delete {
			t.Fatalf("a prune keeping 1000 backups would delete %s", choice.Name)
		}
	}
	_, err = source.PruneBackups(ctx, "default", 0, 0, false)
	wantCode(t, err, linstordb.ErrInvalidArgument, "at least 1")

	// Restore the Secret into an empty prefix, and compare with the file backup.
	target := etcdContext(t)
	restored, err := target.Restore(ctx, secret, etcd.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Rows != generated.Rows || restored.DryRun || restored.PreviousBackup != nil {
		t.Fatalf("restore: %+v", restored)
	}
	verified, err := target.Verify(ctx, etcd.URL, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !verified.Equal || verified.RowsA != generated.Rows {
		t.Fatalf("restored store vs file backup: %+v", verified)
	}

	// A second restore is refused, a dry run changes nothing, a replacing one keeps a backup first.
	_, err = target.Restore(ctx, file, etcd.URL, nil)
	wantCode(t, err, linstordb.ErrTargetNotEmpty, "already holds a LINSTOR database")
	dry, err := target.Restore(ctx, file, etcd.URL, &linstordb.JobOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, change := range dry.Changes {
		if change.Add+change.Remove+change.Change != 0 {
			t.Fatalf("dry run against an equal store reports changes: %+v", dry.Changes)
		}
	}
	previous := filepath.Join(t.TempDir(), "previous.tar.gz")
	replaced, err := target.Restore(ctx, file, etcd.URL, &linstordb.JobOptions{Replace: true, BackupTo: previous})
	if err != nil {
		t.Fatal(err)
	}
	if replaced.PreviousBackup == nil || replaced.PreviousBackup.Target != previous {
		t.Fatalf("replacing restore kept no backup at %s: %+v", previous, replaced)
	}
	if _, err := os.Stat(previous); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateEtcdToKubernetesAndVerify(t *testing.T) {
	c := etcdContext(t)
	ctx := context.Background()
	generated, err := c.Generate(ctx, etcd.URL, 800, 21, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "before-migrate.tar.gz")
	var steps []string
	// Replace: other tests of this binary may have left a database in the (cluster-wide) CRDs.
	migrated, err := c.Migrate(ctx, etcd.URL, "k8s", &linstordb.JobOptions{Replace: true, BackupTo: backup,
		Progress: func(p linstordb.Progress) {
			if p.Kind == "step" {
				steps = append(steps, p.Step)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if migrated.Rows != generated.Rows || migrated.Verify.Differences != 0 || migrated.Verify.RowsB != generated.Rows ||
		migrated.Backup == nil || migrated.Backup.Target != backup || len(migrated.NextSteps) == 0 {
		t.Fatalf("migrate: %+v", migrated)
	}
	if got := strings.Join(steps, ","); !strings.Contains(got, "backup") || !strings.Contains(got, "write") || !strings.Contains(got, "verify") {
		t.Fatalf("steps %q", got)
	}

	verified, err := c.Verify(ctx, etcd.URL, "k8s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !verified.Equal || verified.RowsB != generated.Rows {
		t.Fatalf("etcd vs k8s after migrate: %+v", verified)
	}
	again, err := c.Migrate(ctx, etcd.URL, "k8s", &linstordb.JobOptions{BackupTo: filepath.Join(t.TempDir(), "again.tar.gz")})
	if err != nil {
		t.Fatal(err)
	}
	if !again.AlreadyMigrated {
		t.Fatalf("second migrate: %+v", again)
	}

	// Purge refuses a backup that does not match, and deletes after one that does.
	other := filepath.Join(t.TempDir(), "other.json")
	if _, err := c.Generate(ctx, other, 100, 99, "", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Purge(ctx, "k8s", other, nil)
	wantCode(t, err, linstordb.ErrRefused, "purge refused")
	purged, err := c.Purge(ctx, "k8s", backup, nil)
	if err != nil {
		t.Fatal(err)
	}
	if purged.Rows != generated.Rows || len(purged.Deleted) == 0 {
		t.Fatalf("purge: %+v", purged)
	}
	// CRD deletion finishes in the background of the API server (its finalizer removes the objects).
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err = c.Info(ctx, "k8s")
		if errors.Is(err, linstordb.ErrNotLinstor) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	wantCode(t, err, linstordb.ErrNotLinstor, "")
	t.Logf("k8s held no LINSTOR database %v after the purge", time.Since(deadline.Add(-60*time.Second)))
}

func TestKubernetesWithoutPermissionIsForbidden(t *testing.T) {
	c := newContext(t, linstordb.Config{Kubeconfig: kube.env["KUBE_TEST_USER_KUBECONFIG"]})
	_, err := c.Info(context.Background(), "k8s")
	wantCode(t, err, linstordb.ErrForbidden, "refused")
}

func TestContextsRunInParallel(t *testing.T) {
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		c := etcdContext(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Generate(context.Background(), etcd.URL, 500, uint64(i), "", nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("context %d: %v", i, err)
		}
	}
}

func TestClosedContext(t *testing.T) {
	c, err := linstordb.New(linstordb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	_, err = c.Info(context.Background(), "x.json")
	if !errors.Is(err, linstordb.ErrClosed) {
		t.Fatalf("want ErrClosed, got %v", err)
	}
}
