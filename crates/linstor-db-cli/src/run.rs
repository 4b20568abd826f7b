//! What each command means: resolve stores from flags and linstor.toml, call the core, print.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use linstor_db_core::backend::Connection;
use linstor_db_core::config::{DbConfig, DEFAULT_CONFIG_DIR};
use linstor_db_core::engine::compare::Difference;
use linstor_db_core::engine::CopyReport;
use linstor_db_core::jobs::{self, InfoReport, JobOptions};
use linstor_db_core::schema::DataVersion;
use linstor_db_core::store::StoreAddress;

use std::io::Write as _;

use crate::cli::{Cli, Command, GenerateArgs, Global, Output};
use crate::output::{print_result, progress};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::ExportDb { from, file } => {
            let (address, connection) = resolve(global, from.as_deref())?;
            let (options, bar) = job_options(global, "export", false);
            let result = jobs::export(&connection, &address, file, &options).await;
            finish(bar);
            print_copy(global, "exported", &result?)
        }
        Command::ImportDb { to, replace, file } => {
            let (address, connection) = resolve(global, to.as_deref())?;
            let (options, bar) = job_options(global, "import", *replace);
            let result = jobs::import(&connection, file, &address, &options).await;
            finish(bar);
            print_copy(global, "imported", &result?)
        }
        Command::Info { store } => {
            let (address, connection) = resolve(global, store.as_deref())?;
            info(global, &jobs::info(&connection, &address).await?)
        }
        Command::Generate(args) => generate(global, args).await,
        Command::Verify { a, b } => compare(global, a, b, false).await,
        Command::Diff { a, b } => compare(global, a, b, true).await,
    }
}

/// The store and how to connect for a command (see [`jobs::resolve_store`]).
fn resolve(global: &Global, explicit: Option<&str>) -> anyhow::Result<(StoreAddress, Connection)> {
    let (address, config) =
        jobs::resolve_store(global.config_directory.as_deref(), explicit).with_context(|| {
            match (explicit, &global.config_directory) {
                (None, dir) => format!(
                    "connection_url in {}",
                    dir.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG_DIR)).join("linstor.toml").display()
                ),
                (Some(address), _) => format!("store {address}"),
            }
        })?;
    Ok((address, connection(global, config)))
}

fn connection(global: &Global, config: DbConfig) -> Connection {
    Connection { config, kubeconfig: global.kubeconfig.clone(), kube_context: global.context.clone() }
}

/// Job options with a progress bar when stderr is a terminal; pass the bar to [`finish`] afterwards.
fn job_options(global: &Global, verb: &str, replace: bool) -> (JobOptions, Option<indicatif::ProgressBar>) {
    let (callback, bar) = progress(global.quiet, verb);
    (JobOptions { replace, progress: callback, ..JobOptions::default() }, bar)
}

fn finish(bar: Option<indicatif::ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

fn print_copy(global: &Global, verb: &str, report: &CopyReport) -> anyhow::Result<ExitCode> {
    let text = format!(
        "{verb} {} rows in {} tables from {} to {} (LINSTOR {} data, {})\n",
        report.rows,
        report.tables.len(),
        report.source,
        report.target,
        report.linstor_version,
        report.data_version
    );
    print_result(global.output, global.quiet, &text, &serde_json::to_value(report)?)?;
    Ok(ExitCode::SUCCESS)
}

fn info(global: &Global, report: &InfoReport) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    writeln!(text, "store:            {}", report.store)?;
    writeln!(text, "LINSTOR release:  {} (data version {})", report.linstor_version, report.data_version)?;
    if let Some(etcd) = report.etcd_version {
        writeln!(text, "etcd DB version:  {} (DBHISTORY/version; last migration {etcd})", etcd + 1)?;
    }
    writeln!(
        text,
        "k8s migration:    {} (LinstorVersion; last migration {})",
        report.k8s_version + 1,
        report.k8s_version
    )?;
    writeln!(text, "rows:             {} in {} tables", report.rows, report.tables.len())?;
    let width = report.tables.iter().map(|t| t.table.len()).max().unwrap_or(0);
    for t in &report.tables {
        writeln!(text, "  {:width$}  {}", t.table, t.rows)?;
    }
    // `info` is asked for; --quiet does not hide its answer.
    print_result(global.output, false, &text, &serde_json::to_value(report)?)?;
    Ok(ExitCode::SUCCESS)
}

async fn generate(global: &Global, args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let data_version: DataVersion = args.data_version.parse()?;
    let address = StoreAddress::parse(&args.to)?;
    let config = match &global.config_directory {
        Some(dir) => DbConfig::load(dir)?,
        None => DbConfig::default(),
    };
    let (options, bar) = job_options(global, "generate", args.replace);
    let result =
        jobs::generate(&connection(global, config), args.rows, args.seed, data_version, &address, &options).await;
    finish(bar);
    print_copy(global, "generated", &result?)
}

/// `verify` (summary) and `diff` (every difference as it is found). Exit 1 when the stores differ.
async fn compare(global: &Global, a: &str, b: &str, each: bool) -> anyhow::Result<ExitCode> {
    let (address_a, connection) = resolve(global, Some(a))?;
    let (address_b, _) = resolve(global, Some(b))?;
    let json = global.output == Output::Json;
    let mut stdout = std::io::stdout().lock();
    let mut write_error = None;
    let report = jobs::verify(&connection, &address_a, &address_b, |d| {
        if !each || write_error.is_some() {
            return;
        }
        let line = if json { serde_json::to_string(d).unwrap_or_default() } else { difference_line(d) };
        if let Err(e) = writeln!(stdout, "{line}") {
            write_error = Some(e);
        }
    })
    .await?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if json {
        let mut value = serde_json::to_value(&report)?;
        value["equal"] = report.equal().into();
        writeln!(stdout, "{}", serde_json::to_string(&value)?)?;
    } else if !global.quiet {
        if report.equal() {
            writeln!(
                stdout,
                "equal: {} rows in {} tables ({} / {})",
                report.rows_a,
                report.tables.len(),
                report.a,
                report.b
            )?;
        } else {
            writeln!(
                stdout,
                "different: {} differences ({} rows in {}, {} rows in {})",
                report.differences, report.rows_a, report.a, report.rows_b, report.b
            )?;
            for (table, _, _, diffs) in report.tables.iter().filter(|t| t.3 > 0) {
                writeln!(stdout, "  {table}: {diffs}")?;
            }
        }
    }
    Ok(if report.equal() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn difference_line(d: &Difference) -> String {
    match d {
        Difference::DataVersion { a, b } => format!("! data version {a} vs {b}"),
        Difference::OnlyInA { table, key } => format!("- {table} {key}"),
        Difference::OnlyInB { table, key } => format!("+ {table} {key}"),
        Difference::Changed { table, key, columns } => {
            let changes: Vec<String> = columns.iter().map(|(c, a, b)| format!("{c}: {a} -> {b}")).collect();
            format!("~ {table} {key}: {}", changes.join("; "))
        }
    }
}
