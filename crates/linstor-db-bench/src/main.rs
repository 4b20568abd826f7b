//! `linstor-db-bench`: measures linstor-db's export, import, backup, restore and migrate against raw
//! etcd, raw Kubernetes API and kubectl baselines on generated databases, and writes BENCHMARKS.md.
//!
//! `scripts/bench.sh` builds everything and runs it; see BENCHMARKS.md for the method. Nothing here
//! asserts on timings: the numbers are reported, never tested.

mod measure;
mod model;
mod report;
mod scenario;
mod servers;
mod tools;

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::model::Results;
use crate::scenario::Settings;
use crate::tools::Tools;

/// Benchmark of linstor-db against etcdctl, kubectl and raw API baselines.
#[derive(Debug, Parser)]
#[command(name = "linstor-db-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark for each size and write the results (JSON) after each one.
    Run(Box<RunArgs>),
    /// Render BENCHMARKS.md from a results file.
    Report {
        /// Results written by `run`; sizes of further files are appended, marked as separate runs.
        #[arg(long, required = true, num_args = 1..)]
        results: Vec<PathBuf>,
        /// Markdown inserted after the header (analysis of the run).
        #[arg(long)]
        notes: Option<PathBuf>,
        /// Where to write the report.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Sizes (`linstor-db generate --rows`), run in this order.
    #[arg(long = "rows", required = true, num_args = 1..)]
    rows: Vec<u64>,
    /// Results file (JSON), rewritten after each size.
    #[arg(long, default_value = "bench-results.json")]
    results: PathBuf,
    /// Scratch directory (one sub-directory per size, deleted after it).
    #[arg(long, default_value = "/tmp/linstor-db-bench")]
    work_dir: PathBuf,
    /// Label of the run, shown at the top of the report.
    #[arg(long, default_value = "Benchmark run")]
    label: String,
    /// The command line to show as "reproduce with".
    #[arg(long, default_value = "bash scripts/bench.sh")]
    reproduce: String,
    /// Trials of each etcd job and each Kubernetes read.
    #[arg(long, default_value_t = 3)]
    trials: usize,
    /// Trials of each Kubernetes write (ours and raw).
    #[arg(long, default_value_t = 3)]
    k8s_write_trials: usize,
    /// Trials of each kubectl procedure.
    #[arg(long, default_value_t = 1)]
    kubectl_trials: usize,
    /// Above this many rows, run every job once (a 1M-row Kubernetes write takes tens of minutes).
    #[arg(long, default_value_t = 100_000)]
    one_trial_above: u64,
    /// Skip the kubectl baselines above this many rows.
    #[arg(long)]
    kubectl_max_rows: Option<u64>,
    /// Skip Kubernetes entirely above this many rows.
    #[arg(long)]
    k8s_max_rows: Option<u64>,
    /// Above this many rows, the only Kubernetes write is migrate (no import, restore or create
    /// baselines); the reads and their baselines then run on what migrate wrote.
    #[arg(long)]
    k8s_migrate_only_write_above: Option<u64>,
    /// Skip the `etcdctl txn` baseline (one process per 128-put transaction) above this many rows.
    #[arg(long)]
    etcdctl_txn_max_rows: Option<u64>,
    /// Transactions in flight of the raw etcd writer.
    #[arg(long, default_value_t = 8)]
    etcd_txn_concurrency: usize,
    /// CRDs listed at a time by the concurrent raw list.
    #[arg(long, default_value_t = 4)]
    raw_list_concurrency: usize,
    /// POSTs in flight of the raw create.
    #[arg(long, default_value_t = 32)]
    raw_create_concurrency: usize,
    /// Seed of the generated databases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    tools: ToolArgs,
}

#[derive(Debug, Args)]
struct ToolArgs {
    /// linstor-db binary (a release build).
    #[arg(long, default_value = "target/release/linstor-db")]
    linstor_db: String,
    /// bench-raw binary (tools/bench-raw/build.sh prints it).
    #[arg(long)]
    bench_raw: String,
    /// kubectl binary (tools/kubectl/build.sh prints it).
    #[arg(long)]
    kubectl: String,
    /// etcd binary.
    #[arg(long, default_value = "etcd")]
    etcd: String,
    /// etcdctl binary.
    #[arg(long, default_value = "etcdctl")]
    etcdctl: String,
    /// tools/kube-apiserver directory.
    #[arg(long, default_value = "tools/kube-apiserver")]
    kube_apiserver_tools: PathBuf,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(*args),
        Command::Report { results: files, notes, out } => {
            let mut results: Option<Results> = None;
            for file in &files {
                let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
                let more: Results =
                    serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
                match results.as_mut() {
                    None => results = Some(more),
                    Some(first) => {
                        let settings =
                            more.settings.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ");
                        for mut size in more.sizes {
                            let origin = format!("From a separate run ({}): {}", file.display(), more.label);
                            size.notes.insert(0, format!("{origin}. Its settings: {settings}."));
                            first.sizes.push(size);
                        }
                    }
                }
            }
            let results = results.context("no results file")?;
            let notes = match notes {
                Some(path) => fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
                None => String::new(),
            };
            fs::write(&out, report::render(&results, &notes)).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("bench: wrote {}", out.display());
            Ok(())
        }
    }
}

fn run(args: RunArgs) -> Result<()> {
    let tools = Tools {
        linstor_db: absolute(&args.tools.linstor_db),
        bench_raw: args.tools.bench_raw.clone(),
        kubectl: absolute(&args.tools.kubectl),
        etcd: args.tools.etcd.clone(),
        etcdctl: args.tools.etcdctl.clone(),
        kube_start: args.tools.kube_apiserver_tools.join("start.sh"),
        kube_stop: args.tools.kube_apiserver_tools.join("stop.sh"),
    };
    tools.check()?;
    let settings = Settings {
        trials: args.trials,
        k8s_write_trials: args.k8s_write_trials,
        kubectl_trials: args.kubectl_trials,
        kubectl_max_rows: args.kubectl_max_rows,
        k8s_max_rows: args.k8s_max_rows,
        etcdctl_txn_max_rows: args.etcdctl_txn_max_rows,
        k8s_migrate_only_write_above: args.k8s_migrate_only_write_above,
        etcd_txn_concurrency: args.etcd_txn_concurrency,
        raw_list_concurrency: args.raw_list_concurrency,
        raw_create_concurrency: args.raw_create_concurrency,
        seed: args.seed,
    };
    let mut results = Results {
        label: args.label.clone(),
        command: args.reproduce.clone(),
        machine: tools::machine(),
        versions: tools.versions(),
        settings: [
            ("sizes (--rows)", args.rows.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
            ("trials (etcd jobs, k8s reads)", args.trials.to_string()),
            ("trials (k8s writes)", args.k8s_write_trials.to_string()),
            ("trials (kubectl)", args.kubectl_trials.to_string()),
            ("one trial of everything above", format!("{} rows", args.one_trial_above)),
            ("kubectl baselines up to", args.kubectl_max_rows.map_or("every size".into(), |n| format!("{n} rows"))),
            ("Kubernetes up to", args.k8s_max_rows.map_or("every size".into(), |n| format!("{n} rows"))),
            (
                "Kubernetes writes other than migrate up to",
                args.k8s_migrate_only_write_above.map_or("every size".into(), |n| format!("{n} rows")),
            ),
            (
                "kube-apiserver extra flags (KUBE_APISERVER_EXTRA_ARGS)",
                std::env::var("KUBE_APISERVER_EXTRA_ARGS").ok().filter(|a| !a.is_empty()).unwrap_or("none".into()),
            ),
            (
                "etcdctl txn baseline up to",
                args.etcdctl_txn_max_rows.map_or("every size".into(), |n| format!("{n} rows")),
            ),
            ("raw etcd txn: puts per txn / in flight", format!("128 / {}", args.etcd_txn_concurrency)),
            ("raw k8s list: CRDs at a time (concurrent row)", args.raw_list_concurrency.to_string()),
            ("raw k8s create: POSTs in flight", args.raw_create_concurrency.to_string()),
            ("seed", args.seed.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        sizes: Vec::new(),
    };
    for rows in &args.rows {
        let work = args.work_dir.join(format!("rows-{rows}"));
        let mut settings = settings.clone();
        if *rows > args.one_trial_above {
            (settings.trials, settings.k8s_write_trials, settings.kubectl_trials) = (1, 1, 1);
        }
        let size = scenario::run_size(&tools, &settings, *rows, &work)?;
        results.sizes.push(size);
        fs::write(&args.results, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("writing {}", args.results.display()))?;
        eprintln!("bench: {rows} rows done; results in {}", args.results.display());
    }
    Ok(())
}

fn absolute(path: &str) -> String {
    if path.contains('/') {
        std::path::absolute(path).map_or_else(|_| path.to_owned(), |p| p.display().to_string())
    } else {
        path.to_owned()
    }
}
