//! The command line as clap sees it: close to the flags, no I/O. `run.rs` gives it meaning.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Back up, restore, migrate and verify the LINSTOR controller database (etcd, Kubernetes, export JSON).
///
/// Stores are named the same way everywhere: `etcd://HOST:PORT[,HOST:PORT]`, `k8s`, a file (a LINSTOR
/// export-db JSON, or a backup: our tar.gz, an operator v1/v2 archive, a kubectl -oyaml dump or a
/// directory of them), or `secret://NAMESPACE/NAME` (a backup kept in Kubernetes Secrets, any scheme).
/// Without one, the store is `connection_url` of linstor.toml.
///
/// Exit codes: 0 success, 1 differences found (verify, diff) or findings (check), 2 error.
#[derive(Debug, Parser)]
#[command(name = "linstor-db", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory holding linstor.toml (as LINSTOR's -c / --config-directory).
    #[arg(short = 'c', long = "config-directory", global = true, value_name = "DIR")]
    pub config_directory: Option<PathBuf>,
    /// Kubeconfig for `k8s` stores (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context for `k8s` stores (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Give up on a store after it failed this long without any request succeeding (an etcd without
    /// quorum, a stopped API server); until then transient errors are retried, on the other etcd
    /// endpoints too. Seconds, or with a unit: 90s, 5m, 1h, 2m30s.
    #[arg(long, global = true, value_name = "DURATION", default_value = "3m", value_parser = parse_duration)]
    pub retry_timeout: std::time::Duration,
    /// Output format of results.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// No progress bar and no summary on success.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export the database to a LINSTOR export-db JSON file (drop-in for `linstor-database export-db`).
    ExportDb {
        /// Read this store instead of linstor.toml's connection_url.
        #[arg(long, value_name = "STORE")]
        from: Option<String>,
        /// The export file to write (written with owner-only permissions, replaced only when complete).
        file: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Import a LINSTOR export-db JSON file (drop-in for `linstor-database import-db`).
    ImportDb {
        /// Write this store instead of linstor.toml's connection_url.
        #[arg(long, value_name = "STORE")]
        to: Option<String>,
        /// Overwrite a target that already holds a LINSTOR database (or finish an interrupted import).
        #[arg(long)]
        replace: bool,
        /// The export file to read.
        file: PathBuf,
        #[command(flatten)]
        check: CheckArgs,
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Show a store's LINSTOR release, data version, migration numbers and rows per table.
    Info {
        /// The store (default: linstor.toml's connection_url).
        store: Option<String>,
    },
    /// Check a store, export or backup against the invariants LINSTOR's controller relies on when it
    /// loads its database (references, security rows, NetCom properties, props instance names, DRBD
    /// flags, minors and ports); one line per offending row, then a summary per rule. Exit 1 on findings.
    Check {
        /// The store, export file or backup (default: linstor.toml's connection_url).
        store: Option<String>,
    },
    /// Compare two stores row by row (table and primary key); exit 1 when they differ.
    Verify {
        /// First store (etcd://…, k8s, or an export file).
        a: String,
        /// Second store.
        b: String,
    },
    /// Print every difference between two stores (`-` only in A, `+` only in B, `~` changed); exit 1
    /// when they differ. With --output json, one JSON object per line and a final summary line.
    Diff {
        /// First store (etcd://…, k8s, or an export file).
        a: String,
        /// Second store.
        b: String,
    },
    /// Back up a store to a tar.gz or to Kubernetes Secrets (`backup list NAMESPACE` lists backup Secrets).
    ///
    /// The archive has the operator v1 layout (crds.yaml and one <plural>.internal.linstor.linbit.com.yaml
    /// per table) plus manifest.json with versions, rows and SHA-256 of every entry. It is read back and
    /// checked before the backup is reported; Secrets are marked complete only then.
    Backup(BackupArgs),
    /// Restore a backup (any format) into etcd or k8s; refuses a non-empty target unless --replace, and
    /// then backs it up first; verifies the result row by row.
    Restore {
        /// The backup: a file, a directory, or secret://NAMESPACE/NAME.
        #[arg(long, value_name = "BACKUP")]
        from: String,
        /// The store to write (default: linstor.toml's connection_url).
        #[arg(long, value_name = "STORE")]
        to: Option<String>,
        /// Overwrite a target that holds a LINSTOR database or another job's interrupted write (it is
        /// backed up first; the backup of an interrupted write restores as one).
        #[arg(long)]
        replace: bool,
        /// Print what would change per table; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// With --replace: restore older data over a cluster whose LINSTOR CRDs store newer data (a
        /// failed upgrade). The cluster is backed up, its LINSTOR CRDs are deleted and created as the
        /// backup's LINSTOR release has them; then that release (and no newer) must run. On etcd,
        /// --replace already replaces every key, so this changes nothing there.
        #[arg(long)]
        allow_downgrade: bool,
        /// Restore a backup whose objects the API server returned at an older version than it stores
        /// (kubectl's preferred version), without the columns it pruned; LINSTOR recomputes or loses them.
        #[arg(long)]
        accept_lost_columns: bool,
        /// Where the backup of the replaced database goes (default: ./linstor-db-before-restore-TIME.tar.gz;
        /// `{time}` in a secret:// NAME becomes the UTC time of the run, as in `backup -o`).
        #[arg(long, value_name = "FILE|secret://NS/NAME")]
        backup_to: Option<String>,
        #[command(flatten)]
        check: CheckArgs,
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Migrate a database between stores (etcd → k8s, or back): backup of the source, write, verify row
    /// by row, then the exact next steps. The source is never modified; re-running finishes an
    /// interrupted migration.
    Migrate {
        /// The store to read (default: linstor.toml's connection_url).
        #[arg(long, value_name = "STORE")]
        from: Option<String>,
        /// The store to write.
        #[arg(long, value_name = "STORE")]
        to: String,
        /// Overwrite a target that holds a different LINSTOR database or another job's interrupted
        /// write (it is backed up first, beside the backup of the source, with `-replaced` added to the
        /// name).
        #[arg(long)]
        replace: bool,
        /// Where the backup of the source goes (default: ./linstor-db-before-migrate-TIME.tar.gz; `{time}`
        /// in a secret:// NAME becomes the UTC time of the run, as in `backup -o`).
        #[arg(long, value_name = "FILE|secret://NS/NAME")]
        backup_to: Option<String>,
        #[command(flatten)]
        check: CheckArgs,
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Delete LINSTOR's database from a store (all internal.linstor.linbit.com CRDs, or the etcd
    /// prefix), only after the given backup verified equal to it.
    Purge {
        /// The store to empty (default: linstor.toml's connection_url).
        #[arg(long, value_name = "STORE")]
        from: Option<String>,
        /// A backup that must match the live data row by row.
        #[arg(long, value_name = "BACKUP")]
        backup: String,
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Write a synthetic, realistic LINSTOR database (deterministic for a seed).
    Generate(GenerateArgs),
    /// Print the shell completion script for SHELL, e.g.
    /// `linstor-db completions bash > /etc/bash_completion.d/linstor-db`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `linstor-db man > /usr/local/share/man/man1/linstor-db.1`.
    Man,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// The store to read (default: linstor.toml's connection_url).
    #[arg(long, value_name = "STORE")]
    pub from: Option<String>,
    /// Where to write: FILE.tar.gz (owner-only permissions) or secret://NAMESPACE/NAME. `{time}` in
    /// NAME becomes the UTC time of the run (secret://piraeus-datastore/linstor-db-{time} writes
    /// linstor-db-20261202t101500z), so a scheduled backup gets a new name each run.
    #[arg(short = 'o', long = "to", value_name = "TARGET")]
    pub to: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// How a reading command keeps a running LINSTOR's database consistent.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// revision: read every table at one revision of the API server at which no LINSTOR transaction
    /// is open, while the controller keeps running (a read cut short by the API server's compaction
    /// starts again). stopped-controller: stop the controller for the read (--controller), or check
    /// that it is stopped; for reads longer than the API server keeps old revisions.
    #[arg(long, value_name = "HOW", default_value = "revision", value_parser = ["revision", "stopped-controller"])]
    pub consistent: String,
    #[command(flatten)]
    pub controller: ControllerArgs,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// List every backup Secret of a namespace, whatever its scheme (operator v1, LINSTOR v2, ours).
    List {
        /// The namespace.
        namespace: String,
    },
    /// Delete the complete backups of a namespace beyond the newest --keep ones, in every scheme
    /// `backup list` knows. Never deletes the newest complete backup, one still being written, or one
    /// that cannot be read (which is not counted as kept).
    Prune {
        /// The namespace.
        namespace: String,
        /// How many of the newest complete backups to keep (at least 1).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        keep: u32,
        /// Delete only backups at least this old: 90s, 5m, 12h, 30d.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Whether a writing command checks the data first (`linstor-db check`).
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Write even data LINSTOR would refuse to load (by default the rows are checked before the first
    /// write, as `linstor-db check` does, and such data is refused).
    #[arg(long)]
    pub no_check: bool,
}

/// How a writing command treats a running LINSTOR controller.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// The controller's Deployment: scale it to 0 while writing (or reading with
    /// --consistent=stopped-controller) and back up afterwards (also on failure).
    #[arg(long, value_name = "NAMESPACE/DEPLOYMENT")]
    pub controller: Option<String>,
    /// Write even though a running LINSTOR controller was detected.
    #[arg(long)]
    pub allow_running_controller: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// About this many rows in total.
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    /// Seed of every name, UUID and number.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Data version of the rows (v1-19-1 … v1-33-1); v1-31-1 is LINSTOR 1.33, the last with etcd.
    #[arg(long, default_value = "v1-31-1")]
    pub data_version: String,
    /// Where to write it: an export file path, or a store such as etcd://HOST:PORT.
    #[arg(short = 'o', long = "to", value_name = "STORE")]
    pub to: String,
    /// Overwrite a target store that already holds a LINSTOR database.
    #[arg(long)]
    pub replace: bool,
}

/// `90`, `90s`, `5m`, `1h`, `2m30s`, `30d`: a positive duration.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let invalid =
        || format!("'{text}' is not a duration; use seconds or a number with a unit: 90s, 5m, 1h, 2m30s, 30d");
    let trimmed = text.trim();
    if let Ok(secs) = trimmed.parse::<u64>() {
        return (secs > 0).then(|| std::time::Duration::from_secs(secs)).ok_or_else(invalid);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = value.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(invalid)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(invalid());
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m30s"), Ok(Duration::from_secs(150)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "0", "0s", "5x", "m", "3m2", "-1"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
