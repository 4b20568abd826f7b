//! One function per job, taking store addresses and options exactly as the CLI and the C ABI do, and
//! returning a report that serialises to JSON. The CLI and `linstor-db-ffi` are thin shells over this
//! module; the engines below it ([`crate::engine`]) know nothing about addresses or flags.
//!
//! One module per job family: [`export_import`] (export-db, import-db), [`info`] (info, verify, check),
//! [`generate`], [`backup`] (backup, backup list), [`restore`], [`migrate`], [`purge`]; this module
//! holds the options and the steps they share. A job connects to each store once ([`Stores`]) and
//! opens every source and target of its steps on that connection.

mod backup;
mod export_import;
mod generate;
mod info;
mod migrate;
mod purge;
mod restore;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::backend::controller::ControllerGuard;
use crate::backend::{Connection, Reading, Stores};
use crate::config::{DbConfig, DEFAULT_CONFIG_DIR};
use crate::engine::compare::CompareReport;
use crate::engine::{CopyOptions, Progress, ProgressFn};
use crate::error::{Error, Result};
use crate::export::now_ms;
use crate::k8s_layout::rfc3339_utc;
use crate::store::StoreAddress;

pub use backup::{backup, list_backups, prune_backups, BackupReport, PruneReport};
pub use export_import::{export, import};
pub use generate::generate;
pub use info::{check, info, verify, CheckJobReport, InfoReport};
pub use migrate::{migrate, MigrateReport};
pub use purge::{purge, PurgeReport};
pub use restore::{restore, RestoreReport, TableChanges};

/// Options shared by every job; each job reads the ones that apply to it.
#[derive(Clone, Default)]
pub struct JobOptions {
    /// Overwrite a target that already holds a LINSTOR database (restore, import, migrate, generate).
    pub replace: bool,
    /// Report what would change without writing anything (restore).
    pub dry_run: bool,
    /// Restore older data over a cluster whose LINSTOR CRDs store newer data (a failed upgrade): with
    /// `replace`, the CRDs are deleted after the safety backup and created as the backup's release
    /// has them (restore; k8s only, etcd's `replace` already replaces every key).
    pub allow_downgrade: bool,
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
    /// Write data that breaks LINSTOR's load-time invariants (`linstor-db check`); import, restore and
    /// migrate otherwise refuse it before the first write.
    pub no_check: bool,
    /// How a Kubernetes database is read consistently (backup, export-db).
    pub consistency: Consistency,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Set to true to stop the job at the next batch.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl JobOptions {
    fn copy_options(&self, replace: bool) -> CopyOptions {
        CopyOptions {
            replace,
            no_check: self.no_check,
            size_limits: None,
            job: None,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
        }
    }

    /// The check of rows bound for `to` before they are written; `None` with `no_check`.
    fn check_for(&self, to: &StoreAddress) -> Option<crate::check::SizeLimits> {
        (!self.no_check).then(|| to.size_limits())
    }
}

/// How a backup or export of a Kubernetes database is made consistent (`--consistent`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Every table at one revision at which no LINSTOR transaction is open: the controller keeps
    /// running. A read the API server's compaction cuts short starts again at a new revision.
    #[default]
    Revision,
    /// The controller is stopped while the tables are read (with `controller`, scaled to zero and
    /// back; else it must be stopped already): for reads that take longer than the API server keeps
    /// old revisions (its `--etcd-compaction-interval`, 5 minutes by default).
    StoppedController,
}

impl std::str::FromStr for Consistency {
    type Err = Error;

    fn from_str(text: &str) -> Result<Consistency> {
        match text {
            "revision" => Ok(Consistency::Revision),
            "stopped-controller" => Ok(Consistency::StoppedController),
            other => Err(Error::InvalidArgument(format!(
                "unknown consistency '{other}': use 'revision' (the default: one revision, the controller keeps running) or 'stopped-controller'"
            ))),
        }
    }
}

impl Consistency {
    fn reading(self) -> Reading {
        match self {
            Consistency::Revision => Reading::AtOneRevision,
            Consistency::StoppedController => Reading::Newest,
        }
    }
}

/// Reads that the API server's compaction may cut short, each at a new revision, before a job gives up.
const READ_ATTEMPTS: u32 = 3;

/// Runs `read` (a whole read of a store and what is made of it) again from the start when the
/// revision it reads at was compacted away while it ran, at most [`READ_ATTEMPTS`] times.
async fn at_one_revision<T>(mut read: impl AsyncFnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 1;
    loop {
        match read().await {
            Err(e) if e.is_compacted_revision() && attempt < READ_ATTEMPTS => {
                tracing::warn!("{e}; reading again from the start at a new revision");
                attempt += 1;
            }
            other => return other,
        }
    }
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

/// What a target store holds before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holds {
    Nothing,
    /// An interrupted write, and the job that wrote it if the marker names one.
    IncompleteImport(Option<String>),
    Database,
}

async fn probe(stores: &mut Stores<'_>, store: &StoreAddress) -> Result<Holds> {
    let mut source = stores.source(store).await?;
    match source.open().await {
        Ok(_) => Ok(Holds::Database),
        Err(Error::IncompleteImport { detail, .. }) => {
            let marker: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
            Ok(Holds::IncompleteImport(marker["job"].as_str().map(str::to_owned)))
        }
        Err(Error::NotLinstor { .. }) => Ok(Holds::Nothing),
        Err(e) => Err(e),
    }
}

/// The identity of the job `verb` reading `from`, kept in the marker of the target it writes.
async fn job_identity(stores: &mut Stores<'_>, verb: &str, from: &StoreAddress) -> Result<String> {
    let what = match from {
        StoreAddress::File(path) => std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()).display().to_string(),
        _ => stores.source(from).await?.describe(),
    };
    Ok(format!("{verb} of {what}"))
}

/// Whether this job may write over what `to` holds: an interrupted write only by the same job (it
/// finishes it) or with `replace`; a database only with `replace`.
fn may_write_over(holds: &Holds, job: &str, to: &StoreAddress, replace: bool) -> Result<()> {
    match holds {
        Holds::IncompleteImport(Some(other)) if other == job || replace => Ok(()),
        Holds::IncompleteImport(other) if !replace => Err(Error::Refused(format!(
            "{to} holds an interrupted write by another job ({}), which only that job finishes; run it again to finish it, or write this data over it with --replace (nothing was written)",
            other.as_deref().unwrap_or("an earlier version of linstor-db")
        ))),
        _ => Ok(()),
    }
}

/// The safety backup of what a replacing job writes over in `to`, kept at `keep`: a database, or an
/// interrupted write of another job (read at the data version its marker names, and kept marked as
/// interrupted: see [`crate::archive::Manifest::interrupted`]). `None` when `to` holds nothing, or
/// `job`'s own interrupted write, which this run finishes.
async fn back_up_replaced(
    stores: &mut Stores<'_>,
    to: &StoreAddress,
    (holds, job): (&Holds, &str),
    keep: &StoreAddress,
    options: &JobOptions,
) -> Result<Option<BackupReport>> {
    let reading = match holds {
        Holds::Nothing => return Ok(None),
        Holds::IncompleteImport(Some(own)) if own == job => return Ok(None),
        Holds::IncompleteImport(_) => Reading::Interrupted,
        Holds::Database => Reading::AtOneRevision,
    };
    step(options, "back up the target");
    Ok(Some(backup::backup_checked(stores, (to, reading), keep, options, None).await?.0))
}

/// `backup` with `-replaced` added to its name (before `.tar.gz`): where migrate keeps the backup of
/// the target it replaces, beside the backup of its source.
fn replaced_sibling(backup: &StoreAddress) -> StoreAddress {
    match backup {
        StoreAddress::File(path) => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let renamed = match name.strip_suffix(".tar.gz") {
                Some(stem) => format!("{stem}-replaced.tar.gz"),
                None => format!("{name}-replaced"),
            };
            StoreAddress::File(path.with_file_name(renamed))
        }
        StoreAddress::Secret { namespace, name } => {
            StoreAddress::Secret { namespace: namespace.clone(), name: format!("{name}-replaced") }
        }
        other => other.clone(),
    }
}

async fn jobs_compare(stores: &mut Stores<'_>, a: &StoreAddress, b: &StoreAddress) -> Result<CompareReport> {
    info::verify_with(stores, a, b, |_| {}).await
}

/// Differences a failed verification names (once marked, the target cannot be read by `diff`).
const VERIFY_EXAMPLES: usize = 5;

/// [`jobs_compare`] of a target after writing, keeping the first differences for the message.
async fn verify_written(
    stores: &mut Stores<'_>,
    a: &StoreAddress,
    b: &StoreAddress,
) -> Result<(CompareReport, Vec<String>)> {
    let mut examples = Vec::new();
    let report = info::verify_with(stores, a, b, |d| {
        if examples.len() < VERIFY_EXAMPLES {
            examples.push(d.to_string());
        }
    })
    .await?;
    Ok((report, examples))
}

/// The failure of the verification of `to` against `from`: `to` is marked as an incomplete import
/// first, so that LINSTOR does not start on data that differs from what was meant.
async fn verify_failed(
    target: &mut dyn crate::backend::Target,
    (report, examples): (&CompareReport, Vec<String>),
    note: &str,
) -> Error {
    let summary: Vec<String> =
        report.tables.iter().filter(|t| t.3 > 0).map(|(table, _, _, n)| format!("{table}: {n}")).collect();
    let recovery = match target.mark_incomplete("the verification after writing found differences").await {
        Ok(()) => format!("{note}{}", target.recovery()),
        Err(e) => format!(
            "{note}Marking it as an incomplete import failed too ({e}): stop LINSTOR from starting on it, then {}",
            target.recovery()
        ),
    };
    Error::VerifyFailed {
        source_store: report.a.clone(),
        target: report.b.clone(),
        differences: report.differences,
        summary: format!("{}: {}", summary.join(", "), examples.join("; ")),
        recovery,
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
async fn guard(stores: &mut Stores<'_>, target: &StoreAddress, options: &JobOptions) -> Result<ControllerGuard> {
    match stores.k8s().await {
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
