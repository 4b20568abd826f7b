//! `restore`: a backup of any format written into a store.

use super::*;
use crate::backend::controller::ControllerDeployment;
use crate::engine;
use crate::engine::compare::Difference;

/// What a restore did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestoreReport {
    /// The backup read.
    pub source: String,
    /// The store written.
    pub target: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// LINSTOR release of the data.
    pub linstor_version: String,
    /// Data version.
    pub data_version: String,
    /// Per table: rows to add (only in the backup), remove (only in the target) and change.
    pub changes: Vec<TableChanges>,
    /// Rows in the backup.
    pub rows: u64,
    /// The backup taken of what the target held before (with `replace`): a database, or an
    /// interrupted write of another job.
    pub previous_backup: Option<BackupReport>,
    /// The backup was of an interrupted write (by this job): the target is left marked incomplete,
    /// as it was, for that job to finish.
    pub interrupted: Option<String>,
    /// The controller Deployment stopped and started again, if any.
    pub controller: Option<ControllerDeployment>,
}

/// Row changes in one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableChanges {
    /// Table.
    pub table: String,
    /// Rows only in the backup.
    pub add: u64,
    /// Rows only in the target.
    pub remove: u64,
    /// Rows in both with different values.
    pub change: u64,
}

/// `restore`: writes a backup (any format) into `to`. The backup is read completely first, so a
/// corrupt one, or one LINSTOR would refuse to load (`check`, unless `no_check`; also in a dry run),
/// writes nothing; a non-empty target is refused unless `replace`, and then backed up
/// first; the result is verified row by row against the backup.
pub async fn restore(
    connection: &Connection,
    from: &StoreAddress,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<RestoreReport> {
    require_database(to, "restore")?;
    let mut stores = Stores::new(connection);
    let stores = &mut stores;
    step(options, "check backup");
    let (meta, tables, check) =
        engine::inspect_checked(stores.source(from).await?.as_mut(), options.check_for(to)).await?;
    meta.check_supported(&from.to_string())?;
    crate::lost::check_restore(&meta, options.accept_lost_columns, &from.to_string())?;
    // The data of an interrupted write is not meant to load: it goes back marked incomplete (also if
    // its write fails part-way), so nothing LINSTOR would start on can come of it.
    if let Some(check) = check.filter(|_| meta.interrupted.is_none()) {
        engine::refuse_unloadable(&from.to_string(), &check)?;
    }
    let rows = tables.iter().map(|t| t.rows).sum();
    let target_holds = probe(stores, to).await?;
    let mut report = RestoreReport {
        source: from.to_string(),
        target: to.to_string(),
        dry_run: options.dry_run,
        linstor_version: meta.linstor_version.clone(),
        data_version: meta.data_version.to_string(),
        changes: Vec::new(),
        rows,
        previous_backup: None,
        interrupted: meta.interrupted.clone(),
        controller: None,
    };
    if options.dry_run {
        report.changes = match target_holds {
            Holds::Database => changes(stores, from, to).await?,
            Holds::Nothing | Holds::IncompleteImport(_) => tables
                .iter()
                .map(|t| TableChanges { table: t.table.clone(), add: t.rows, ..TableChanges::default() })
                .collect(),
        };
        return Ok(report);
    }
    if target_holds == Holds::Database && !options.replace {
        return Err(Error::TargetNotEmpty {
            store: to.to_string(),
            detail: format!(
                "LINSTOR data readable there; `linstor-db restore --dry-run` shows what differs from {from}"
            ),
        });
    }
    // A backup of an interrupted write gives that write back: this restore acts as its job, which
    // then finishes it (and so does this restore, run again after an interruption).
    let job = match &meta.interrupted {
        Some(interrupted) => interrupted.clone(),
        None => job_identity(stores, "restore", from).await?,
    };
    may_write_over(&target_holds, &job, to, options.replace)?;
    let guard = guard(stores, to, options).await?;
    report.controller = guard.stopped().cloned();
    let outcome = restore_guarded(stores, (from, to), (job, target_holds), options, &mut report).await;
    finish_guarded(guard, outcome).await?;
    Ok(report)
}

async fn restore_guarded(
    stores: &mut Stores<'_>,
    (from, to): (&StoreAddress, &StoreAddress),
    (job, target_holds): (String, Holds),
    options: &JobOptions,
    report: &mut RestoreReport,
) -> Result<()> {
    let keep = options.backup_to.clone().unwrap_or_else(|| default_backup_file("before-restore"));
    report.previous_backup = back_up_replaced(stores, to, (&target_holds, &job), &keep, options).await?;
    step(options, "restore");
    let mut source = stores.source(from).await?;
    let mut target = stores.target(to).await?;
    let replace = options.replace || matches!(target_holds, Holds::IncompleteImport(_));
    let copy_options = CopyOptions { job: Some(job), ..options.copy_options(replace) };
    engine::copy(source.as_mut(), target.as_mut(), &copy_options).await?;
    step(options, "verify");
    let (verify, examples) = verify_written(stores, from, to).await?;
    report.changes = Vec::new();
    if !verify.equal() {
        return Err(verify_failed(target.as_mut(), (&verify, examples), "").await);
    }
    if let Some(interrupted) = &report.interrupted {
        let reason = format!("restored from a backup of the interrupted write of {interrupted}, as it was");
        target.mark_incomplete(&reason).await?;
    }
    Ok(())
}

async fn changes(stores: &mut Stores<'_>, from: &StoreAddress, to: &StoreAddress) -> Result<Vec<TableChanges>> {
    let mut per_table: Vec<TableChanges> = Vec::new();
    info::verify_with(stores, from, to, |d| {
        let (table, counter): (&str, fn(&mut TableChanges)) = match d {
            Difference::OnlyInA { table, .. } => (table, |t| t.add += 1),
            Difference::OnlyInB { table, .. } => (table, |t| t.remove += 1),
            Difference::Changed { table, .. } => (table, |t| t.change += 1),
            Difference::DataVersion { .. } => return,
        };
        if per_table.last().is_none_or(|t| t.table != table) {
            per_table.push(TableChanges { table: table.to_owned(), ..TableChanges::default() });
        }
        if let Some(last) = per_table.last_mut() {
            counter(last);
        }
    })
    .await?;
    Ok(per_table)
}
