//! The command line as clap sees it: close to the flags, no I/O. `run.rs` gives it meaning.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Back up, restore, migrate and verify the LINSTOR controller database (etcd, Kubernetes, export JSON).
///
/// Stores are named the same way everywhere: `etcd://HOST:PORT[,HOST:PORT]`, `k8s`, or the path of
/// a LINSTOR export-db JSON file. Without one, the store is `connection_url` of linstor.toml.
///
/// Exit codes: 0 success, 1 differences found (verify), 2 error.
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
    },
    /// Show a store's LINSTOR release, data version, migration numbers and rows per table.
    Info {
        /// The store (default: linstor.toml's connection_url).
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
    /// Write a synthetic, realistic LINSTOR database (deterministic for a seed).
    Generate(GenerateArgs),
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
