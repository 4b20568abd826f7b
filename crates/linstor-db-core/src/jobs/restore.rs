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
    /// What the target's data is replaced with: "replaces LINSTOR X data (vA) with LINSTOR Y data (vB)";
    /// `None` when the target held no database.
    pub replaces: Option<String>,
    /// The target's LINSTOR CRDs store newer data than the backup (a failed upgrade): they are deleted
    /// and created as the backup's release has them (`allow_downgrade`).
    pub downgrade: bool,
    /// After a downgrade the controller (`controller`) is left at 0 replicas: started with its current
    /// image it would migrate the data again. `next_steps` says how to pin the image and start it.
    pub controller_left_stopped: bool,
    /// What the operator does next, in order (empty in a dry run).
    pub next_steps: Vec<String>,
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
    if options.allow_downgrade && !options.replace {
        return Err(Error::InvalidArgument(format!(
            "--allow-downgrade deletes the LINSTOR CRDs of {to} before writing, so it needs --replace: {}",
            restore_command(connection, (from, to), options, true)
        )));
    }
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
        replaces: None,
        downgrade: false,
        controller_left_stopped: false,
        next_steps: Vec::new(),
    };
    if target_holds == Holds::Database {
        let held = stores.source(to).await?.open().await?;
        report.replaces = Some(format!(
            "replaces LINSTOR {} data ({}) with LINSTOR {} data ({})",
            held.linstor_version, held.data_version, meta.linstor_version, meta.data_version
        ));
    }
    let newer = match to {
        StoreAddress::K8s => stores.k8s().await?.newer_stored_versions(meta.data_version).await?,
        // etcd has no CRDs: `replace` deletes every key under the prefix, whatever data version it held.
        _ => Vec::new(),
    };
    report.downgrade = !newer.is_empty();
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
    if report.downgrade && !options.allow_downgrade {
        return Err(Error::DataVersionNotSupported {
            store: to.to_string(),
            data_version: meta.data_version,
            reason: format!(
                "the cluster's LINSTOR CRDs already store newer data ({}); LINSTOR cannot go back to an older data \
                 version, and nothing was written. To back up the cluster, delete its LINSTOR CRDs and write this \
                 backup with the CRDs of LINSTOR {}: {}",
                newer.join(", "),
                meta.linstor_version,
                restore_command(connection, (from, to), options, true)
            ),
        });
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
    if report.downgrade {
        // Also after a failure: on a cluster whose CRDs may be gone, the newer image would start a new,
        // empty database (or migrate what is there again).
        let stopped = guard.keep_stopped();
        report.controller_left_stopped = stopped.is_some();
        if let (Err(e), Some(c)) = (&outcome, &stopped) {
            tracing::error!(
                error = %e,
                "the controller {ns}/{name} is left at 0 replicas: finish the restore (run it again), pin the image of LINSTOR {release}, then start it: kubectl scale -n {ns} deployment/{name} --replicas={replicas}",
                ns = c.namespace,
                name = c.name,
                release = report.linstor_version,
                replicas = c.replicas
            );
        }
        outcome?;
    } else {
        finish_guarded(guard, outcome).await?;
    }
    report.next_steps = next_steps(connection, to, &report);
    Ok(report)
}

/// `linstor-db restore` of `from` into `to` with the options given (and `--allow-downgrade` if
/// `downgrade`), as it runs.
fn restore_command(
    connection: &Connection,
    (from, to): (&StoreAddress, &StoreAddress),
    options: &JobOptions,
    downgrade: bool,
) -> String {
    let (from, to) = (from.to_string(), to.to_string());
    let mut args = vec!["restore", "--from", &from, "--to", &to, "--replace"];
    if downgrade {
        args.push("--allow-downgrade");
    }
    if let Some(controller) = &options.controller {
        args.extend(["--controller", controller]);
    }
    let backup_to = options.backup_to.as_ref().map(StoreAddress::to_string);
    if let Some(backup_to) = &backup_to {
        args.extend(["--backup-to", backup_to]);
    }
    if options.accept_lost_columns {
        args.push("--accept-lost-columns");
    }
    if options.no_check {
        args.push("--no-check");
    }
    connection.command(&args)
}

/// Piraeus' LINSTOR image, the example of the image to pin.
const PIRAEUS_SERVER_IMAGE: &str = "quay.io/piraeusdatastore/piraeus-server";

/// The steps after a restore: run the release the data belongs to (pinned, for both operators), start
/// the controller, check.
fn next_steps(connection: &Connection, to: &StoreAddress, report: &RestoreReport) -> Vec<String> {
    let release = &report.linstor_version;
    let image = format!("{PIRAEUS_SERVER_IMAGE}:v{release}");
    let mut steps = vec![
        format!(
            "The restored data is LINSTOR {release} data ({}): the LINSTOR controller must run LINSTOR {release} (or a release with the same data version). A newer release migrates it again when it starts; an older one refuses it.",
            report.data_version
        ),
        format!(
            "Piraeus operator v1 (Helm): helm upgrade RELEASE piraeus-charts/piraeus --reuse-values --set operator.controller.controllerImage={image} --set operator.satelliteSet.satelliteImage={image}"
        ),
        format!(
            r#"Piraeus operator v2: kubectl patch linstorcluster linstorcluster --type merge -p '{{"spec":{{"controller":{{"podTemplate":{{"spec":{{"containers":[{{"name":"linstor-controller","image":"{image}"}}]}}}}}}}}}}' and for the satellites: echo '{{"apiVersion":"piraeus.io/v1","kind":"LinstorSatelliteConfiguration","metadata":{{"name":"linstor-release-pin"}},"spec":{{"podTemplate":{{"spec":{{"containers":[{{"name":"linstor-satellite","image":"{image}"}}]}}}}}}}}' | kubectl apply -f -"#
        ),
    ];
    match &report.controller {
        Some(c) if report.controller_left_stopped => steps.push(format!(
            "The controller {ns}/{name} was left at 0 replicas: once its image is LINSTOR {release}, start it: kubectl scale -n {ns} deployment/{name} --replicas={}",
            c.replicas,
            ns = c.namespace,
            name = c.name
        )),
        Some(c) => steps.push(format!(
            "The controller {}/{} was scaled back to {} replicas: if its image is not LINSTOR {release}, pin it as above (it restarts with the new image).",
            c.namespace, c.name, c.replicas
        )),
        None => steps.push(format!("Start the LINSTOR controller (LINSTOR {release}).")),
    }
    steps.push(format!(
        "Check it: {}; linstor node list; linstor resource list-volumes; linstor error-reports list",
        connection.command(&["check", &to.to_string()])
    ));
    if let Some(previous) = &report.previous_backup {
        steps.push(format!(
            "Keep {} (what {to} held before) until LINSTOR runs well on the restored data; `{}` gives it back.",
            previous.target,
            connection.command(&["restore", "--from", &previous.target, "--to", &to.to_string(), "--replace"])
        ));
    }
    steps
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
    if report.downgrade {
        // LINSTOR's own recovery from a failed upgrade: its CRDs go, with every object, and are
        // created again below as the backup's release has them (served and stored versions).
        step(options, "delete the LINSTOR CRDs");
        let connection = stores.connection();
        stores.k8s().await?.delete_all_crds().await.map_err(|e| {
            let undo = match &report.previous_backup {
                Some(previous) => format!(
                    "; {} holds what it held: `{}` gives it back",
                    previous.target,
                    connection.command(&["restore", "--from", &previous.target, "--to", &to.to_string(), "--replace"])
                ),
                None => String::new(),
            };
            Error::Refused(format!(
                "deleting the LINSTOR CRDs of {to} failed ({e}). Run this restore again to finish it{undo}"
            ))
        })?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(controller_left_stopped: bool) -> RestoreReport {
        RestoreReport {
            source: "old.tar.gz".into(),
            target: "k8s".into(),
            dry_run: false,
            linstor_version: "1.31.3".into(),
            data_version: "v1-27-1".into(),
            changes: Vec::new(),
            rows: 10,
            previous_backup: None,
            interrupted: None,
            controller: Some(ControllerDeployment {
                namespace: "piraeus".into(),
                name: "linstor-controller".into(),
                replicas: 1,
            }),
            replaces: None,
            downgrade: controller_left_stopped,
            controller_left_stopped,
            next_steps: Vec::new(),
        }
    }

    #[test]
    fn next_steps_pin_the_release_of_the_restored_data_and_start_the_controller_last() {
        let connection = Connection::default();
        let steps = next_steps(&connection, &StoreAddress::K8s, &report(true));
        let image = "quay.io/piraeusdatastore/piraeus-server:v1.31.3";
        assert!(steps[0].contains("LINSTOR 1.31.3 data (v1-27-1)") && steps[0].contains("migrates it again"));
        assert!(steps[1].contains(&format!(
            "--set operator.controller.controllerImage={image} --set operator.satelliteSet.satelliteImage={image}"
        )));
        let v2 = &steps[2];
        let patch = v2.split('\'').nth(1).unwrap_or_default();
        let parsed: serde_json::Value = serde_json::from_str(patch).unwrap_or_default();
        assert_eq!(parsed["spec"]["controller"]["podTemplate"]["spec"]["containers"][0]["image"], image, "{v2}");
        let satellites = v2.split('\'').nth(3).unwrap_or_default();
        let parsed: serde_json::Value = serde_json::from_str(satellites).unwrap_or_default();
        assert_eq!(parsed["spec"]["podTemplate"]["spec"]["containers"][0]["name"], "linstor-satellite", "{v2}");
        assert!(steps[3].contains("kubectl scale -n piraeus deployment/linstor-controller --replicas=1"));
        assert!(steps[4].contains("linstor-db check k8s"));
        let restarted = next_steps(&connection, &StoreAddress::K8s, &report(false));
        assert!(restarted[3].contains("scaled back to 1 replicas"), "{restarted:?}");
    }

    #[test]
    fn the_downgrade_command_carries_the_options_that_matter() {
        let options = JobOptions {
            replace: true,
            controller: Some("piraeus/linstor-controller".into()),
            backup_to: Some(StoreAddress::File("keep me.tar.gz".into())),
            ..JobOptions::default()
        };
        let command = restore_command(
            &Connection::default(),
            (&StoreAddress::File("old.tar.gz".into()), &StoreAddress::K8s),
            &options,
            true,
        );
        assert_eq!(
            command,
            "linstor-db restore --from old.tar.gz --to k8s --replace --allow-downgrade --controller piraeus/linstor-controller --backup-to 'keep me.tar.gz'"
        );
    }
}
