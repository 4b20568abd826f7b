//! Engines: every job is a copy from a [`Source`] to a [`Target`] with checks around it.
//!
//! The flow is fixed: open the source (pins a consistent view, reads versions) → refuse data newer
//! than this tool → target preflight (read-only) → begin (target marked in progress) → stream tables
//! and rows → commit (version markers, mark cleared). A failure after `begin` is reported as
//! [`Error::WriteInterrupted`], which tells the user how to finish or undo.

pub mod compare;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::path::Path;

use crate::backend::file::{ExportFileSource, ExportFileTarget};
use crate::backend::sorted::SortedSource;
use crate::backend::{Event, Source, Target};
use crate::check::{CheckReport, Checker, SizeLimits};
use crate::error::{Error, Result};
use crate::export::ExportMeta;

/// Progress of a running job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// A table starts (`index` of `total`, from 0).
    Table {
        /// Table name.
        name: &'static str,
        /// Position.
        index: usize,
        /// Number of tables.
        total: usize,
    },
    /// Rows copied so far, in all tables.
    Rows(u64),
    /// A multi-step job (backup, restore, migrate, purge) starts a step.
    Step(&'static str),
}

/// Called with progress; runs on the job's thread, so it must be quick.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Options of a copy.
#[derive(Clone, Default)]
pub struct CopyOptions {
    /// Overwrite a target that already holds LINSTOR data.
    pub replace: bool,
    /// Write data that breaks LINSTOR's load-time invariants ([`crate::check`]); read by
    /// [`import_file`], which otherwise refuses it before writing.
    pub no_check: bool,
    /// The size limits of the target, for that check (default: both stores').
    pub size_limits: Option<SizeLimits>,
    /// The job writing ([`ExportMeta::job`]), recorded in the target's in-progress marker.
    pub job: Option<String>,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Set to true to stop the job at the next batch.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// Source description.
    pub source: String,
    /// Target description.
    pub target: String,
    /// LINSTOR release of the data.
    pub linstor_version: String,
    /// Data version.
    pub data_version: String,
    /// Rows the target kept per table, in copy order.
    pub tables: Vec<TableCount>,
    /// Total rows the target kept.
    pub rows: u64,
}

/// Rows of one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCount {
    /// Table name.
    pub table: String,
    /// Rows.
    pub rows: u64,
}

/// Copies everything `source` holds into `target`.
pub async fn copy(source: &mut dyn Source, target: &mut dyn Target, options: &CopyOptions) -> Result<CopyReport> {
    Ok(copy_inner(source, target, options, None).await?.0)
}

/// Copies like [`copy`] and checks every row on the way ([`crate::check`], against the size limits
/// of the store the data is bound for); the report says what a later write of the same data would be
/// refused for (a backup is written whatever it holds). The source must emit each table sorted by
/// key ([`SortedSource`]), so that duplicate keys are found.
pub async fn copy_checked(
    source: &mut dyn Source,
    target: &mut dyn Target,
    options: &CopyOptions,
    limits: SizeLimits,
) -> Result<(CopyReport, CheckReport)> {
    let (report, check) = copy_inner(source, target, options, Some(limits)).await?;
    let check = check.ok_or_else(|| Error::Internal("copy without its check".into()))?;
    Ok((report, check))
}

/// How long a failed job waits for its writer lock to be released.
const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn copy_inner(
    source: &mut dyn Source,
    target: &mut dyn Target,
    options: &CopyOptions,
    check: Option<SizeLimits>,
) -> Result<(CopyReport, Option<CheckReport>)> {
    let mut meta = source.open().await?;
    meta.check_supported(&source.describe())?;
    meta.job.clone_from(&options.job);
    target.preflight(&meta, options.replace).await?;
    target.begin(&meta).await?;
    let mut report = CopyReport {
        source: source.describe(),
        target: target.describe(),
        linstor_version: meta.linstor_version.clone(),
        data_version: meta.data_version.to_string(),
        tables: Vec::new(),
        rows: 0,
    };
    let mut checker = check.map(|limits| checker(&meta, limits));
    match stream(source, target, &meta, options, &mut report, checker.as_mut()).await {
        Ok(()) => Ok((report, checker.map(Checker::finish).transpose()?)),
        Err(e) => {
            // Bounded: with the store down, the lock lapses after its TTL instead of delaying this
            // report by another retry timeout.
            let _ = tokio::time::timeout(LOCK_RELEASE_WAIT, target.release_lock()).await;
            Err(Error::WriteInterrupted {
                store: target.describe(),
                rows_written: report.rows,
                recovery: target.recovery(),
                source: Box::new(e),
            })
        }
    }
}

async fn stream(
    source: &mut dyn Source,
    target: &mut dyn Target,
    meta: &ExportMeta,
    options: &CopyOptions,
    report: &mut CopyReport,
    mut checker: Option<&mut Checker>,
) -> Result<()> {
    let total = meta.data_version.schema().tables.len();
    let mut tables_seen = 0;
    let mut current: Option<TableCount> = None;
    let mut current_table = None;
    while let Some(event) = source.next_event().await? {
        if options.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled);
        }
        match event {
            Event::TableStart(table) => {
                if let Some(progress) = &options.progress {
                    progress(&Progress::Table { name: table.name, index: tables_seen, total });
                }
                tables_seen += 1;
                target.begin_table(table).await?;
                current = Some(TableCount { table: table.name.to_owned(), rows: 0 });
                current_table = Some(table);
            }
            Event::Rows(rows) => {
                let (Some(table), Some(count)) = (current_table, current.as_mut()) else {
                    return Err(Error::Internal("rows outside a table".into()));
                };
                if let Some(checker) = checker.as_deref_mut() {
                    for row in &rows {
                        checker.row(table, row);
                    }
                }
                let kept = target.write_rows(table, rows).await?;
                count.rows += kept;
                report.rows += kept;
                if let Some(progress) = &options.progress {
                    progress(&Progress::Rows(report.rows));
                }
            }
            Event::TableEnd => {
                let (Some(table), Some(count)) = (current_table.take(), current.take()) else {
                    return Err(Error::Internal("table end outside a table".into()));
                };
                if target.end_table(table).await? {
                    report.tables.push(count);
                }
            }
        }
    }
    target.commit(meta).await
}

/// Exports `source` to an export file as `linstor-database export-db` does, rows sorted by primary key
/// in every table (LINSTOR's order on etcd), so that the same database gives the same file from any store.
pub async fn export_file(source: Box<dyn Source>, path: &Path, options: &CopyOptions) -> Result<CopyReport> {
    copy(&mut SortedSource::new(source), &mut ExportFileTarget::new(path), options).await
}

/// Imports an export file into `target`, as `linstor-database import-db` does. The file is read twice:
/// first to check every row (so a corrupt or truncated file, or one LINSTOR would refuse to load, is
/// refused before anything is written; the latter unless `no_check`), then to copy.
pub async fn import_file(path: &Path, target: &mut dyn Target, options: &CopyOptions) -> Result<CopyReport> {
    let what = path.display().to_string();
    let limits = (!options.no_check).then_some(options.size_limits.unwrap_or(SizeLimits::BOTH));
    let (meta, _, check) = inspect_checked(&mut ExportFileSource::new(path), limits).await?;
    meta.check_supported(&what)?;
    if let Some(check) = check {
        refuse_unloadable(&what, &check)?;
    }
    copy(&mut ExportFileSource::new(path), target, options).await
}

/// Reads a whole source and counts rows per table (for `info`), without writing anything.
pub async fn inspect(source: &mut dyn Source) -> Result<(ExportMeta, Vec<TableCount>)> {
    let (meta, tables, _) = inspect_checked(source, None).await?;
    Ok((meta, tables))
}

/// Reads a whole source, checking every row against LINSTOR's load-time invariants and the size
/// limits of the stores the data may be written to (`linstor-db check`), streaming: rows are not kept.
pub async fn check(source: &mut dyn Source, limits: SizeLimits) -> Result<(ExportMeta, CheckReport)> {
    let (meta, _, report) = inspect_checked(source, Some(limits)).await?;
    let report = report.ok_or_else(|| Error::Internal("check without a report".into()))?;
    Ok((meta, report))
}

/// [`inspect`], and with `check` also [`check`], in one read (sorted by key, for the duplicate keys).
pub async fn inspect_checked(
    source: &mut dyn Source,
    check: Option<SizeLimits>,
) -> Result<(ExportMeta, Vec<TableCount>, Option<CheckReport>)> {
    let Some(limits) = check else { return count_rows(source, None).await };
    count_rows(&mut SortedSource::new(source), Some(limits)).await
}

/// The checker of `meta`'s rows bound for a store with `limits`.
fn checker(meta: &ExportMeta, limits: SizeLimits) -> Checker {
    Checker::spilling_to(meta.data_version, tempfile::tempfile)
        .with_size_limits(limits)
        .with_pruned_columns(&meta.lost_columns)
}

async fn count_rows(
    source: &mut dyn Source,
    check: Option<SizeLimits>,
) -> Result<(ExportMeta, Vec<TableCount>, Option<CheckReport>)> {
    let meta = source.open().await?;
    let mut checker = check.map(|limits| checker(&meta, limits));
    let mut tables: Vec<TableCount> = Vec::new();
    let mut current = None;
    while let Some(event) = source.next_event().await? {
        match event {
            Event::TableStart(table) => {
                tables.push(TableCount { table: table.name.to_owned(), rows: 0 });
                current = Some(table);
            }
            Event::Rows(rows) => {
                if let Some(count) = tables.last_mut() {
                    count.rows += rows.len() as u64;
                }
                if let (Some(checker), Some(table)) = (checker.as_mut(), current) {
                    for row in &rows {
                        checker.row(table, row);
                    }
                }
            }
            Event::TableEnd => current = None,
        }
    }
    Ok((meta, tables, checker.map(Checker::finish).transpose()?))
}

/// [`Error::CheckFailed`] when `report` has findings that make LINSTOR refuse the data; findings of
/// rules LINSTOR starts on anyway are logged.
pub fn refuse_unloadable(store: &str, report: &CheckReport) -> Result<()> {
    let refusing: Vec<_> = report.refusing().collect();
    for other in report.findings_total.iter().filter(|t| !t.refuses) {
        tracing::warn!(
            store,
            rule = other.rule,
            findings = other.findings,
            "LINSTOR starts on these rows, but `linstor-db check` reports them"
        );
    }
    if refusing.is_empty() {
        return Ok(());
    }
    let rows = |n: u64| if n == 1 { "1 row".to_owned() } else { format!("{n} rows") };
    let rules: Vec<String> = refusing.iter().map(|t| format!("{}: {}", t.rule, rows(t.findings))).collect();
    let examples: Vec<String> = report
        .findings
        .iter()
        .filter(|f| refusing.iter().any(|t| t.rule == f.rule))
        .take(3)
        .map(|f| format!("{} {} {}: {}", f.rule, f.table, f.key, f.detail))
        .collect();
    Err(Error::CheckFailed { store: store.to_owned(), rules: rules.join(", "), examples: examples.join("; ") })
}

#[cfg(test)]
mod tests;
