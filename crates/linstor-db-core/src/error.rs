//! The one error type of linstor-db-core. Every message names the problem and, where there is one,
//! the fix; the cause stays available through `source()`.

use std::path::PathBuf;

use crate::schema::DataVersion;

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in linstor-db-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `linstor.toml` does not exist.
    #[error("no LINSTOR configuration at {path}: pass the directory holding linstor.toml with -c DIR, or name the store explicitly (etcd://HOST:PORT, k8s or a file)")]
    ConfigMissing {
        /// The path looked for.
        path: PathBuf,
    },
    /// `linstor.toml` or a file it names could not be read.
    #[error("cannot read {path}: {source}")]
    ConfigUnreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `linstor.toml` is not valid TOML or has a value of the wrong type.
    #[error("error parsing '{path}': {message}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A store address or `connection_url` this tool cannot use.
    #[error("store '{address}' is not usable: {reason}")]
    InvalidStore {
        /// The address as given.
        address: String,
        /// Why, and what to use instead.
        reason: String,
    },
    /// A data version this tool does not know.
    #[error("unknown LINSTOR data version '{found}': this tool knows v1-19-1 to v1-33-1 (LINSTOR 1.24 to 1.34); use a newer linstor-db")]
    UnknownDataVersion {
        /// The version found.
        found: String,
    },
    /// A table that does not exist in a data version.
    #[error("table {table} does not exist in LINSTOR data version {data_version}")]
    UnknownTable {
        /// The table name.
        table: String,
        /// The data version.
        data_version: DataVersion,
    },
    /// The export file could not be opened, created or written.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// `open`, `create`, `write` …
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The export file is not a complete, valid LINSTOR export.
    #[error("{path} is not a valid LINSTOR database export: {detail}")]
    CorruptExport {
        /// The file.
        path: PathBuf,
        /// What is wrong, with position when known.
        detail: String,
    },
    /// The export (or store) comes from a LINSTOR newer than this tool knows.
    #[error("{what} was created by a newer LINSTOR than this tool knows ({found}; newest known: {newest}): use a newer linstor-db")]
    TooNew {
        /// What was checked.
        what: String,
        /// The version found.
        found: String,
        /// The newest version this tool knows.
        newest: String,
    },
    /// A row that cannot be encoded or decoded.
    #[error("table {table}, row {key}: {detail}")]
    InvalidRow {
        /// The table.
        table: String,
        /// The row's primary key (or etcd key).
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The store holds no LINSTOR database (or one this tool cannot read).
    #[error("{store} does not hold a usable LINSTOR database: {detail}")]
    NotLinstor {
        /// The store.
        store: String,
        /// What was found, and what to do.
        detail: String,
    },
    /// The store's database version is outside what this tool supports.
    #[error("{store}: {detail}")]
    UnsupportedVersion {
        /// The store.
        store: String,
        /// The version found and what to do.
        detail: String,
    },
    /// A write target already holds LINSTOR data.
    #[error("{store} already holds a LINSTOR database ({detail}); nothing was written. Re-run with --replace to overwrite it")]
    TargetNotEmpty {
        /// The target.
        store: String,
        /// What was found.
        detail: String,
    },
    /// Another job writes the target now.
    #[error("{store} is being written by another job: {holder}. Nothing was written. Wait until it ends (or stop it); the lock of a job that was killed lapses within {ttl_s} s, at once on the host it ran on")]
    TargetLocked {
        /// The target.
        store: String,
        /// Who holds the lock.
        holder: String,
        /// Seconds until an abandoned lock lapses.
        ttl_s: u64,
    },
    /// A store holds an import that did not finish.
    #[error("{store} holds an incomplete import ({detail}). {recovery}")]
    IncompleteImport {
        /// The store.
        store: String,
        /// The marker's content.
        detail: String,
        /// How to finish or undo it, for this store (commands that run as printed).
        recovery: String,
    },
    /// A write into a store failed part-way; the store is marked incomplete.
    #[error("writing to {store} failed after {rows_written} rows: {source}. {recovery}")]
    WriteInterrupted {
        /// The target.
        store: String,
        /// Rows written before the failure.
        rows_written: u64,
        /// What the failure left and how to finish or undo it, for this target.
        recovery: String,
        /// The cause.
        #[source]
        source: Box<Error>,
    },
    /// A data version the target backend cannot store.
    #[error("{store} cannot store LINSTOR data version {data_version}: {reason}")]
    DataVersionNotSupported {
        /// The target.
        store: String,
        /// The data version of the input.
        data_version: DataVersion,
        /// Why, and what to do.
        reason: String,
    },
    /// A TLS file named in the configuration is unusable.
    #[error("TLS setting {setting} ({path}): {detail}")]
    Tls {
        /// The linstor.toml key.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Connecting to etcd failed.
    #[cfg(feature = "etcd")]
    #[error("cannot connect to etcd at {endpoints}: {source}. Check the address, that etcd runs, and the TLS/user settings in linstor.toml")]
    EtcdConnect {
        /// The endpoints.
        endpoints: String,
        /// The client error.
        #[source]
        source: Box<etcd_client::Error>,
    },
    /// An etcd request failed.
    #[cfg(feature = "etcd")]
    #[error("etcd {operation} under '{prefix}' failed: {source}")]
    Etcd {
        /// `read`, `write`, `delete` …
        operation: &'static str,
        /// The key prefix involved.
        prefix: String,
        /// The client error.
        #[source]
        source: Box<etcd_client::Error>,
    },
    /// A store kept failing with transient errors (unreachable, no leader, no answer) for longer
    /// than the retry timeout without any request succeeding.
    #[error("gave up on {store}: no request succeeded for {stalled} (--retry-timeout {timeout}); the last error: {source}. Check that the store runs and is reachable (for etcd: that a quorum of its members runs), or allow more time with --retry-timeout")]
    StoreUnavailable {
        /// The store.
        store: String,
        /// How long nothing succeeded.
        stalled: String,
        /// The retry timeout.
        timeout: String,
        /// The last failure.
        #[source]
        source: Box<Error>,
    },
    /// Connecting to the Kubernetes API failed (configuration or reachability).
    #[cfg(feature = "k8s")]
    #[error("cannot connect to the Kubernetes API{server}: {source}. Check KUBECONFIG / --kubeconfig and --context, or run inside the cluster with a service account")]
    K8sConnect {
        /// ` at <url>` when known.
        server: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The Kubernetes credentials lack a permission.
    #[error("the Kubernetes API refused to {verb} {resource}: {message}. Grant it, for example with the ClusterRole in deploy/rbac.yaml")]
    K8sForbidden {
        /// The verb (list, create, …).
        verb: &'static str,
        /// The resource.
        resource: String,
        /// The API server's message.
        message: String,
    },
    /// A Kubernetes API request failed.
    #[cfg(feature = "k8s")]
    #[error("Kubernetes API: {verb} {resource} failed: {source}")]
    K8s {
        /// The verb (list, create, …).
        verb: &'static str,
        /// The resource.
        resource: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A read pinned to one revision of the Kubernetes API could not finish at it: the API server
    /// compacted the revision away (410 Gone), or LINSTOR transactions were open at every revision
    /// tried. Jobs start such a read again at a new revision a bounded number of times.
    #[error("{store}: no consistent read at one revision: {detail}")]
    NoConsistentRevision {
        /// The store read.
        store: String,
        /// What happened, and what to do.
        detail: String,
        /// The revision was compacted away while it was read; reading again at a new one may succeed.
        compacted: bool,
    },
    /// A backup (archive, directory, dump or Secret) that cannot be used.
    #[error("{what} is not a usable LINSTOR backup: {detail}")]
    CorruptBackup {
        /// The backup.
        what: String,
        /// What is wrong, and what to do.
        detail: String,
    },
    /// A backup Secret with that name exists already; backups are never overwritten.
    #[error("backup {what} exists already; backups are never overwritten. Choose another name, or delete it and its parts first (kubectl delete secret -n {namespace} -l linstor-db/backup={name})")]
    BackupExists {
        /// `secret://NAMESPACE/NAME`.
        what: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Secrets of a backup of that name that did not finish are left; nothing was created.
    #[error("backup {what} cannot be written: {found} are left from a backup of that name that did not finish; nothing was created. Delete them (kubectl delete secret -n {namespace} -l linstor-db/backup={name}) and run the same command again")]
    BackupLeftovers {
        /// `secret://NAMESPACE/NAME`.
        what: String,
        /// The Secrets found, with their state.
        found: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A running LINSTOR controller would race with a job that writes its database.
    #[error("the LINSTOR controller {namespace}/{name} is running ({replicas} replicas) and would race with this write. Stop it (kubectl scale -n {namespace} deployment/{name} --replicas=0), or pass --controller {namespace}/{name} to let linstor-db scale it down and back up, or --allow-running-controller if you are sure it is not using this database")]
    ControllerRunning {
        /// Namespace of the Deployment.
        namespace: String,
        /// Name of the Deployment.
        name: String,
        /// Its replicas.
        replicas: i32,
    },
    /// The controller could not be stopped or started again.
    #[error("LINSTOR controller {deployment}: {detail}")]
    Controller {
        /// `NAMESPACE/NAME`.
        deployment: String,
        /// What failed, and what to do.
        detail: String,
    },
    /// After writing, the target does not hold what was written.
    #[error("verification failed: {target} differs from {source_store} in {differences} rows ({summary}). {recovery}")]
    VerifyFailed {
        /// What was compared against.
        source_store: String,
        /// The target.
        target: String,
        /// Number of differences.
        differences: u64,
        /// Tables with differences, then the first differences as `linstor-db diff` prints them.
        summary: String,
        /// What the target holds now and how to finish or undo.
        recovery: String,
    },
    /// An argument of the job is out of what it can do (the message names the limit).
    #[error("{0}")]
    InvalidArgument(String),
    /// A destructive job was refused because its safety condition does not hold.
    #[error("{0}")]
    Refused(String),
    /// The data breaks invariants LINSTOR checks when it loads its database (`linstor-db check`), so
    /// it was not written: LINSTOR would refuse to start on it.
    #[error("{store} holds rows LINSTOR would refuse to load, so nothing was written: {rules}; e.g. {examples}. Fix the rows (`linstor-db check {store}` lists them), or pass --no-check to write it anyway")]
    CheckFailed {
        /// The data checked.
        store: String,
        /// The refusing rules with their counts (`net-interface-node: 1 row`).
        rules: String,
        /// A few offending rows (`NODE_NET_INTERFACES TESTNODE1:DEFAULT: no node TESTNODE1`).
        examples: String,
    },
    /// The operation was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
    /// An internal task failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A read whose revision was compacted away, also as the cause of the write it interrupted:
    /// reading again at a new revision may succeed.
    pub fn is_compacted_revision(&self) -> bool {
        match self {
            Error::NoConsistentRevision { compacted, .. } => *compacted,
            Error::WriteInterrupted { source, .. } => source.is_compacted_revision(),
            _ => false,
        }
    }
}
