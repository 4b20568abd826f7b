//! The two traits every store implements, and their adapters. A copy is one data flow:
//! a [`Source`] emits tables and row batches, a [`Target`] takes them (see [`crate::engine`]).

pub mod archive;
pub mod file;
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
use crate::store::StoreAddress;

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
}

impl Connection {
    /// A connection with these `[db]` settings and an inferred Kubernetes configuration.
    pub fn new(config: DbConfig) -> Connection {
        Connection { config, kubeconfig: None, kube_context: None }
    }

    #[cfg(feature = "k8s")]
    pub(crate) fn k8s_settings(&self) -> k8s::K8sSettings {
        k8s::K8sSettings {
            kubeconfig: self.kubeconfig.clone(),
            context: self.kube_context.clone(),
            ..k8s::K8sSettings::new(&self.config)
        }
    }
}

/// Opens `address` for reading.
#[cfg_attr(not(all(feature = "etcd", feature = "k8s")), allow(unused_variables))]
pub async fn open_source(address: &StoreAddress, connection: &Connection) -> Result<Box<dyn Source>> {
    match address {
        // A file is an export-db JSON or a backup in any layout; the content tells which.
        StoreAddress::File(path) if archive::ArchiveSource::recognizes(path) => {
            Ok(Box::new(archive::ArchiveSource::new(path.clone())))
        }
        StoreAddress::File(path) => Ok(Box::new(file::ExportFileSource::new(path.clone()))),
        #[cfg(feature = "etcd")]
        StoreAddress::Etcd { endpoints } => {
            let store =
                etcd::EtcdStore::connect(crate::store::EtcdSettings::new(endpoints.clone(), &connection.config))
                    .await?;
            Ok(Box::new(etcd::EtcdSource::new(store)))
        }
        #[cfg(feature = "k8s")]
        StoreAddress::K8s => {
            let store = k8s::K8sStore::connect(connection.k8s_settings()).await?;
            Ok(Box::new(k8s::K8sSource::new(store)))
        }
        #[cfg(feature = "k8s")]
        StoreAddress::Secret { namespace, name } => {
            let store = k8s::K8sStore::connect(connection.k8s_settings()).await?;
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
#[cfg_attr(not(all(feature = "etcd", feature = "k8s")), allow(unused_variables))]
pub async fn open_target(address: &StoreAddress, connection: &Connection) -> Result<Box<dyn Target>> {
    match address {
        StoreAddress::File(path) => Ok(Box::new(file::ExportFileTarget::new(path.clone()))),
        #[cfg(feature = "etcd")]
        StoreAddress::Etcd { endpoints } => {
            let store =
                etcd::EtcdStore::connect(crate::store::EtcdSettings::new(endpoints.clone(), &connection.config))
                    .await?;
            Ok(Box::new(etcd::EtcdTarget::new(store)))
        }
        #[cfg(feature = "k8s")]
        StoreAddress::K8s => {
            let store = k8s::K8sStore::connect(connection.k8s_settings()).await?;
            Ok(Box::new(k8s::K8sTarget::new(store)))
        }
        StoreAddress::Secret { .. } => Err(Error::InvalidStore {
            address: address.to_string(),
            reason:
                "a Secret holds backups, not a database: write one with `linstor-db backup -o secret://NAMESPACE/NAME`"
                    .into(),
        }),
        #[allow(unreachable_patterns)]
        other => Err(unsupported(other)),
    }
}

fn unsupported(address: &StoreAddress) -> Error {
    Error::InvalidStore {
        address: address.to_string(),
        reason: "this build of linstor-db has no backend for it (built without the etcd or k8s feature)".into(),
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
