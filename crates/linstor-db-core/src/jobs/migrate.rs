//! `migrate`: a live store copied into another, through a backup, verified row by row.

use super::*;
use crate::backend::controller::ControllerDeployment;
use crate::engine;

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrateReport {
    /// The store read (never modified).
    pub source: String,
    /// The store written.
    pub target: String,
    /// The backup of the source taken first.
    pub backup: Option<BackupReport>,
    /// The backup of what the target held (with `replace`): a different database, or an
    /// interrupted write of another job.
    pub replaced_backup: Option<BackupReport>,
    /// The target held an interrupted migration that this run finished.
    pub resumed: bool,
    /// The target already held exactly the source's data; nothing was written.
    pub already_migrated: bool,
    /// Rows copied (or found equal).
    pub rows: u64,
    /// Row-by-row comparison of source and target after writing.
    pub verify: CompareReport,
    /// The controller Deployment stopped and started again, if any.
    pub controller: Option<ControllerDeployment>,
    /// What the operator does next, in order.
    pub next_steps: Vec<String>,
}

/// `migrate`: copies a live store into another (etcd → k8s, or back). The source is backed up first and
/// never modified; the target is written from that backup and then compared row by row with the
/// source. The backup pass also checks every row (`check`): data LINSTOR would refuse to load is not
/// written unless `no_check`. Re-running after an interruption finishes the job; re-running after
/// success changes nothing.
pub async fn migrate(
    connection: &Connection,
    from: &StoreAddress,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<MigrateReport> {
    require_database(from, "migrate")?;
    require_database(to, "migrate")?;
    if from == to {
        return Err(Error::InvalidStore {
            address: to.to_string(),
            reason: "source and target are the same store".into(),
        });
    }
    let mut stores = Stores::new(connection);
    let guard = guard(&mut stores, to, options).await?;
    let controller = guard.stopped().cloned();
    let outcome = migrate_guarded(&mut stores, from, to, options).await;
    let mut report = finish_guarded(guard, outcome).await?;
    report.controller = controller;
    let backup = report.backup.as_ref().map(|b| b.target.as_str());
    report.next_steps = next_steps(connection, (from, to), backup, report.controller.as_ref());
    Ok(report)
}

async fn migrate_guarded(
    stores: &mut Stores<'_>,
    from: &StoreAddress,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<MigrateReport> {
    let mut report = MigrateReport {
        source: from.to_string(),
        target: to.to_string(),
        backup: None,
        replaced_backup: None,
        resumed: false,
        already_migrated: false,
        rows: 0,
        verify: CompareReport::default(),
        controller: None,
        next_steps: Vec::new(),
    };
    let target_holds = probe(stores, to).await?;
    if target_holds == Holds::Database {
        step(options, "compare");
        let verify = jobs_compare(stores, from, to).await?;
        if verify.equal() {
            report.already_migrated = true;
            report.rows = verify.rows_a;
            report.verify = verify;
            return Ok(report);
        }
        if !options.replace {
            return Err(Error::TargetNotEmpty {
                store: to.to_string(),
                detail: format!("a different LINSTOR database, {} rows differ from {from}", verify.differences),
            });
        }
    }
    let job = job_identity(stores, "migrate", from).await?;
    may_write_over(&target_holds, &job, to, options.replace)?;
    report.resumed = matches!(target_holds, Holds::IncompleteImport(_));
    let keep = options.backup_to.clone().unwrap_or_else(|| default_backup_file("before-migrate"));
    let (backup_report, check) =
        backup::backup_checked(stores, (from, Reading::AtOneRevision), &keep, options, options.check_for(to)).await?;
    report.rows = backup_report.rows;
    report.backup = Some(backup_report);
    if let Some(check) = check {
        // Nothing is written to the target before this; the backup of the source is kept.
        engine::refuse_unloadable(&from.to_string(), &check)?;
    }
    report.replaced_backup =
        back_up_replaced(stores, to, (&target_holds, &job), &replaced_sibling(&keep), options).await?;
    step(options, "write");
    // Written from the backup: one consistent snapshot, and the backup is known to restore.
    let mut source = stores.source(&keep).await?;
    let mut target = stores.target(to).await?;
    let replace = options.replace || report.resumed;
    let copy_options = CopyOptions { job: Some(job), ..options.copy_options(replace) };
    engine::copy(source.as_mut(), target.as_mut(), &copy_options).await?;
    step(options, "verify");
    let (verify, examples) = verify_written(stores, from, to).await?;
    report.verify = verify;
    if !report.verify.equal() {
        let note = "The source is unchanged. ";
        return Err(verify_failed(target.as_mut(), (&report.verify, examples), note).await);
    }
    Ok(report)
}

/// The exact steps after a migration: switch LINSTOR's configuration, start it, check, clean up.
fn next_steps(
    connection: &Connection,
    (from, to): (&StoreAddress, &StoreAddress),
    backup: Option<&str>,
    controller: Option<&ControllerDeployment>,
) -> Vec<String> {
    let (from_text, to_text) = (from.to_string(), to.to_string());
    let verify = connection.command(&["verify", &from_text, &to_text]);
    let mut steps = Vec::new();
    match to {
        StoreAddress::K8s => {
            steps.push("Switch LINSTOR to the Kubernetes backend: in linstor.toml set `[db] connection_url = \"k8s\"` and remove the etcd settings (ca_certificate, client_certificate, client_key_pkcs8_pem, user, password, [db.etcd]).".to_owned());
            steps.push("Piraeus operator v1 (Helm): helm upgrade RELEASE piraeus-charts/piraeus --reuse-values --set operator.controller.dbConnectionURL=k8s".to_owned());
            steps.push("Piraeus operator v2: delete the LinstorCluster spec.patches entry that sets connection_url to etcd (v2 uses k8s by default), e.g. kubectl edit linstorcluster linstorcluster".to_owned());
        }
        StoreAddress::Etcd { endpoints } => {
            steps.push(format!("Switch LINSTOR to etcd: in linstor.toml set `[db] connection_url = \"etcd://{}\"` with the TLS/user settings the etcd needs.", endpoints.join(",")));
        }
        _ => {}
    }
    match controller {
        Some(c) => steps.push(format!("The controller {ns}/{name} was scaled back to {} replicas and still uses {from}: switch the configuration now and restart it (kubectl rollout restart -n {ns} deployment/{name}). Changes it makes before the switch are not in {to}; `{verify}` shows them, and `{again}` copies them again", c.replicas, ns = c.namespace, name = c.name, again = connection.command(&["migrate", "--from", &from_text, "--to", &to_text, "--replace", "--controller", &format!("{}/{}", c.namespace, c.name)]))),
        None => steps.push("Start the LINSTOR controller.".to_owned()),
    }
    steps.push("Check it: linstor node list; linstor storage-pool list; linstor resource list-volumes; linstor error-reports list".to_owned());
    steps.push(format!(
        "Keep {from}{} until LINSTOR runs well on the new backend; `{verify}` compares them again at any time.",
        backup.map(|b| format!(" and the backup {b}")).unwrap_or_default()
    ));
    if matches!(from, StoreAddress::Etcd { .. }) {
        steps.push("Then remove etcd (operator v1: helm upgrade … --set etcd.enabled=false, and delete the etcd PVC, which Helm leaves behind). LINSTOR 1.34 and later cannot use etcd.".to_owned());
    }
    steps
}
