package linstordb

/*
#include "linstor_db.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// JobOptions are the options of a job, as on the command line; each job reads the ones that apply.
// A nil *JobOptions means defaults.
type JobOptions struct {
	// Replace overwrites a target that already holds a LINSTOR database.
	Replace bool `json:"replace,omitempty"`
	// DryRun reports what would change without writing (restore).
	DryRun bool `json:"dry_run,omitempty"`
	// AllowDowngrade, with Replace, restores older data over LINSTOR CRDs that store newer data (a
	// failed upgrade): they are deleted after the safety backup and created as the backup's release has them.
	AllowDowngrade bool `json:"allow_downgrade,omitempty"`
	// BackupTo is where restore and migrate keep their safety backup (a file path or secret://NS/NAME).
	BackupTo string `json:"backup_to,omitempty"`
	// Controller is the LINSTOR controller Deployment "NAMESPACE/NAME" to scale down while writing.
	Controller string `json:"controller,omitempty"`
	// AllowRunningController writes although a running LINSTOR controller was detected.
	AllowRunningController bool `json:"allow_running_controller,omitempty"`
	// AcceptLostColumns restores a backup whose objects lack columns the API server pruned (objects
	// read at an older served version, as kubectl makes them).
	AcceptLostColumns bool `json:"accept_lost_columns,omitempty"`
	// NoCheck writes data LINSTOR would refuse to load; Import, Restore and Migrate otherwise check
	// the rows first (as `linstor-db check`) and refuse such data with ErrRefused.
	NoCheck bool `json:"no_check,omitempty"`
	// MaxDifferences is how many differences Verify lists (0: the library's default, 100).
	MaxDifferences uint64 `json:"max_differences,omitempty"`
	// Progress, if set, is called during the job on the job's goroutine; it must return quickly.
	Progress func(Progress) `json:"-"`
}

// TableCount is the number of rows of one table.
type TableCount struct {
	Table string `json:"table"`
	Rows  uint64 `json:"rows"`
}

// CopyReport is what Export, Import and Generate did.
type CopyReport struct {
	Source         string       `json:"source"`
	Target         string       `json:"target"`
	LinstorVersion string       `json:"linstor_version"`
	DataVersion    string       `json:"data_version"`
	Tables         []TableCount `json:"tables"`
	Rows           uint64       `json:"rows"`
}

// InfoReport is what a store holds, without its rows.
type InfoReport struct {
	Store          string       `json:"store"`
	LinstorVersion string       `json:"linstor_version"`
	DataVersion    string       `json:"data_version"`
	EtcdVersion    *uint32      `json:"etcd_version"`
	K8sVersion     uint32       `json:"k8s_version"`
	Rows           uint64       `json:"rows"`
	Tables         []TableCount `json:"tables"`
	Interrupted    *string      `json:"interrupted"` // a backup of an interrupted write: its job
}

// TableComparison are the counts of one table in a comparison.
type TableComparison struct {
	Table       string
	RowsA       uint64
	RowsB       uint64
	Differences uint64
}

// UnmarshalJSON reads the library's [table, rows_a, rows_b, differences].
func (t *TableComparison) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if len(raw) != 4 {
		return fmt.Errorf("table comparison: want 4 values, got %d", len(raw))
	}
	for i, target := range []any{&t.Table, &t.RowsA, &t.RowsB, &t.Differences} {
		if err := json.Unmarshal(raw[i], target); err != nil {
			return err
		}
	}
	return nil
}

// ColumnChange is one column that differs in a changed row.
type ColumnChange struct {
	Column string
	A      string // value in A as JSON text ("null" for NULL)
	B      string // value in B
}

// UnmarshalJSON reads the library's [column, a, b].
func (c *ColumnChange) UnmarshalJSON(data []byte) error {
	var raw [3]string
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	c.Column, c.A, c.B = raw[0], raw[1], raw[2]
	return nil
}

// Difference is one difference between side A and side B. Kind is "only_in_a", "only_in_b" or
// "changed" (Table and Key set; Columns for "changed").
type Difference struct {
	Kind    string         `json:"kind"`
	A       string         `json:"a,omitempty"`
	B       string         `json:"b,omitempty"`
	Table   string         `json:"table,omitempty"`
	Key     string         `json:"key,omitempty"`
	Columns []ColumnChange `json:"columns,omitempty"`
}

// VerifyReport is the result of Verify. Different stores are a result (Equal false), not an error.
type VerifyReport struct {
	A                         string            `json:"a"`
	B                         string            `json:"b"`
	RowsA                     uint64            `json:"rows_a"`
	RowsB                     uint64            `json:"rows_b"`
	Differences               uint64            `json:"differences"`
	Tables                    []TableComparison `json:"tables"`
	Equal                     bool              `json:"equal"`
	FirstDifferences          []Difference      `json:"first_differences"`
	FirstDifferencesTruncated bool              `json:"first_differences_truncated"`
	// DataVersions is [A's, B's] when they differ: rows are then compared as the newer version holds them.
	DataVersions []string `json:"data_versions"`
	// Notes are not differences: what the migration between the data versions does on purpose
	// (Kind "expected") and what is worth telling (Kind "noticed").
	Notes []CompareNote `json:"notes"`
}

// CompareNote is a finding of a comparison that is not a difference.
type CompareNote struct {
	Kind   string `json:"kind"`
	Table  string `json:"table"`
	Key    string `json:"key"`
	Detail string `json:"detail"`
}

// Export writes the store from ("" : connection_url of linstor.toml) to a LINSTOR export-db JSON file.
func (c *Context) Export(ctx context.Context, from, file string, opts *JobOptions) (*CopyReport, error) {
	args, free := cStrings(from, file)
	defer free()
	var report CopyReport
	err := c.run(ctx, opts, &report, func(p *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_export(p, args[0], args[1], options, out)
	})
	return result(&report, err)
}

// Import writes a LINSTOR export-db JSON file into the store to ("": connection_url of linstor.toml).
// Reads opts.Replace, opts.NoCheck.
func (c *Context) Import(ctx context.Context, file, to string, opts *JobOptions) (*CopyReport, error) {
	args, free := cStrings(file, to)
	defer free()
	var report CopyReport
	err := c.run(ctx, opts, &report, func(p *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_import(p, args[0], args[1], options, out)
	})
	return result(&report, err)
}

// Info reads the versions and row counts of store ("": connection_url of linstor.toml).
func (c *Context) Info(ctx context.Context, store string) (*InfoReport, error) {
	args, free := cStrings(store)
	defer free()
	var report InfoReport
	err := c.run(ctx, nil, &report, func(p *C.lsdb_context, _ *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_info(p, args[0], out)
	})
	return result(&report, err)
}

// Verify compares stores a and b row by row. Reads opts.MaxDifferences.
func (c *Context) Verify(ctx context.Context, a, b string, opts *JobOptions) (*VerifyReport, error) {
	args, free := cStrings(a, b)
	defer free()
	var report VerifyReport
	err := c.run(ctx, opts, &report, func(p *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_verify(p, args[0], args[1], options, out)
	})
	return result(&report, err)
}

// Generate writes a synthetic LINSTOR database of about rows rows into to (a store or a file),
// deterministic for seed. dataVersion "" is v1-31-1 (LINSTOR 1.33). Reads opts.Replace.
func (c *Context) Generate(ctx context.Context, to string, rows, seed uint64, dataVersion string, opts *JobOptions) (*CopyReport, error) {
	args, free := cStrings(to, dataVersion)
	defer free()
	var report CopyReport
	err := c.run(ctx, opts, &report, func(p *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_generate(p, args[0], C.uint64_t(rows), C.uint64_t(seed), args[1], options, out)
	})
	return result(&report, err)
}

func result[T any](report *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return report, nil
}

// BackupReport is what Backup wrote.
type BackupReport struct {
	Source         string       `json:"source"`
	Target         string       `json:"target"`
	LinstorVersion string       `json:"linstor_version"`
	DataVersion    string       `json:"data_version"`
	Tables         []TableCount `json:"tables"`
	Rows           uint64       `json:"rows"`
	Bytes          uint64       `json:"bytes"`
	SHA256         string       `json:"sha256"`
	Parts          int          `json:"parts"` // Secret parts; 0 for a file
	// Interrupted names the job whose write this backup holds, for a backup of an interrupted write
	// (a restore of it leaves the target marked incomplete, as it was).
	Interrupted *string `json:"interrupted"`
}

// ControllerDeployment is a LINSTOR controller Deployment that a job stopped and started again.
type ControllerDeployment struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Replicas  int32  `json:"replicas"`
}

// TableChanges are the rows a restore adds, removes and changes in one table.
type TableChanges struct {
	Table  string `json:"table"`
	Add    uint64 `json:"add"`
	Remove uint64 `json:"remove"`
	Change uint64 `json:"change"`
}

// RestoreReport is what Restore did (or, with DryRun, would do).
type RestoreReport struct {
	Source         string                `json:"source"`
	Target         string                `json:"target"`
	DryRun         bool                  `json:"dry_run"`
	LinstorVersion string                `json:"linstor_version"`
	DataVersion    string                `json:"data_version"`
	Changes        []TableChanges        `json:"changes"`
	Rows           uint64                `json:"rows"`
	PreviousBackup *BackupReport         `json:"previous_backup"`
	Interrupted    *string               `json:"interrupted"` // the backup was of an interrupted write by this job
	Controller     *ControllerDeployment `json:"controller"`
	// Replaces is "replaces LINSTOR X data (vA) with LINSTOR Y data (vB)"; nil when the target held no database.
	Replaces *string `json:"replaces"`
	// Downgrade: the target's LINSTOR CRDs stored newer data and were re-created (AllowDowngrade).
	Downgrade bool `json:"downgrade"`
	// ControllerLeftStopped: after a downgrade the controller stays at 0 replicas until its image is pinned.
	ControllerLeftStopped bool `json:"controller_left_stopped"`
	// NextSteps: the release to run, how to pin its image (operator v1 and v2), start the controller, check.
	NextSteps []string `json:"next_steps"`
}

// CompareReport are the counts of a row-by-row comparison.
type CompareReport struct {
	A           string            `json:"a"`
	B           string            `json:"b"`
	RowsA       uint64            `json:"rows_a"`
	RowsB       uint64            `json:"rows_b"`
	Differences uint64            `json:"differences"`
	Tables      []TableComparison `json:"tables"`
}

// MigrateReport is what Migrate did.
type MigrateReport struct {
	Source          string                `json:"source"`
	Target          string                `json:"target"`
	Backup          *BackupReport         `json:"backup"`
	ReplacedBackup  *BackupReport         `json:"replaced_backup"` // of what the target held, with Replace
	Resumed         bool                  `json:"resumed"`
	AlreadyMigrated bool                  `json:"already_migrated"`
	Rows            uint64                `json:"rows"`
	Verify          CompareReport         `json:"verify"`
	Controller      *ControllerDeployment `json:"controller"`
	NextSteps       []string              `json:"next_steps"`
}

// BackupListing is one backup Secret found by ListBackups.
type BackupListing struct {
	Name           string  `json:"name"`
	Address        string  `json:"address"` // secret://NAMESPACE/NAME, usable as Restore's from
	Scheme         string  `json:"scheme"`
	Created        *string `json:"created"`
	AgeSeconds     *int64  `json:"age_seconds"`
	Bytes          uint64  `json:"bytes"`
	Parts          int     `json:"parts"`
	Complete       bool    `json:"complete"`
	LinstorVersion *string `json:"linstor_version"`
	DataVersion    *string `json:"data_version"`
	Rows           *uint64 `json:"rows"`
	Note           string  `json:"note"`
}

// PruneChoice is what PruneBackups did with one backup, and why.
type PruneChoice struct {
	Name       string   `json:"name"`
	Address    string   `json:"address"`
	Scheme     string   `json:"scheme"`
	AgeSeconds *int64   `json:"age_seconds"`
	Delete     bool     `json:"delete"` // deleted (with DryRun: would be)
	Reason     string   `json:"reason"`
	Secrets    []string `json:"secrets"` // the Secrets of the backup, the marker first
}

// PruneReport is what PruneBackups did, newest backup first.
type PruneReport struct {
	Namespace string        `json:"namespace"`
	DryRun    bool          `json:"dry_run"`
	Deleted   int           `json:"deleted"`
	Choices   []PruneChoice `json:"choices"`
}

// PurgeReport is what Purge deleted.
type PurgeReport struct {
	Store   string   `json:"store"`
	Backup  string   `json:"backup"`
	Rows    uint64   `json:"rows"`
	Deleted []string `json:"deleted"`
}

// Backup writes the store from ("": connection_url of linstor.toml) as a backup archive to a file or to
// "secret://NAMESPACE/NAME".
func (c *Context) Backup(ctx context.Context, from, to string, opts *JobOptions) (*BackupReport, error) {
	args, free := cStrings(from, to)
	defer free()
	var report BackupReport
	err := c.run(ctx, opts, &report, func(p *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_backup(p, args[0], args[1], options, out)
	})
	return result(&report, err)
}

// Restore writes the backup from (file, Secret, export file or store) into the store to ("":
// connection_url of linstor.toml), verified row by row. Reads Replace, DryRun, AllowDowngrade, BackupTo,
// Controller, AllowRunningController, AcceptLostColumns, NoCheck.
func (c *Context) Restore(ctx context.Context, from, to string, opts *JobOptions) (*RestoreReport, error) {
	args, free := cStrings(from, to)
	defer free()
	var report RestoreReport
	err := c.run(ctx, opts, &report, func(p *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_restore(p, args[0], args[1], options, out)
	})
	return result(&report, err)
}

// Migrate copies the live store from ("": connection_url of linstor.toml) into the store to (for example
// etcd to "k8s"): backup first, write, verify row by row; the source is never modified. Reads Replace,
// BackupTo, Controller, AllowRunningController, NoCheck.
func (c *Context) Migrate(ctx context.Context, from, to string, opts *JobOptions) (*MigrateReport, error) {
	args, free := cStrings(from, to)
	defer free()
	var report MigrateReport
	err := c.run(ctx, opts, &report, func(p *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_migrate(p, args[0], args[1], options, out)
	})
	return result(&report, err)
}

// PruneBackups deletes the complete backups of a Kubernetes namespace beyond the keep newest complete
// ones (keep at least 1) and, when olderThan is not 0, only those at least that old; with dryRun it
// deletes nothing. It never deletes the newest complete backup, one still being written or one that
// cannot be read.
func (c *Context) PruneBackups(ctx context.Context, namespace string, keep uint32, olderThan time.Duration, dryRun bool) (*PruneReport, error) {
	args, free := cStrings(namespace)
	defer free()
	var report PruneReport
	olderThanS := C.uint64_t(olderThan / time.Second)
	err := c.run(ctx, nil, &report, func(p *C.lsdb_context, _ *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_prune_backups(p, args[0], C.uint32_t(keep), olderThanS, C.bool(dryRun), out)
	})
	if err != nil {
		return nil, err
	}
	return &report, nil
}

// ListBackups lists the backup Secrets of a Kubernetes namespace.
func (c *Context) ListBackups(ctx context.Context, namespace string) ([]BackupListing, error) {
	args, free := cStrings(namespace)
	defer free()
	var report []BackupListing
	err := c.run(ctx, nil, &report, func(p *C.lsdb_context, _ *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_list_backups(p, args[0], out)
	})
	if err != nil {
		return nil, err
	}
	return report, nil
}

// Purge deletes LINSTOR's database from store ("": connection_url of linstor.toml) after the backup
// verified equal to it. Reads Controller, AllowRunningController.
func (c *Context) Purge(ctx context.Context, store, backup string, opts *JobOptions) (*PurgeReport, error) {
	args, free := cStrings(store, backup)
	defer free()
	var report PurgeReport
	err := c.run(ctx, opts, &report, func(p *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status {
		return C.lsdb_purge(p, args[0], args[1], options, out)
	})
	return result(&report, err)
}
