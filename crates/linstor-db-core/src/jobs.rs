//! One function per job, taking store addresses and options exactly as the CLI and the C ABI do, and
//! returning a report that serialises to JSON. The CLI and `linstor-db-ffi` are thin shells over this
//! module; the engines below it ([`crate::engine`]) know nothing about addresses or flags.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::backend::{open_source, open_target, Connection};
use crate::config::{DbConfig, DEFAULT_CONFIG_DIR};
use crate::engine::compare::{compare, CompareReport, Difference};
use crate::engine::{self, CopyOptions, CopyReport, ProgressFn, TableCount};
use crate::error::{Error, Result};
use crate::generate::{GeneratedSource, Plan};
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
    engine::import_file(file, target.as_mut(), &options.copy_options(options.replace)).await
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
