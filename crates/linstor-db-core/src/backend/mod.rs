//! The two traits every store implements, and their adapters. A copy is one data flow:
//! a [`Source`] emits tables and row batches, a [`Target`] takes them (see [`crate::engine`]).

pub mod archive;
pub mod file;
pub mod lock;
pub(crate) mod retry;
pub mod sorted;

#[cfg(feature = "etcd")]
pub mod etcd;

#[cfg(feature = "k8s")]
pub mod k8s;

#[cfg(feature = "k8s")]
pub mod secret;

#[cfg(feature = "k8s")]
pub mod controller;

use async_trait::async_trait;

use crate::config::DbConfig;
use crate::error::{Error, Result};
use crate::export::ExportMeta;
use crate::row::Row;
use crate::schema::Table;
use crate::store::{shell_quote, StoreAddress};

/// One step of a stream of tables and rows.
#[derive(Debug)]
pub enum Event {
    /// The rows that follow belong to this table.
    TableStart(&'static Table),
    /// Some rows of the current table.
    Rows(Vec<Row>),
    /// The current table is complete.
    TableEnd,
}

/// A store that can be read as a consistent point-in-time stream of tables.
#[async_trait]
pub trait Source: Send {
    /// The store, for messages (never contains secrets).
    fn describe(&self) -> String;

    /// Pins a consistent view and returns the versions of the data (the LINSTOR release it belongs to).
    async fn open(&mut self) -> Result<ExportMeta>;

    /// The next event; `None` after the last table.
    async fn next_event(&mut self) -> Result<Option<Event>>;
}

/// A store that can be written.
#[async_trait]
pub trait Target: Send {
    /// The store, for messages (never contains secrets).
    fn describe(&self) -> String;

    /// Read-only checks before anything is written: can the target hold this data version, is it
    /// empty (or may it be replaced), is nothing else half-done in it.
    async fn preflight(&mut self, meta: &ExportMeta, replace: bool) -> Result<()>;

    /// Marks the target as being written (so that an interruption is visible) and prepares it.
    async fn begin(&mut self, meta: &ExportMeta) -> Result<()>;

    /// A table starts; a replacing target clears it here.
    async fn begin_table(&mut self, table: &'static Table) -> Result<()>;

    /// Writes rows of the current table; returns how many the target keeps (an export file leaves
    /// out tables LINSTOR never exports).
    async fn write_rows(&mut self, table: &'static Table, rows: Vec<Row>) -> Result<u64>;

    /// The current table is complete; returns whether the target kept the table.
    async fn end_table(&mut self, table: &'static Table) -> Result<bool>;

    /// Sets the version markers and clears the in-progress mark: the data is complete.
    async fn commit(&mut self, meta: &ExportMeta) -> Result<()>;

    /// What a write that failed after [`Target::begin`] leaves in this target, and how to finish or
    /// undo it: commands that run as printed.
    fn recovery(&self) -> String;

    /// Marks committed data as an incomplete import again (its verification failed): LINSTOR refuses
    /// to start on it, and [`Target::recovery`] says how to finish or undo it.
    async fn mark_incomplete(&mut self, reason: &str) -> Result<()>;

    /// After a failed write: removes this job's writer lock now, not in the background once the
    /// target is dropped, so that the next job (in the same process too: library users) finds the
    /// target free at once. The in-progress marker stays.
    async fn release_lock(&mut self) {}
}

/// How a database store is read ([`Stores::source_reading`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The database with every table at one revision; on Kubernetes one at which no LINSTOR
    /// transaction is open, so a running controller may keep writing.
    AtOneRevision,
    /// The database with each Kubernetes table as its newest list: consistent only while the
    /// controller is stopped, but not bound to how long the API server keeps old revisions.
    Newest,
    /// The interrupted write the store holds, as it is, at the data version its in-progress marker
    /// names (a store without a marker reads as [`Reading::AtOneRevision`]).
    Interrupted,
}

/// How to reach stores: `linstor.toml` settings (etcd TLS, credentials, prefix; k8s retries) and the
/// Kubernetes client configuration.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// The `[db]` settings.
    pub config: DbConfig,
    /// Kubeconfig file; `None` infers (`$KUBECONFIG`, `~/.kube/config`, in-cluster service account).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Kubeconfig context; `None` uses the current one.
    pub kube_context: Option<String>,
    /// The directory of `linstor.toml` the user named (`-c`), for the commands messages print.
    pub config_dir: Option<std::path::PathBuf>,
    /// How long a store may fail with transient errors without any request succeeding;
    /// `None`: [`crate::store::DEFAULT_RETRY_TIMEOUT`].
    pub retry_timeout: Option<std::time::Duration>,
}

impl Connection {
    /// A connection with these `[db]` settings and an inferred Kubernetes configuration.
    pub fn new(config: DbConfig) -> Connection {
        Connection { config, ..Connection::default() }
    }

    /// The retry timeout in effect.
    pub fn retry_timeout(&self) -> std::time::Duration {
        self.retry_timeout.unwrap_or(crate::store::DEFAULT_RETRY_TIMEOUT)
    }

    /// The `linstor-db` command line with `args` that reaches the same stores as this connection
    /// (`-c`, `--kubeconfig`, `--context`, `--retry-timeout`), quoted for a POSIX shell: it runs as
    /// printed.
    pub fn command(&self, args: &[&str]) -> String {
        let mut words = vec!["linstor-db".to_owned()];
        let mut option = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                words.push(format!("{flag} {}", shell_quote(&value)));
            }
        };
        option("-c", self.config_dir.as_ref().map(|d| d.display().to_string()));
        option("--kubeconfig", self.kubeconfig.as_ref().map(|k| k.display().to_string()));
        option("--context", self.kube_context.clone());
        let retry_timeout = self.retry_timeout().as_secs();
        option(
            "--retry-timeout",
            (retry_timeout != crate::store::DEFAULT_RETRY_TIMEOUT.as_secs()).then(|| format!("{retry_timeout}s")),
        );
        words.extend(args.iter().map(|a| shell_quote(a)));
        words.join(" ")
    }

    #[cfg(feature = "k8s")]
    pub(crate) fn k8s_settings(&self) -> k8s::K8sSettings {
        k8s::K8sSettings {
            kubeconfig: self.kubeconfig.clone(),
            context: self.kube_context.clone(),
            retry_timeout: self.retry_timeout(),
            ..k8s::K8sSettings::default()
        }
    }
}

/// Opens `address` for reading (a connection of its own; a job opening several uses [`Stores`]).
pub async fn open_source(address: &StoreAddress, connection: &Connection) -> Result<Box<dyn Source>> {
    Stores::new(connection).source(address).await
}

/// Opens `address` for writing (a connection of its own; a job opening several uses [`Stores`]).
pub async fn open_target(address: &StoreAddress, connection: &Connection) -> Result<Box<dyn Target>> {
    Stores::new(connection).target(address).await
}

/// The stores of one job, each connected once: every source and target opened through it shares the
/// connection of its store (one etcd client per endpoint list, one Kubernetes client), instead of
/// connecting again in every step.
pub struct Stores<'a> {
    connection: &'a Connection,
    #[cfg(feature = "etcd")]
    etcd: Vec<(Vec<String>, etcd::EtcdStore)>,
    #[cfg(feature = "k8s")]
    k8s: Option<k8s::K8sStore>,
}

impl<'a> Stores<'a> {
    /// No store connected yet.
    pub fn new(connection: &'a Connection) -> Stores<'a> {
        Stores {
            connection,
            #[cfg(feature = "etcd")]
            etcd: Vec::new(),
            #[cfg(feature = "k8s")]
            k8s: None,
        }
    }

    /// How stores are reached.
    pub fn connection(&self) -> &'a Connection {
        self.connection
    }

    /// The etcd store at `endpoints`, connected on first use.
    #[cfg(feature = "etcd")]
    pub async fn etcd(&mut self, endpoints: &[String]) -> Result<etcd::EtcdStore> {
        if let Some((_, store)) = self.etcd.iter().find(|(e, _)| e.as_slice() == endpoints) {
            return Ok(store.clone());
        }
        let settings = crate::store::EtcdSettings {
            retry_timeout: self.connection.retry_timeout(),
            ..crate::store::EtcdSettings::new(endpoints.to_vec(), &self.connection.config)
        };
        let store = etcd::EtcdStore::connect(settings).await?;
        self.etcd.push((endpoints.to_vec(), store.clone()));
        Ok(store)
    }

    /// The Kubernetes API, connected on first use (a failed connection is not kept).
    #[cfg(feature = "k8s")]
    pub async fn k8s(&mut self) -> Result<k8s::K8sStore> {
        if let Some(store) = &self.k8s {
            return Ok(store.clone());
        }
        let store = k8s::K8sStore::connect(self.connection.k8s_settings()).await?;
        self.k8s = Some(store.clone());
        Ok(store)
    }

    /// Opens `address` for reading.
    pub async fn source(&mut self, address: &StoreAddress) -> Result<Box<dyn Source>> {
        self.source_reading(address, Reading::AtOneRevision).await
    }

    /// Opens `address` for reading as `reading` says (files and backups read the same every way).
    pub async fn source_reading(&mut self, address: &StoreAddress, reading: Reading) -> Result<Box<dyn Source>> {
        match (address, reading) {
            #[cfg(feature = "etcd")]
            (StoreAddress::Etcd { endpoints }, Reading::Interrupted) => {
                return Ok(Box::new(etcd::EtcdSource::new(self.etcd(endpoints).await?).reading_interrupted()))
            }
            #[cfg(feature = "k8s")]
            (StoreAddress::K8s, Reading::Interrupted) => {
                return Ok(Box::new(k8s::K8sSource::new(self.k8s().await?).reading_interrupted()))
            }
            #[cfg(feature = "k8s")]
            (StoreAddress::K8s, Reading::Newest) => {
                return Ok(Box::new(k8s::K8sSource::new(self.k8s().await?).reading_newest()))
            }
            _ => {}
        }
        match address {
            // A file is an export-db JSON or a backup in any layout; the content tells which.
            StoreAddress::File(path) if archive::ArchiveSource::recognizes(path) => {
                Ok(Box::new(archive::ArchiveSource::new(path.clone())))
            }
            StoreAddress::File(path) => Ok(Box::new(file::ExportFileSource::new(path.clone()))),
            #[cfg(feature = "etcd")]
            StoreAddress::Etcd { endpoints } => Ok(Box::new(etcd::EtcdSource::new(self.etcd(endpoints).await?))),
            #[cfg(feature = "k8s")]
            StoreAddress::K8s => Ok(Box::new(k8s::K8sSource::new(self.k8s().await?))),
            #[cfg(feature = "k8s")]
            StoreAddress::Secret { namespace, name } => {
                let store = self.k8s().await?;
                let download = tempfile::Builder::new()
                    .prefix("linstor-db-download-")
                    .tempdir()
                    .map_err(|source| Error::File { action: "create", path: std::env::temp_dir(), source })?;
                let path = download.path().join("backup.tar.gz");
                secret::SecretStore::new(store, namespace).download(name, &path).await?;
                Ok(Box::new(archive::ArchiveSource::downloaded(download, path, address.to_string())))
            }
            #[allow(unreachable_patterns)]
            other => Err(unsupported(other)),
        }
    }

    /// Opens `address` for writing.
    pub async fn target(&mut self, address: &StoreAddress) -> Result<Box<dyn Target>> {
        match address {
            StoreAddress::File(path) => Ok(Box::new(file::ExportFileTarget::new(path.clone()))),
            #[cfg(feature = "etcd")]
            StoreAddress::Etcd { endpoints } => Ok(Box::new(etcd::EtcdTarget::new(self.etcd(endpoints).await?))),
            #[cfg(feature = "k8s")]
            StoreAddress::K8s => Ok(Box::new(k8s::K8sTarget::new(self.k8s().await?))),
            StoreAddress::Secret { .. } => Err(Error::InvalidStore {
                address: address.to_string(),
                reason: "a Secret holds backups, not a database: write one with `linstor-db backup -o secret://NAMESPACE/NAME`"
                    .into(),
            }),
            #[allow(unreachable_patterns)]
            other => Err(unsupported(other)),
        }
    }
}

/// A target that holds an interrupted import (its `marker`) may only be written by a replacing job,
/// which finishes it; otherwise the refusal says how to finish or undo it.
pub(crate) fn replace_only(target: &dyn Target, marker: String, replace: bool) -> Result<()> {
    if replace {
        return Ok(());
    }
    Err(Error::IncompleteImport { store: target.describe(), detail: marker, recovery: target.recovery() })
}

/// The metadata of the interrupted write a source reads for the safety backup taken before a job
/// replaces it: the data version and LINSTOR release the job was writing, and the job, from its
/// in-progress `marker`. Refused while `live_writer` (the job holding the writer lock) still writes.
pub(crate) fn interrupted_meta(
    store: &str,
    marker: &str,
    live_writer: Option<String>,
    exported_from: &str,
) -> Result<ExportMeta> {
    if let Some(holder) = live_writer {
        return Err(Error::TargetLocked { store: store.to_owned(), holder, ttl_s: lock::LOCK_TTL.as_secs() });
    }
    let marker: serde_json::Value = serde_json::from_str(marker).unwrap_or_default();
    let text = |field: &str| marker[field].as_str().map(str::to_owned);
    let Some(data_version) = text("data_version").and_then(|v| v.parse::<crate::schema::DataVersion>().ok()) else {
        return Err(Error::Refused(format!(
            "{store} holds an interrupted write whose in-progress marker names no data version this tool reads \
             (it was written by an earlier linstor-db), so it cannot be backed up before it is replaced; \
             nothing was written. Back it up by other means if it matters, undo it, then run this job again"
        )));
    };
    let linstor_version = text("linstor_version");
    let release = crate::schema::RELEASES
        .iter()
        .rev()
        .find(|r| r.data_version == data_version && linstor_version.as_deref() == Some(r.version))
        .unwrap_or_else(|| crate::schema::Release::newest_with(data_version));
    let mut meta = ExportMeta::for_release(release, exported_from, crate::export::now_ms());
    if let Some(version) = linstor_version {
        meta.linstor_version = version;
    }
    meta.interrupted = Some(text("job").unwrap_or_else(|| "a job of an earlier linstor-db".to_owned()));
    Ok(meta)
}

fn unsupported(address: &StoreAddress) -> Error {
    Error::InvalidStore {
        address: address.to_string(),
        reason: "this build of linstor-db has no backend for it (built without the etcd or k8s feature)".into(),
    }
}

#[async_trait]
impl<S: Source + ?Sized> Source for &mut S {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        (**self).open().await
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        (**self).next_event().await
    }
}

#[async_trait]
impl<S: Source + ?Sized> Source for Box<S> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        (**self).open().await
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        (**self).next_event().await
    }
}
