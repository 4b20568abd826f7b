//! What each command means: resolve stores from flags and linstor.toml, call the core, print.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use linstor_db_core::backend::{open_source, open_target, Connection, Source};
use linstor_db_core::config::{DbConfig, DEFAULT_CONFIG_DIR};
use linstor_db_core::engine::compare::Difference;
use linstor_db_core::engine::{self, CopyOptions, CopyReport};
use linstor_db_core::generate::{GeneratedSource, Plan};
use linstor_db_core::schema::DataVersion;
use linstor_db_core::store::StoreAddress;
use linstor_db_core::Error;
use serde_json::json;

use std::io::Write as _;

use crate::cli::{Cli, Command, GenerateArgs, Global, Output};
use crate::output::{print_result, progress};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::ExportDb { from, file } => {
            let (address, connection) = resolve(global, from.as_deref())?;
            let source = open_source(&address, &connection).await?;
            let (options, bar) = copy_options(global, "export", false);
            let result = engine::export_file(source, file, &options).await;
            finish(bar);
            print_copy(global, "exported", &result?)
        }
        Command::ImportDb { to, replace, file } => {
            let (address, connection) = resolve(global, to.as_deref())?;
            if matches!(address, StoreAddress::File(_)) {
                anyhow::bail!("import-db writes a database store (etcd://… or k8s), not a file; to copy a file use cp");
            }
            let mut target = open_target(&address, &connection).await?;
            let (options, bar) = copy_options(global, "import", *replace);
            let result = engine::import_file(file, target.as_mut(), &options).await;
            finish(bar);
            print_copy(global, "imported", &result?)
        }
        Command::Info { store } => {
            let (address, connection) = resolve(global, store.as_deref())?;
            let mut source = open_source(&address, &connection).await?;
            info(global, source.as_mut()).await
        }
        Command::Generate(args) => generate(global, args).await,
        Command::Verify { a, b } => compare(global, a, b, false).await,
        Command::Diff { a, b } => compare(global, a, b, true).await,
    }
}

/// The store and how to connect for a command: an explicit address wins over `connection_url`;
/// linstor.toml still supplies etcd TLS, credentials and prefix when it exists.
fn resolve(global: &Global, explicit: Option<&str>) -> anyhow::Result<(StoreAddress, Connection)> {
    let (address, config) = resolve_config(global, explicit)?;
    Ok((address, connection(global, config)))
}

fn connection(global: &Global, config: DbConfig) -> Connection {
    Connection { config, kubeconfig: global.kubeconfig.clone(), kube_context: global.context.clone() }
}

fn resolve_config(global: &Global, explicit: Option<&str>) -> anyhow::Result<(StoreAddress, DbConfig)> {
    let dir = global.config_directory.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR));
    match explicit {
        Some(text) => {
            let address = StoreAddress::parse(text)?;
            let config = match DbConfig::load(&dir) {
                Ok(config) => config,
                // Without -c, a missing default config just means defaults.
                Err(Error::ConfigMissing { .. }) if global.config_directory.is_none() => DbConfig::default(),
                Err(e) => return Err(e.into()),
            };
            Ok((address, config))
        }
        None => {
            let config = DbConfig::load(&dir)?;
            let address = StoreAddress::from_connection_url(&config.connection_url)
                .with_context(|| format!("connection_url in {}", dir.join("linstor.toml").display()))?;
            Ok((address, config))
        }
    }
}

/// Copy options with a progress bar when stderr is a terminal; pass the bar to [`finish`] afterwards.
fn copy_options(global: &Global, verb: &str, replace: bool) -> (CopyOptions, Option<indicatif::ProgressBar>) {
    let (callback, bar) = progress(global.quiet, verb);
    (CopyOptions { replace, progress: callback, cancel: None }, bar)
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

async fn info(global: &Global, source: &mut dyn Source) -> anyhow::Result<ExitCode> {
    let store = source.describe();
    let (meta, tables) = engine::inspect(source).await?;
    let rows: u64 = tables.iter().map(|t| t.rows).sum();
    let mut text = String::new();
    writeln!(text, "store:            {store}")?;
    writeln!(text, "LINSTOR release:  {} (data version {})", meta.linstor_version, meta.data_version)?;
    if let Some(etcd) = meta.etcd_version {
        writeln!(text, "etcd DB version:  {} (DBHISTORY/version; last migration {etcd})", etcd + 1)?;
    }
    writeln!(text, "k8s migration:    {} (LinstorVersion; last migration {})", meta.k8s_version + 1, meta.k8s_version)?;
    writeln!(text, "rows:             {rows} in {} tables", tables.len())?;
    let width = tables.iter().map(|t| t.table.len()).max().unwrap_or(0);
    for t in &tables {
        writeln!(text, "  {:width$}  {}", t.table, t.rows)?;
    }
    let json = json!({
        "store": store,
        "linstor_version": meta.linstor_version,
        "data_version": meta.data_version.as_str(),
        "etcd_version": meta.etcd_version,
        "k8s_version": meta.k8s_version,
        "rows": rows,
        "tables": tables,
    });
    // `info` is asked for; --quiet does not hide its answer.
    print_result(global.output, false, &text, &json)?;
    Ok(ExitCode::SUCCESS)
}

async fn generate(global: &Global, args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let data_version: DataVersion = args.data_version.parse()?;
    let plan = Plan::for_rows(args.rows, args.seed, data_version);
    let address = StoreAddress::parse(&args.to)?;
    let config = match &global.config_directory {
        Some(dir) => DbConfig::load(Path::new(dir))?,
        None => DbConfig::default(),
    };
    let mut target = open_target(&address, &connection(global, config)).await?;
    let (options, bar) = copy_options(global, "generate", args.replace);
    let result = engine::copy(&mut GeneratedSource::new(plan), target.as_mut(), &options).await;
    finish(bar);
    print_copy(global, "generated", &result?)
}

/// `verify` (summary) and `diff` (every difference as it is found). Exit 1 when the stores differ.
async fn compare(global: &Global, a: &str, b: &str, each: bool) -> anyhow::Result<ExitCode> {
    let (address_a, connection) = resolve(global, Some(a))?;
    let (address_b, _) = resolve(global, Some(b))?;
    let source_a = open_source(&address_a, &connection).await?;
    let source_b = open_source(&address_b, &connection).await?;
    let json = global.output == Output::Json;
    let mut stdout = std::io::stdout().lock();
    let mut write_error = None;
    let report = engine::compare::compare(source_a, source_b, |d| {
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
