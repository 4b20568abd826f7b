//! One function per job, taking store addresses and options exactly as the CLI and the C ABI do, and
//! returning a report that serialises to JSON. The CLI and `linstor-db-ffi` are thin shells over this
//! module; the engines below it ([`crate::engine`]) know nothing about addresses or flags.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::archive::Manifest;
use crate::backend::archive::{verify_archive, ArchiveTarget, VerifiedArchive};
use crate::backend::controller::{ControllerDeployment, ControllerGuard};
use crate::backend::k8s::K8sStore;
use crate::backend::secret::{BackupListing, SecretStore};
use crate::backend::sorted::SortedSource;
use crate::backend::{open_source, open_target, Connection, Source};
use crate::config::{DbConfig, DEFAULT_CONFIG_DIR};
use crate::engine::compare::{compare, CompareReport, Difference};
use crate::engine::{self, CopyOptions, CopyReport, Progress, ProgressFn, TableCount};
use crate::error::{Error, Result};
use crate::export::now_ms;
use crate::generate::{GeneratedSource, Plan};
use crate::k8s_layout::rfc3339_utc;
use crate::schema::DataVersion;
use crate::store::StoreAddress;

/// Options shared by every job; each job reads the ones that apply to it.
#[derive(Clone, Default)]
pub struct JobOptions {
    /// Overwrite a target that already holds a LINSTOR database (restore, import, migrate, generate).
    pub replace: bool,
    /// Report what would change without writing anything (restore).
    pub dry_run: bool,
    /// Where restore and migrate keep the safety backup they take first (default: a timestamped
    /// file in the working directory).
    pub backup_to: Option<StoreAddress>,
    /// The LINSTOR controller Deployment (`NAMESPACE/NAME`) to scale to zero while writing and back
    /// up afterwards, also on failure.
    pub controller: Option<String>,
    /// Write even though a running LINSTOR controller was detected.
    pub allow_running_controller: bool,
    /// Restore a backup whose objects lack columns the API server pruned (see [`crate::lost`]).
    pub accept_lost_columns: bool,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Set to true to stop the job at the next batch.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl JobOptions {
    fn copy_options(&self, replace: bool) -> CopyOptions {
        CopyOptions { replace, progress: self.progress.clone(), cancel: self.cancel.clone() }
    }
}

/// What a store holds, without its rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InfoReport {
    /// The store.
    pub store: String,
    /// LINSTOR release the data belongs to.
    pub linstor_version: String,
    /// Data (CRD) version.
    pub data_version: String,
    /// Last etcd migration of that release (releases up to 1.33.x).
    pub etcd_version: Option<u32>,
    /// Last k8s migration of that release.
    pub k8s_version: u32,
    /// Total rows.
    pub rows: u64,
    /// Rows per table, in schema order.
    pub tables: Vec<TableCount>,
    /// A backup's objects at served versions other than the storage version.
    pub objects_at: Vec<String>,
    /// Columns such a backup lacks (see [`crate::lost`]).
    pub lost_columns: Vec<crate::lost::LostColumn>,
}

/// Resolves the store of a job: an explicit address wins over `connection_url`; `linstor.toml` in
/// `config_dir` (default `/etc/linstor`) still supplies etcd TLS, credentials and prefix when it
/// exists. Without an explicit address the configuration must exist.
pub fn resolve_store(config_dir: Option<&Path>, explicit: Option<&str>) -> Result<(StoreAddress, DbConfig)> {
    let dir = config_dir.map_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR), Path::to_path_buf);
    match explicit {
        Some(text) => {
            let address = StoreAddress::parse(text)?;
            let config = match DbConfig::load(&dir) {
                Ok(config) => config,
                // Without an explicit directory, a missing default config just means defaults.
                Err(Error::ConfigMissing { .. }) if config_dir.is_none() => DbConfig::default(),
                Err(e) => return Err(e),
            };
            Ok((address, config))
        }
        None => {
            let config = DbConfig::load(&dir)?;
            let address = StoreAddress::from_connection_url(&config.connection_url)?;
            Ok((address, config))
        }
    }
}

/// `export-db`: writes `from` to a LINSTOR export-db JSON file.
pub async fn export(
    connection: &Connection,
    from: &StoreAddress,
    file: &Path,
    options: &JobOptions,
) -> Result<CopyReport> {
    let source = open_source(from, connection).await?;
    engine::export_file(source, file, &options.copy_options(false)).await
}

/// `import-db`: writes a LINSTOR export-db JSON file into the store `to`.
pub async fn import(
    connection: &Connection,
    file: &Path,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<CopyReport> {
    if matches!(to, StoreAddress::File(_)) {
        return Err(Error::InvalidStore {
            address: to.to_string(),
            reason: "import-db writes a database store (etcd://… or k8s), not a file; to copy a file use cp".into(),
        });
    }
    let mut target = open_target(to, connection).await?;
    let guard = guard(connection, to, options).await?;
    let outcome = engine::import_file(file, target.as_mut(), &options.copy_options(options.replace)).await;
    finish_guarded(guard, outcome).await
}

/// `info`: the versions and row counts of a store, export or backup.
pub async fn info(connection: &Connection, store: &StoreAddress) -> Result<InfoReport> {
    let mut source = open_source(store, connection).await?;
    let describe = source.describe();
    let (meta, tables) = engine::inspect(source.as_mut()).await?;
    Ok(InfoReport {
        store: describe,
        linstor_version: meta.linstor_version,
        data_version: meta.data_version.to_string(),
        etcd_version: meta.etcd_version,
        k8s_version: meta.k8s_version,
        rows: tables.iter().map(|t| t.rows).sum(),
        tables,
        objects_at: meta.objects_at,
        lost_columns: meta.lost_columns,
    })
}

/// `verify` / `diff`: compares two stores row by row, calling `on_difference` for each difference.
pub async fn verify(
    connection: &Connection,
    a: &StoreAddress,
    b: &StoreAddress,
    on_difference: impl FnMut(&Difference),
) -> Result<CompareReport> {
    let source_a = open_source(a, connection).await?;
    let source_b = open_source(b, connection).await?;
    compare(source_a, source_b, on_difference).await
}

/// `generate`: writes a synthetic LINSTOR database of about `rows` rows into `to`.
pub async fn generate(
    connection: &Connection,
    rows: usize,
    seed: u64,
    data_version: DataVersion,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<CopyReport> {
    let mut target = open_target(to, connection).await?;
    let plan = Plan::for_rows(rows, seed, data_version);
    engine::copy(&mut GeneratedSource::new(plan), target.as_mut(), &options.copy_options(options.replace)).await
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupReport {
    /// The store read.
    pub source: String,
    /// Where the backup is (`secret://…` or the file).
    pub target: String,
    /// LINSTOR release of the data.
    pub linstor_version: String,
    /// Data version.
    pub data_version: String,
    /// Rows per table.
    pub tables: Vec<TableCount>,
    /// Total rows.
    pub rows: u64,
    /// Archive size in bytes.
    pub bytes: u64,
    /// SHA-256 of the archive.
    pub sha256: String,
    /// Secret parts (0 for a file).
    pub parts: usize,
}

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
    /// The backup taken of what the target held before (with `replace`).
    pub previous_backup: Option<BackupReport>,
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

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrateReport {
    /// The store read (never modified).
    pub source: String,
    /// The store written.
    pub target: String,
    /// The backup of the source taken first.
    pub backup: Option<BackupReport>,
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

/// What a purge deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// The store emptied.
    pub store: String,
    /// The backup that was verified against it first.
    pub backup: String,
    /// Rows the backup holds.
    pub rows: u64,
    /// CRDs deleted (k8s) or keys deleted (etcd).
    pub deleted: Vec<String>,
}

/// `backup`: writes `from` as a backup archive to a file or to `secret://NAMESPACE/NAME`. The archive
/// is read back and checked against its manifest before the backup is reported (and, in Secrets,
/// before it is marked complete).
pub async fn backup(
    connection: &Connection,
    from: &StoreAddress,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<BackupReport> {
    match to {
        StoreAddress::File(path) => Ok(write_backup(connection, from, path, options).await?.0),
        StoreAddress::Secret { namespace, name } => {
            // Room for the part suffix, and the name is a label value (at most 63 characters).
            if name.len() > 60 {
                return Err(Error::InvalidStore {
                    address: to.to_string(),
                    reason: "a backup name may have at most 60 characters".into(),
                });
            }
            let secrets = SecretStore::new(K8sStore::connect(connection.k8s_settings()).await?, namespace);
            secrets.ensure_absent(name).await?;
            let staging = tempfile::Builder::new()
                .prefix("linstor-db-backup-")
                .tempdir()
                .map_err(|source| Error::File { action: "create", path: std::env::temp_dir(), source })?;
            let path = staging.path().join("backup.tar.gz");
            let (mut report, manifest) = write_backup(connection, from, &path, options).await?;
            let uploaded = secrets.upload(name, &path, &manifest).await?;
            report.target = to.to_string();
            report.parts = uploaded.parts;
            Ok(report)
        }
        other => Err(Error::InvalidStore {
            address: other.to_string(),
            reason: "a backup is written to a file (FILE.tar.gz) or to Kubernetes Secrets (secret://NAMESPACE/NAME)"
                .into(),
        }),
    }
}

/// Writes and verifies the archive at `path`; returns the report and the archive's manifest.
async fn write_backup(
    connection: &Connection,
    from: &StoreAddress,
    path: &Path,
    options: &JobOptions,
) -> Result<(BackupReport, Manifest)> {
    step(options, "backup");
    // Sorted, so that the same database always gives the same entries (and checksums).
    let mut source = SortedSource::new(open_source(from, connection).await?);
    let copied = engine::copy(&mut source, &mut ArchiveTarget::new(path), &options.copy_options(false)).await?;
    let VerifiedArchive { manifest, bytes, sha256 } = verify_archive(path)?;
    let report = BackupReport {
        source: copied.source,
        target: copied.target,
        linstor_version: copied.linstor_version,
        data_version: copied.data_version,
        tables: copied.tables,
        rows: copied.rows,
        bytes,
        sha256,
        parts: 0,
    };
    Ok((report, manifest))
}

/// `backup list`: every backup Secret of `namespace`, whatever its scheme.
pub async fn list_backups(connection: &Connection, namespace: &str) -> Result<Vec<BackupListing>> {
    let store = K8sStore::connect(connection.k8s_settings()).await?;
    let mut listings = SecretStore::new(store, namespace).list().await?;
    // Operator and LINSTOR backups record no data version (their annotation names the new image):
    // read it from the archive. These fit in Secrets, so they are small.
    for listing in listings.iter_mut().filter(|l| l.complete && l.data_version.is_none()) {
        let address = StoreAddress::Secret { namespace: namespace.to_owned(), name: listing.name.clone() };
        let read = async {
            let mut source = open_source(&address, connection).await?;
            engine::inspect(source.as_mut()).await
        };
        match read.await {
            Ok((meta, tables)) => {
                listing.note = crate::lost::note(&meta);
                listing.linstor_version = Some(meta.linstor_version);
                listing.data_version = Some(meta.data_version.to_string());
                listing.rows = Some(tables.iter().map(|t| t.rows).sum());
            }
            Err(e) => {
                listing.complete = false;
                listing.note = format!("unreadable: {e}");
            }
        }
    }
    Ok(listings)
}

/// `restore`: writes a backup (any format) into `to`. The backup is read completely first, so a
/// corrupt one writes nothing; a non-empty target is refused unless `replace`, and then backed up
/// first; the result is verified row by row against the backup.
pub async fn restore(
    connection: &Connection,
    from: &StoreAddress,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<RestoreReport> {
    require_database(to, "restore")?;
    step(options, "check backup");
    let (meta, tables) = engine::inspect(open_source(from, connection).await?.as_mut()).await?;
    meta.check_supported(&from.to_string())?;
    crate::lost::check_restore(&meta, options.accept_lost_columns, &from.to_string())?;
    let rows = tables.iter().map(|t| t.rows).sum();
    let target_holds = probe(connection, to).await?;
    let mut report = RestoreReport {
        source: from.to_string(),
        target: to.to_string(),
        dry_run: options.dry_run,
        linstor_version: meta.linstor_version.clone(),
        data_version: meta.data_version.to_string(),
        changes: Vec::new(),
        rows,
        previous_backup: None,
        controller: None,
    };
    if options.dry_run {
        report.changes = match target_holds {
            Holds::Database => changes(connection, from, to).await?,
            Holds::Nothing | Holds::IncompleteImport => tables
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
    let guard = guard(connection, to, options).await?;
    report.controller = guard.stopped().cloned();
    let outcome = restore_guarded(connection, from, to, options, target_holds, &mut report).await;
    finish_guarded(guard, outcome).await?;
    Ok(report)
}

async fn restore_guarded(
    connection: &Connection,
    from: &StoreAddress,
    to: &StoreAddress,
    options: &JobOptions,
    target_holds: Holds,
    report: &mut RestoreReport,
) -> Result<()> {
    if target_holds == Holds::Database {
        let keep = options.backup_to.clone().unwrap_or_else(|| default_backup_file("before-restore"));
        report.previous_backup = Some(backup(connection, to, &keep, options).await?);
    }
    step(options, "restore");
    let mut source = open_source(from, connection).await?;
    let mut target = open_target(to, connection).await?;
    let replace = options.replace || target_holds == Holds::IncompleteImport;
    engine::copy(source.as_mut(), target.as_mut(), &options.copy_options(replace)).await?;
    step(options, "verify");
    let verify = jobs_compare(connection, from, to).await?;
    report.changes = Vec::new();
    if !verify.equal() {
        return Err(verify_failed(&verify, "restore again with --replace"));
    }
    Ok(())
}

/// `migrate`: copies a live store into another (etcd → k8s, or back). The source is backed up first and
/// never modified; the target is written from that backup and then compared row by row with the
/// source. Re-running after an interruption finishes the job; re-running after success changes nothing.
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
    let guard = guard(connection, to, options).await?;
    let controller = guard.stopped().cloned();
    let outcome = migrate_guarded(connection, from, to, options).await;
    let mut report = finish_guarded(guard, outcome).await?;
    report.controller = controller;
    report.next_steps =
        next_steps(from, to, report.backup.as_ref().map(|b| b.target.as_str()), report.controller.as_ref());
    Ok(report)
}

async fn migrate_guarded(
    connection: &Connection,
    from: &StoreAddress,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<MigrateReport> {
    let mut report = MigrateReport {
        source: from.to_string(),
        target: to.to_string(),
        backup: None,
        resumed: false,
        already_migrated: false,
        rows: 0,
        verify: CompareReport::default(),
        controller: None,
        next_steps: Vec::new(),
    };
    let target_holds = probe(connection, to).await?;
    if target_holds == Holds::Database {
        step(options, "compare");
        let verify = jobs_compare(connection, from, to).await?;
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
    report.resumed = target_holds == Holds::IncompleteImport;
    let keep = options.backup_to.clone().unwrap_or_else(|| default_backup_file("before-migrate"));
    let backup_report = backup(connection, from, &keep, options).await?;
    report.rows = backup_report.rows;
    report.backup = Some(backup_report);
    step(options, "write");
    // Written from the backup: one consistent snapshot, and the backup is known to restore.
    let mut source = open_source(&keep, connection).await?;
    let mut target = open_target(to, connection).await?;
    let replace = options.replace || report.resumed;
    engine::copy(source.as_mut(), target.as_mut(), &options.copy_options(replace)).await?;
    step(options, "verify");
    report.verify = jobs_compare(connection, from, to).await?;
    if !report.verify.equal() {
        return Err(verify_failed(&report.verify, "re-run the migration with --replace; the source is unchanged"));
    }
    Ok(report)
}

/// `purge`: deletes LINSTOR's database from `store` (all `internal.linstor.linbit.com` CRDs, or every
/// key under the etcd prefix), only after `backup` verified equal to it row by row.
pub async fn purge(
    connection: &Connection,
    store: &StoreAddress,
    backup: &StoreAddress,
    options: &JobOptions,
) -> Result<PurgeReport> {
    require_database(store, "purge")?;
    step(options, "verify backup");
    let verify = jobs_compare(connection, backup, store).await?;
    if !verify.equal() {
        return Err(Error::Refused(format!(
            "purge refused: the backup {backup} does not match {store} ({} rows differ). Take a fresh backup (linstor-db backup --from {store} -o FILE), then purge with --backup FILE",
            verify.differences
        )));
    }
    let guard = guard(connection, store, options).await?;
    step(options, "purge");
    let outcome = async {
        match store {
            StoreAddress::K8s => K8sStore::connect(connection.k8s_settings()).await?.delete_all_crds().await,
            StoreAddress::Etcd { endpoints } => {
                let settings = crate::store::EtcdSettings::new(endpoints.clone(), &connection.config);
                let prefix = settings.prefix();
                let deleted = crate::backend::etcd::EtcdStore::connect(settings).await?.delete_prefix().await?;
                Ok(vec![format!("{deleted} keys under {prefix}")])
            }
            other => Err(Error::Internal(format!("purge of {other}"))),
        }
    }
    .await;
    let deleted = finish_guarded(guard, outcome).await?;
    Ok(PurgeReport { store: store.to_string(), backup: backup.to_string(), rows: verify.rows_a, deleted })
}

/// What a target store holds before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Nothing,
    IncompleteImport,
    Database,
}

async fn probe(connection: &Connection, store: &StoreAddress) -> Result<Holds> {
    let mut source = open_source(store, connection).await?;
    match source.open().await {
        Ok(_) => Ok(Holds::Database),
        Err(Error::IncompleteImport { .. }) => Ok(Holds::IncompleteImport),
        Err(Error::NotLinstor { .. }) => Ok(Holds::Nothing),
        Err(e) => Err(e),
    }
}

async fn jobs_compare(connection: &Connection, a: &StoreAddress, b: &StoreAddress) -> Result<CompareReport> {
    verify(connection, a, b, |_| {}).await
}

async fn changes(connection: &Connection, from: &StoreAddress, to: &StoreAddress) -> Result<Vec<TableChanges>> {
    let mut per_table: Vec<TableChanges> = Vec::new();
    verify(connection, from, to, |d| {
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

fn verify_failed(report: &CompareReport, advice: &str) -> Error {
    let summary: Vec<String> =
        report.tables.iter().filter(|t| t.3 > 0).map(|(table, _, _, n)| format!("{table}: {n}")).collect();
    Error::VerifyFailed {
        source_store: report.a.clone(),
        target: report.b.clone(),
        differences: report.differences,
        summary: summary.join(", "),
        advice: advice.to_owned(),
    }
}

fn require_database(store: &StoreAddress, job: &str) -> Result<()> {
    match store {
        StoreAddress::Etcd { .. } | StoreAddress::K8s => Ok(()),
        other => Err(Error::InvalidStore {
            address: other.to_string(),
            reason: format!("{job} works on a database store (etcd://HOST:PORT or k8s), not a file or backup"),
        }),
    }
}

/// Stops the controller (or checks that it is stopped) before `target` is written. Kubernetes is
/// always checked for a k8s target; for etcd only when a Kubernetes configuration is at hand.
async fn guard(connection: &Connection, target: &StoreAddress, options: &JobOptions) -> Result<ControllerGuard> {
    match K8sStore::connect(connection.k8s_settings()).await {
        Ok(store) => {
            ControllerGuard::engage(store, options.controller.as_deref(), options.allow_running_controller).await
        }
        Err(e) if matches!(target, StoreAddress::K8s) || options.controller.is_some() => Err(e),
        Err(e) => {
            tracing::debug!(error = %e, "no Kubernetes configuration");
            tracing::warn!(
                "no Kubernetes access, so a running LINSTOR controller cannot be detected; make sure it is stopped"
            );
            Ok(ControllerGuard::none())
        }
    }
}

/// Releases the guard whatever `outcome` was; a job error wins over a release error, but both are told.
async fn finish_guarded<T>(guard: ControllerGuard, outcome: Result<T>) -> Result<T> {
    let released = guard.release().await;
    match (outcome, released) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(release)) => Err(release),
        (Err(job), Ok(())) => Err(job),
        (Err(job), Err(release)) => {
            tracing::error!(error = %release, "the controller was not started again");
            Err(job)
        }
    }
}

fn step(options: &JobOptions, name: &'static str) {
    if let Some(progress) = &options.progress {
        progress(&Progress::Step(name));
    }
}

/// `linstor-db-<what>-20261123T031500Z.tar.gz` in the working directory.
fn default_backup_file(what: &str) -> StoreAddress {
    let stamp: String = rfc3339_utc(now_ms()).chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    StoreAddress::File(PathBuf::from(format!("linstor-db-{what}-{stamp}.tar.gz")))
}

/// The exact steps after a migration: switch LINSTOR's configuration, start it, check, clean up.
fn next_steps(
    from: &StoreAddress,
    to: &StoreAddress,
    backup: Option<&str>,
    controller: Option<&ControllerDeployment>,
) -> Vec<String> {
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
        Some(c) => steps.push(format!("The controller {ns}/{name} was scaled back to {} replicas and still uses {from}: switch the configuration now and restart it (kubectl rollout restart -n {ns} deployment/{name}). Changes it makes before the switch are not in {to}; `linstor-db verify {from} {to}` shows them, and `linstor-db migrate --replace` copies them again", c.replicas, ns = c.namespace, name = c.name)),
        None => steps.push("Start the LINSTOR controller.".to_owned()),
    }
    steps.push("Check it: linstor node list; linstor storage-pool list; linstor resource list-volumes; linstor error-reports list".to_owned());
    steps.push(format!(
        "Keep {from}{} until LINSTOR runs well on the new backend; `linstor-db verify {from} {to}` compares them again at any time.",
        backup.map(|b| format!(" and the backup {b}")).unwrap_or_default()
    ));
    if matches!(from, StoreAddress::Etcd { .. }) {
        steps.push("Then remove etcd (operator v1: helm upgrade … --set etcd.enabled=false, and delete the etcd PVC, which Helm leaves behind). LINSTOR 1.34 and later cannot use etcd.".to_owned());
    }
    steps
}
