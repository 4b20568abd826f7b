// Command migrate-example generates a LINSTOR database into etcd, migrates it to the Kubernetes API
// (CRDs) and verifies the copy row by row, using the Go binding of linstor-db.
//
//	go run . -etcd etcd://127.0.0.1:2379 -kubeconfig ~/.kube/config -rows 2000
//
// It overwrites the LINSTOR CRDs of that cluster (-replace), so point it at a test cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	linstordb "github.com/linstor-db/linstor-db/bindings/go"
)

func main() {
	etcd := flag.String("etcd", "etcd://127.0.0.1:2379", "etcd store to generate into (its LINSTOR data is replaced)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the target cluster (default: $KUBECONFIG, ~/.kube/config)")
	rows := flag.Uint64("rows", 2000, "rows to generate")
	workdir := flag.String("workdir", os.TempDir(), "where the safety backup is written")
	flag.Parse()

	// Ctrl-C cancels the running job; the library stops it at its next batch.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *etcd, *kubeconfig, *rows, *workdir); err != nil {
		var lerr *linstordb.Error
		if errors.As(err, &lerr) {
			fmt.Fprintf(os.Stderr, "error (code %d, %v): %s\n", lerr.Code, lerr.Code, lerr.Message)
		} else {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, etcd, kubeconfig string, rows uint64, workdir string) error {
	db, err := linstordb.New(linstordb.Config{Kubeconfig: kubeconfig})
	if err != nil {
		return err
	}
	defer db.Close()

	generated, err := db.Generate(ctx, etcd, rows, 1, "", &linstordb.JobOptions{Replace: true})
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	fmt.Printf("generated %d rows (LINSTOR %s, %s) in %s\n", generated.Rows, generated.LinstorVersion, generated.DataVersion, etcd)

	migrated, err := db.Migrate(ctx, etcd, "k8s", &linstordb.JobOptions{
		Replace:  true,
		BackupTo: filepath.Join(workdir, "linstor-before-migrate.tar.gz"),
		Progress: func(p linstordb.Progress) {
			if p.Kind == "step" {
				fmt.Printf("  step: %s\n", p.Step)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if migrated.AlreadyMigrated {
		fmt.Printf("%s already held the same %d rows; nothing was written\n", migrated.Target, migrated.Rows)
	} else {
		fmt.Printf("migrated %d rows to %s (backup of the source: %s)\n", migrated.Rows, migrated.Target, migrated.Backup.Target)
	}

	report, err := db.Verify(ctx, etcd, "k8s", nil)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if !report.Equal {
		return fmt.Errorf("verify: %d differences, first: %+v", report.Differences, report.FirstDifferences)
	}
	fmt.Printf("verified: equal, %d rows on both sides\n", report.RowsA)
	for _, step := range migrated.NextSteps {
		fmt.Println("next:", step)
	}
	return nil
}
