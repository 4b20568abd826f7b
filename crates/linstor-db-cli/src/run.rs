//! What each command means: resolve stores from flags and linstor.toml, call the core, print.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use linstor_db_core::backend::Connection;
use linstor_db_core::config::{DbConfig, DEFAULT_CONFIG_DIR};
use linstor_db_core::engine::CopyReport;
use linstor_db_core::jobs::{self, BackupReport, CheckJobReport, InfoReport, JobOptions, MigrateReport, RestoreReport};
use linstor_db_core::schema::DataVersion;
use linstor_db_core::store::StoreAddress;

use std::io::Write as _;

use crate::cli::{
    BackupArgs, BackupCommand, CheckArgs, Cli, Command, ControllerArgs, GenerateArgs, Global, Output, ReadArgs,
};
use crate::output::{print_result, progress};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::ExportDb { from, file, read } => {
            let (address, connection) = resolve(global, from.as_deref())?;
            let (mut options, bar) = job_options(global, "export", false);
            apply_read(&mut options, read)?;
            let result = jobs::export(&connection, &address, file, &options).await;
            finish(bar);
            print_copy(global, "exported", &result?)
        }
        Command::ImportDb { to, replace, file, check, controller } => {
            let (address, connection) = resolve(global, to.as_deref())?;
            let (mut options, bar) = job_options(global, "import", *replace);
            apply_controller(&mut options, controller);
            apply_check(&mut options, check);
            let result = jobs::import(&connection, file, &address, &options).await;
            finish(bar);
            print_copy(global, "imported", &result?)
        }
        Command::Info { store } => {
            let (address, connection) = resolve(global, store.as_deref())?;
            info(global, &jobs::info(&connection, &address).await?)
        }
        Command::Check { store } => {
            let (address, connection) = resolve(global, store.as_deref())?;
            check(global, &jobs::check(&connection, &address).await?)
        }
        Command::Generate(args) => generate(global, args).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "linstor-db", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page)?;
            std::io::stdout().write_all(&page)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(args) => backup(global, args).await,
        Command::Restore {
            from,
            to,
            replace,
            dry_run,
            allow_downgrade,
            accept_lost_columns,
            backup_to,
            check,
            controller,
        } => {
            let (address, connection) = resolve(global, to.as_deref())?;
            let (mut options, bar) = job_options(global, "restore", *replace);
            options.dry_run = *dry_run;
            options.allow_downgrade = *allow_downgrade;
            options.accept_lost_columns = *accept_lost_columns;
            options.backup_to = backup_to.as_deref().map(StoreAddress::parse_backup_target).transpose()?;
            apply_controller(&mut options, controller);
            apply_check(&mut options, check);
            let result = jobs::restore(&connection, &StoreAddress::parse(from)?, &address, &options).await;
            finish(bar);
            print_restore(global, &result?)
        }
        Command::Migrate { from, to, replace, backup_to, check, controller } => {
            let (source, connection) = resolve(global, from.as_deref())?;
            let (mut options, bar) = job_options(global, "migrate", *replace);
            options.backup_to = backup_to.as_deref().map(StoreAddress::parse_backup_target).transpose()?;
            apply_controller(&mut options, controller);
            apply_check(&mut options, check);
            let result = jobs::migrate(&connection, &source, &StoreAddress::parse(to)?, &options).await;
            finish(bar);
            print_migrate(global, &result?)
        }
        Command::Purge { from, backup, controller } => {
            let (store, connection) = resolve(global, from.as_deref())?;
            let (mut options, bar) = job_options(global, "purge", false);
            apply_controller(&mut options, controller);
            let result = jobs::purge(&connection, &store, &StoreAddress::parse(backup)?, &options).await;
            finish(bar);
            let report = result?;
            let text = format!(
                "purged {}: deleted {} (backup {} verified equal first: {} rows)\n",
                report.store,
                report.deleted.join(", "),
                report.backup,
                report.rows
            );
            print_result(global.output, global.quiet, &text, &serde_json::to_value(&report)?)?;
            Ok(ExitCode::SUCCESS)
        }
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
    Connection {
        config,
        kubeconfig: global.kubeconfig.clone(),
        kube_context: global.context.clone(),
        config_dir: global.config_directory.clone(),
        retry_timeout: Some(global.retry_timeout),
    }
}

/// Job options with a progress bar when stderr is a terminal; pass the bar to [`finish`] afterwards.
fn job_options(global: &Global, verb: &str, replace: bool) -> (JobOptions, Option<indicatif::ProgressBar>) {
    let (callback, bar) = progress(global.quiet, verb);
    (JobOptions { replace, progress: callback, ..JobOptions::default() }, bar)
}

fn apply_check(options: &mut JobOptions, args: &CheckArgs) {
    options.no_check = args.no_check;
}

fn apply_read(options: &mut JobOptions, args: &ReadArgs) -> anyhow::Result<()> {
    options.consistency = args.consistent.parse()?;
    apply_controller(options, &args.controller);
    Ok(())
}

fn apply_controller(options: &mut JobOptions, args: &ControllerArgs) {
    options.controller.clone_from(&args.controller);
    options.allow_running_controller = args.allow_running_controller;
}

async fn backup(global: &Global, args: &BackupArgs) -> anyhow::Result<ExitCode> {
    if let Some(BackupCommand::Prune { namespace, keep, older_than, dry_run }) = &args.command {
        let connection = connection(global, DbConfig::default());
        let report = jobs::prune_backups(&connection, namespace, *keep as usize, *older_than, *dry_run).await?;
        let mut text = String::new();
        writeln!(text, "{:<52} {:<16} {:>8}  {:<6}  WHY", "NAME", "SCHEME", "AGE", "ACTION")?;
        for c in &report.choices {
            let scheme = serde_json::to_value(c.scheme)?.as_str().unwrap_or_default().to_owned();
            let action = match (c.delete, report.dry_run) {
                (false, _) => "keep",
                (true, true) => "would delete",
                (true, false) => "delete",
            };
            let age = c.age_seconds.map(age).unwrap_or_default();
            writeln!(text, "{:<52} {:<16} {:>8}  {action:<6}  {}", c.name, scheme, age, c.reason)?;
        }
        let deleting = report.choices.iter().filter(|c| c.delete).count();
        if report.dry_run {
            writeln!(
                text,
                "dry run: {deleting} backups would be deleted from {}; nothing was deleted",
                report.namespace
            )?;
        } else {
            writeln!(text, "deleted {} backups from {}", report.deleted, report.namespace)?;
        }
        print_result(global.output, global.quiet, &text, &serde_json::to_value(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(BackupCommand::List { namespace }) = &args.command {
        let connection = connection(global, DbConfig::default());
        let listings = jobs::list_backups(&connection, namespace).await?;
        let mut text = String::new();
        writeln!(
            text,
            "{:<52} {:<16} {:>8} {:>10} {:>5} {:<8} {:<8} {:>8}  NOTE",
            "NAME", "SCHEME", "AGE", "BYTES", "PARTS", "COMPLETE", "DATA", "ROWS"
        )?;
        for l in &listings {
            let scheme = serde_json::to_value(l.scheme)?.as_str().unwrap_or_default().to_owned();
            writeln!(
                text,
                "{:<52} {:<16} {:>8} {:>10} {:>5} {:<8} {:<8} {:>8}  {}",
                l.name,
                scheme,
                l.age_seconds.map(age).unwrap_or_default(),
                l.bytes,
                l.parts,
                if l.complete { "yes" } else { "no" },
                l.data_version.as_deref().unwrap_or("-"),
                l.rows.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                l.note
            )?;
        }
        print_result(global.output, false, &text, &serde_json::to_value(&listings)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(to) = &args.to else {
        anyhow::bail!(
            "backup needs a target: -o FILE.tar.gz or -o secret://NAMESPACE/NAME (or `backup list NAMESPACE`)"
        );
    };
    let (source, connection) = resolve(global, args.from.as_deref())?;
    let (mut options, bar) = job_options(global, "backup", false);
    apply_read(&mut options, &args.read)?;
    let result = jobs::backup(&connection, &source, &StoreAddress::parse_backup_target(to)?, &options).await;
    finish(bar);
    let report = result?;
    let text = format!(
        "backed up {} rows in {} tables from {}{} to {} (LINSTOR {} data, {}; {} bytes{}, sha256 {})\n",
        report.rows,
        report.tables.len(),
        report.source,
        report.revision.as_ref().map(|r| format!(" at revision {r}")).unwrap_or_default(),
        report.target,
        report.linstor_version,
        report.data_version,
        report.bytes,
        if report.parts > 0 { format!(" in {} Secret parts", report.parts) } else { String::new() },
        report.sha256
    );
    print_result(global.output, global.quiet, &text, &serde_json::to_value(&report)?)?;
    Ok(ExitCode::SUCCESS)
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn print_restore(global: &Global, report: &RestoreReport) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    if report.dry_run {
        writeln!(text, "dry run: restoring {} into {}", report.source, report.target)?;
        if let Some(replaces) = &report.replaces {
            writeln!(text, "  {replaces}")?;
        }
        if report.downgrade {
            writeln!(text, "  the cluster's LINSTOR CRDs store newer data: the restore needs --replace --allow-downgrade, which deletes and re-creates them")?;
        }
        writeln!(text, "would change:")?;
        for c in report.changes.iter().filter(|c| c.add + c.remove + c.change > 0) {
            writeln!(text, "  {:<40} +{} -{} ~{}", c.table, c.add, c.remove, c.change)?;
        }
        if report.changes.iter().all(|c| c.add + c.remove + c.change == 0) {
            writeln!(text, "  nothing: the target already holds exactly the backup")?;
        }
    } else {
        writeln!(
            text,
            "restored {} rows from {} into {} (LINSTOR {} data, {}); verified equal row by row",
            report.rows, report.source, report.target, report.linstor_version, report.data_version
        )?;
        if let Some(previous) = &report.previous_backup {
            writeln!(text, "{}", replaced_backup_line(previous))?;
        }
        if let Some(job) = &report.interrupted {
            writeln!(
                text,
                "the backup was of an interrupted write, so {} is marked incomplete again, as it was: the job that wrote it ({job}) finishes it when run again, or --replace writes other data over it",
                report.target
            )?;
        }
        if let Some(replaces) = &report.replaces {
            writeln!(text, "the restore {replaces}")?;
        }
        if report.downgrade {
            writeln!(
                text,
                "the cluster's LINSTOR CRDs were deleted and created as LINSTOR {} has them",
                report.linstor_version
            )?;
        }
        match &report.controller {
            Some(c) if report.controller_left_stopped => {
                writeln!(text, "controller {}/{} was stopped and left at 0 replicas", c.namespace, c.name)?
            }
            Some(c) => writeln!(
                text,
                "controller {}/{} was stopped and scaled back to {} replicas",
                c.namespace, c.name, c.replicas
            )?,
            None => {}
        }
        writeln!(text, "next steps:")?;
        for (i, step) in report.next_steps.iter().enumerate() {
            writeln!(text, "  {}. {step}", i + 1)?;
        }
    }
    print_result(global.output, global.quiet, &text, &serde_json::to_value(report)?)?;
    Ok(ExitCode::SUCCESS)
}

/// What a replacing job backed up of its target before writing.
fn replaced_backup_line(backup: &BackupReport) -> String {
    match &backup.interrupted {
        Some(job) => format!(
            "the interrupted write it held ({job}) was backed up first to {} ({} rows; restoring that backup gives it back, marked incomplete)",
            backup.target, backup.rows
        ),
        None => format!("the replaced database was backed up first to {} ({} rows)", backup.target, backup.rows),
    }
}

fn print_migrate(global: &Global, report: &MigrateReport) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    if report.already_migrated {
        writeln!(
            text,
            "{} already holds exactly the data of {} ({} rows): nothing written",
            report.target, report.source, report.rows
        )?;
    } else {
        writeln!(
            text,
            "migrated {} rows from {} to {}{}; verified equal row by row",
            report.rows,
            report.source,
            report.target,
            if report.resumed { " (finished an interrupted migration)" } else { "" }
        )?;
    }
    if let Some(backup) = &report.backup {
        writeln!(text, "backup of the source: {} (sha256 {})", backup.target, backup.sha256)?;
    }
    if let Some(replaced) = &report.replaced_backup {
        writeln!(text, "{}", replaced_backup_line(replaced))?;
    }
    writeln!(text, "next steps:")?;
    for (i, step) in report.next_steps.iter().enumerate() {
        writeln!(text, "  {}. {step}", i + 1)?;
    }
    print_result(global.output, global.quiet, &text, &serde_json::to_value(report)?)?;
    Ok(ExitCode::SUCCESS)
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
    if let Some(job) = &report.interrupted {
        writeln!(
            text,
            "incomplete:       a backup of an interrupted write ({job}); a restore marks the target incomplete"
        )?;
    }
    let width = report.tables.iter().map(|t| t.table.len()).max().unwrap_or(0);
    for t in &report.tables {
        writeln!(text, "  {:width$}  {}", t.table, t.rows)?;
    }
    if !report.objects_at.is_empty() {
        writeln!(
            text,
            "objects at:       {} (not the storage version {}: the API server pruned what those versions lack)",
            report.objects_at.join(", "),
            report.data_version
        )?;
    }
    write_lost_columns(&mut text, &report.lost_columns)?;
    // `info` is asked for; --quiet does not hide its answer.
    print_result(global.output, false, &text, &serde_json::to_value(report)?)?;
    Ok(ExitCode::SUCCESS)
}

/// `check`: one line per example finding (`rule  table  key  detail`), then the count per rule; exit 1
/// on findings.
fn check(global: &Global, report: &CheckJobReport) -> anyhow::Result<ExitCode> {
    let check = &report.check;
    let mut text = String::new();
    for f in &check.findings {
        writeln!(text, "{}  {}  {}  {}", f.rule, f.table, f.key, f.detail)?;
    }
    if check.is_clean() {
        writeln!(
            text,
            "clean: {} rows of {} (LINSTOR {} data, {}) break none of LINSTOR's load-time rules",
            check.rows, report.store, report.linstor_version, check.data_version
        )?;
    } else {
        writeln!(text, "{} findings in {} rows of {}:", check.total(), check.rows, report.store)?;
        for t in &check.findings_total {
            let effect =
                if t.refuses { "LINSTOR refuses this" } else { "LINSTOR starts, but ignores or rewrites these rows" };
            writeln!(text, "  {:<28} {:>8}  ({effect})", t.rule, t.findings)?;
        }
    }
    // Findings are the answer; --quiet hides only the summary of a clean check.
    print_result(global.output, global.quiet && check.is_clean(), &text, &serde_json::to_value(report)?)?;
    Ok(if check.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
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
        let line = if json { serde_json::to_string(d).unwrap_or_default() } else { d.to_string() };
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
        if let Some((version_a, version_b)) = &report.data_versions {
            writeln!(
                stdout,
                "  data versions {version_a} / {version_b}: rows compared as {} holds them (columns it added at LINSTOR's defaults)",
                version_a.max(version_b)
            )?;
        }
        for note in &report.notes {
            writeln!(stdout, "  {note}")?;
        }
        let (repeated_a, repeated_b) = report.repeated_rows;
        for (repeated, store) in [(repeated_a, &report.a), (repeated_b, &report.b)] {
            if repeated > 0 {
                writeln!(stdout, "  {repeated} rows of {store} repeat the row before them exactly (kept once)")?;
            }
        }
        let mut text = String::new();
        write_lost_columns(&mut text, &report.lost_columns)?;
        write!(stdout, "{text}")?;
    }
    Ok(if report.equal() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `lost columns: N` and one line per column: objects lacking it, values the other side has, effect.
fn write_lost_columns(text: &mut String, lost: &[linstor_db_core::lost::LostColumn]) -> std::fmt::Result {
    if lost.is_empty() {
        return Ok(());
    }
    writeln!(
        text,
        "lost columns:     {} (pruned by the API server; restore needs --accept-lost-columns)",
        linstor_db_core::lost::count(lost)
    )?;
    for l in lost {
        let elsewhere = l.values_elsewhere.map(|n| format!(", {n} values on the other side")).unwrap_or_default();
        writeln!(
            text,
            "  {}.{}  {} objects at {}{elsewhere}: {}",
            l.kind, l.field, l.objects, l.served_version, l.effect
        )?;
    }
    Ok(())
}
