//! `backup` and `backup list`: archives in files and Kubernetes Secrets.

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;

use super::{at_one_revision, finish_guarded, guard, step, Consistency, JobOptions};
use crate::archive::Manifest;
use crate::backend::archive::{verify_archive, ArchiveTarget, VerifiedArchive};
use crate::backend::controller::ControllerGuard;
use crate::backend::secret::{backup_listings, prune_plan, BackupListing, PruneChoice, SecretStore};
use crate::backend::sorted::SortedSource;
use crate::backend::{Connection, Reading, Source, Stores};
use crate::check::{CheckReport, SizeLimits};
use crate::engine::{self, TableCount};
use crate::error::{Error, Result};
use crate::store::StoreAddress;

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
    /// A backup of an interrupted write: the job whose write it was (restoring it gives back that
    /// interrupted write, marked incomplete).
    pub interrupted: Option<String>,
    /// The revision of the store every table was read at (see [`Manifest::revision`]).
    pub revision: Option<String>,
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
    let mut stores = Stores::new(connection);
    let (reading, guard) = consistent_reading(&mut stores, from, options).await?;
    let outcome = backup_checked(&mut stores, (from, reading), to, options, None).await;
    Ok(finish_guarded(guard, outcome).await?.0)
}

/// How `options.consistency` has `from` read, with the controller stopped for it if it says so.
pub(super) async fn consistent_reading(
    stores: &mut Stores<'_>,
    from: &StoreAddress,
    options: &JobOptions,
) -> Result<(Reading, ControllerGuard)> {
    match options.consistency {
        Consistency::StoppedController if matches!(from, StoreAddress::Etcd { .. } | StoreAddress::K8s) => {
            Ok((options.consistency.reading(), guard(stores, from, options).await?))
        }
        _ => Ok((Reading::AtOneRevision, ControllerGuard::none())),
    }
}

/// [`backup`], with `check` also checking every row on the way (`linstor-db check`, against the
/// size limits of the store the data is bound for): migrate writes from the backup, so this is its
/// one read of the source before the write.
pub(super) async fn backup_checked(
    stores: &mut Stores<'_>,
    (from, reading): (&StoreAddress, Reading),
    to: &StoreAddress,
    options: &JobOptions,
    check: Option<SizeLimits>,
) -> Result<(BackupReport, Option<CheckReport>)> {
    // A read cut short by compaction is written again from the start, over what it began.
    let write = async |stores: &mut Stores<'_>, path: &Path| {
        at_one_revision(async || write_backup(stores.source_reading(from, reading).await?, path, options, check).await)
            .await
    };
    match to {
        StoreAddress::File(path) => {
            let (report, _, check) = write(stores, path).await?;
            Ok((report, check))
        }
        StoreAddress::Secret { namespace, name } => {
            // Room for the part suffix, and the name is a label value (at most 63 characters).
            if name.len() > 60 {
                return Err(Error::InvalidStore {
                    address: to.to_string(),
                    reason: "a backup name may have at most 60 characters".into(),
                });
            }
            let secrets = SecretStore::new(stores.k8s().await?, namespace);
            secrets.ensure_absent(name).await?;
            let staging = tempfile::Builder::new()
                .prefix("linstor-db-backup-")
                .tempdir()
                .map_err(|source| Error::File { action: "create", path: std::env::temp_dir(), source })?;
            let path = staging.path().join("backup.tar.gz");
            let (mut report, manifest, check) = write(stores, &path).await?;
            let uploaded = secrets.upload(name, &path, &manifest).await?;
            report.target = to.to_string();
            report.parts = uploaded.parts;
            Ok((report, check))
        }
        other => Err(Error::InvalidStore {
            address: other.to_string(),
            reason: "a backup is written to a file (FILE.tar.gz) or to Kubernetes Secrets (secret://NAMESPACE/NAME)"
                .into(),
        }),
    }
}

/// Writes and verifies the archive at `path`; returns the report, the archive's manifest and, with
/// `check`, what the rows break of LINSTOR's load-time invariants.
async fn write_backup(
    from: Box<dyn Source>,
    path: &Path,
    options: &JobOptions,
    check: Option<SizeLimits>,
) -> Result<(BackupReport, Manifest, Option<CheckReport>)> {
    step(options, "backup");
    // Sorted, so that the same database always gives the same entries (and checksums).
    let mut source = SortedSource::new(from);
    let mut archive = ArchiveTarget::new(path);
    let copy_options = options.copy_options(false);
    let (copied, check) = if let Some(limits) = check {
        let (copied, check) = engine::copy_checked(&mut source, &mut archive, &copy_options, limits).await?;
        (copied, Some(check))
    } else {
        (engine::copy(&mut source, &mut archive, &copy_options).await?, None)
    };
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
        interrupted: manifest.interrupted.clone(),
        revision: manifest.revision.clone(),
    };
    Ok((report, manifest, check))
}

/// `backup list`: every backup Secret of `namespace`, whatever its scheme.
pub async fn list_backups(connection: &Connection, namespace: &str) -> Result<Vec<BackupListing>> {
    let mut stores = Stores::new(connection);
    let secrets = SecretStore::new(stores.k8s().await?, namespace).list_all().await?;
    checked_listings(&mut stores, namespace, &secrets).await
}

/// The backups among `secrets` (all of `namespace`), newest first, each known readable or marked
/// incomplete: ours are checked against their marker, the others are read.
async fn checked_listings(stores: &mut Stores<'_>, namespace: &str, secrets: &[Secret]) -> Result<Vec<BackupListing>> {
    let mut listings = backup_listings(namespace, secrets, k8s_openapi::jiff::Timestamp::now());
    // Operator and LINSTOR backups record no data version (their annotation names the new image):
    // read it from the archive. These fit in Secrets, so they are small.
    for listing in listings.iter_mut().filter(|l| l.complete && l.data_version.is_none()) {
        let address = StoreAddress::Secret { namespace: namespace.to_owned(), name: listing.name.clone() };
        let read = async {
            let mut source = stores.source(&address).await?;
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

/// What `backup prune` did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// The namespace.
    pub namespace: String,
    /// Nothing was deleted.
    pub dry_run: bool,
    /// Every backup of the namespace, newest first, with what was done with it and why.
    pub choices: Vec<PruneChoice>,
    /// Backups deleted.
    pub deleted: usize,
}

/// `backup prune`: deletes the complete backups of `namespace` beyond the `keep` newest complete ones
/// (with `older_than`, only those at least that old), in every scheme `backup list` knows. Never the
/// newest complete one, one being written or an unreadable one (which does not count as kept). Each
/// backup's marker goes first, so an interrupted prune leaves parts that `backup list` names with
/// their delete command, never a backup that claims to be complete.
pub async fn prune_backups(
    connection: &Connection,
    namespace: &str,
    keep: usize,
    older_than: Option<std::time::Duration>,
    dry_run: bool,
) -> Result<PruneReport> {
    if keep == 0 {
        return Err(Error::InvalidArgument(
            "--keep must be at least 1: prune never deletes the newest complete backup".into(),
        ));
    }
    let mut stores = Stores::new(connection);
    let store = SecretStore::new(stores.k8s().await?, namespace);
    let secrets = store.list_all().await?;
    let listings = checked_listings(&mut stores, namespace, &secrets).await?;
    let older_than_s = older_than.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let choices = prune_plan(&listings, &secrets, keep, older_than_s);
    let mut deleted = 0;
    if !dry_run {
        for choice in choices.iter().filter(|c| c.delete) {
            for name in &choice.secrets {
                store.delete(name).await?;
            }
            deleted += 1;
        }
    }
    Ok(PruneReport { namespace: namespace.to_owned(), dry_run, choices, deleted })
}
