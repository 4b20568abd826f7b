//! LINSTOR's etcd backend (LINSTOR 1.1 – 1.33.x) as a [`Source`] and a [`Target`].
//!
//! Reads are paginated range reads pinned to one revision, so an export is a consistent
//! point-in-time copy however long it takes. Writes follow LINSTOR's import: one key per column,
//! transactions of at most `ops_per_transaction` operations, then `DBHISTORY/version`.
//!
//! Every request goes through `EtcdStore::call`: a transient failure (a member down, a leader
//! election, a broken connection, no answer) is retried on the next member of the endpoint list
//! with back-off, until a request succeeds or the store made no progress for `retry_timeout`.
//! Retrying is safe because every write is a put of an absolute value or a range delete, issued
//! only after the writes it depends on succeeded: an attempt that did apply before its error
//! leaves what the retry writes again. The one write that a late copy could undo, a table's
//! delete before its rows, is conditional on the table holding nothing newer (see
//! [`Target::begin_table`]). Reads keep their revision, so an export stays one point-in-time copy
//! across a failover.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, GetResponse, Identity, KvClient, LeaseClient,
    PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse,
};
use futures::stream::{FuturesUnordered, StreamExt};

use super::lock::{Holder, LOCK_RENEW, LOCK_TTL};
use super::retry::{request_timeout, Backoff, Patience};
use super::{Event, Source, Target};
use crate::error::{Error, Result};
use crate::etcd_layout::{
    prefix_range_end, row_entries, table_prefix, RowAssembler, BLOCKING_DB_VERSION, DB_VERSION_KEY, IMPORT_MARKER_KEY,
    ROLLBACK_DIR, WRITER_LOCK_KEY,
};
use crate::export::{now_ms, ExportMeta};
use crate::key_windows::KeyWindows;
use crate::row::{Row, Value};
use crate::schema::{DataVersion, Release, Table, DEFAULT_ACCESS_TYPES, RELEASES};
use crate::store::{shell_quote, EtcdSettings};

/// Keys per range request while reading: a few MiB of LINSTOR's keys per answer. Each request is
/// bounded to a window of about this many keys, as etcd walks the whole requested range ([`KeyWindows`]).
const PAGE_KEYS: i64 = 32_768;
/// Range reads per read transaction, well inside etcd's default `--max-txn-ops` of 128.
const READS_PER_TXN: usize = 64;
/// Keys of each table read by the first transaction: one page over all tables of a transaction.
const FIRST_PAGE_KEYS: i64 = PAGE_KEYS / READS_PER_TXN as i64;
/// Request bytes per write transaction; etcd's default `--max-request-bytes` is 1.5 MiB.
const TXN_BYTES: usize = 1024 * 1024;
/// Write transactions in flight at once.
const TXNS_IN_FLIGHT: usize = 8;

/// Back-off between attempts: a leader election takes about a second with etcd's defaults.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// A connection to one etcd cluster and LINSTOR prefix.
#[derive(Clone)]
pub struct EtcdStore {
    settings: EtcdSettings,
    members: Arc<Members>,
    patience: Patience,
}

/// One client per endpoint, connected on first use, and the endpoint requests go to. A request that
/// fails transiently moves every later request on to the next endpoint: etcd-client's balanced
/// channel over all endpoints keeps sending requests to a dead member ("tcp connect error").
struct Members {
    endpoints: Vec<String>,
    options: ConnectOptions,
    clients: Mutex<Vec<Option<Member>>>,
    current: AtomicUsize,
}

/// The clients of one endpoint.
#[derive(Clone)]
struct Member {
    kv: KvClient,
    lease: LeaseClient,
}

impl Members {
    /// The clients of endpoint `index`; connecting authenticates when credentials are set.
    async fn client(&self, index: usize) -> std::result::Result<Member, etcd_client::Error> {
        if let Some(member) = self.lock().get(index).cloned().flatten() {
            return Ok(member);
        }
        let endpoint =
            self.endpoints.get(index).ok_or_else(|| etcd_client::Error::InvalidArgs("no endpoint".into()))?;
        let client = Client::connect([endpoint], Some(self.options.clone())).await?;
        let kv = client.kv_client().max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX);
        let member = Member { kv, lease: client.lease_client() };
        if let Some(slot) = self.lock().get_mut(index) {
            *slot = Some(member.clone());
        }
        Ok(member)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Member>>> {
        // Cached clients stay usable even if a holder panicked.
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Endpoint `failed` failed transiently: requests go to the next one, unless another request
    /// already moved them on. Returns the endpoint now in use.
    fn move_on(&self, failed: usize) -> usize {
        let next = (failed + 1) % self.endpoints.len().max(1);
        match self.current.compare_exchange(failed, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => next,
            Err(current) => current,
        }
    }
}

impl EtcdStore {
    /// Connects and checks that etcd answers, trying each endpoint once in turn.
    pub async fn connect(settings: EtcdSettings) -> Result<EtcdStore> {
        // Keep-alive pings notice a member that stopped answering on an open connection; requiring
        // a leader makes a member cut off from its quorum fail at once instead of hanging.
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(request_timeout(settings.retry_timeout))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5))
            .with_require_leader(true);
        if let Some((user, password)) = &settings.credentials {
            options = options.with_user(user.clone(), password.clone());
        }
        if let Some(tls) = tls_options(&settings)? {
            options = options.with_tls(tls);
        }
        let members = Members {
            endpoints: settings.endpoints.clone(),
            options,
            clients: Mutex::new(vec![None; settings.endpoints.len()]),
            current: AtomicUsize::new(0),
        };
        let patience = Patience::new(settings.retry_timeout);
        let store = EtcdStore { settings, members: Arc::new(members), patience };
        // Clients connect lazily: one read proves the address, TLS and credentials.
        let probe = format!("{}{DB_VERSION_KEY}", store.settings.prefix());
        let connect_error =
            |source| Error::EtcdConnect { endpoints: store.settings.endpoints.join(","), source: Box::new(source) };
        let mut last = etcd_client::Error::InvalidArgs("no endpoint".into());
        for index in 0..store.members.endpoints.len() {
            let attempt = async {
                let mut kv = store.members.client(index).await?.kv;
                kv.get(probe.as_str(), Some(GetOptions::new().with_count_only())).await
            };
            match attempt.await {
                Ok(_) => {
                    store.members.current.store(index, Ordering::Relaxed);
                    return Ok(store);
                }
                // A member down: the next may answer.
                Err(e) if transient(&e) => last = e,
                // Refused credentials or TLS: every member would say the same.
                Err(e) => return Err(connect_error(e)),
            }
        }
        Err(connect_error(last))
    }

    /// Runs `request` on the endpoint in use; a transient failure is retried on the next endpoint
    /// after a back-off, until the store made no progress for `retry_timeout`. `request` is called
    /// once per attempt, so it must build its request afresh (the values are moved into the call).
    async fn call<T, F, Fut>(&self, operation: &'static str, what: &str, mut request: F) -> Result<T>
    where
        F: FnMut(KvClient) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        self.call_member(operation, what, |member| request(member.kv)).await
    }

    /// [`Self::call`] with every client of the member (leases).
    async fn call_member<T, F, Fut>(&self, operation: &'static str, what: &str, mut request: F) -> Result<T>
    where
        F: FnMut(Member) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let since = tokio::time::Instant::now();
        let mut backoff = Backoff::new(FIRST_RETRY_DELAY, MAX_RETRY_DELAY);
        loop {
            let member = self.members.current.load(Ordering::Relaxed);
            let outcome = match self.members.client(member).await {
                Ok(clients) => request(clients).await,
                Err(e) => Err(e),
            };
            let error = match outcome {
                Ok(value) => {
                    self.patience.progressed();
                    return Ok(value);
                }
                Err(error) => error,
            };
            let retry = transient(&error);
            let message = error.to_string();
            let failure = Error::Etcd { operation, prefix: what.to_owned(), source: Box::new(error) };
            if !retry {
                return Err(failure);
            }
            let left = match self.patience.left(since) {
                Ok(left) => left,
                Err(stalled) => return Err(self.patience.gave_up(self.describe(), stalled, failure)),
            };
            let next = self.members.move_on(member);
            let endpoints = &self.members.endpoints;
            self.patience.warn(
                || {
                    format!(
                        "waiting for etcd: {operation} under '{what}' at {} failed ({message}); retrying at {}",
                        endpoints.get(member).map_or("?", String::as_str),
                        endpoints.get(next).map_or("?", String::as_str)
                    )
                },
                left,
            );
            tracing::debug!(operation, what, member, next, error = %message, "retrying");
            tokio::time::sleep(backoff.delay(left)).await;
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &EtcdSettings {
        &self.settings
    }

    fn describe(&self) -> String {
        format!("etcd://{} (prefix {})", self.settings.endpoints.join(","), self.settings.prefix())
    }

    /// How to finish or undo an interrupted import into this prefix: the commands, as they run.
    pub fn incomplete_import_recovery(&self) -> String {
        let s = &self.settings;
        let mut etcdctl = format!("etcdctl --endpoints={}", s.endpoints.join(","));
        if let Some(ca) = &s.ca_certificate {
            etcdctl.push_str(&format!(" --cacert={}", shell_quote(&ca.display().to_string())));
        }
        if let Some((cert, key)) = &s.client_identity {
            etcdctl.push_str(&format!(
                " --cert={} --key={}",
                shell_quote(&cert.display().to_string()),
                shell_quote(&key.display().to_string())
            ));
        }
        if let Some((user, _)) = &s.credentials {
            etcdctl.push_str(&format!(" --user={}", shell_quote(user)));
        }
        format!(
            "The prefix {prefix} is marked as an incomplete import ({prefix}{IMPORT_MARKER_KEY}, {prefix}{DB_VERSION_KEY} = 1), so a LINSTOR controller refuses to start on it. Finish it: run the same command again with --replace. Undo it (deletes every key under the prefix): {etcdctl} del --prefix {quoted}",
            prefix = s.prefix(),
            quoted = shell_quote(&s.prefix()),
        )
    }

    /// Deletes every key under the LINSTOR prefix; returns how many were deleted.
    pub async fn delete_prefix(&mut self) -> Result<i64> {
        let prefix = self.settings.prefix();
        let response = self.delete_range("delete", &prefix).await?;
        Ok(response.deleted())
    }

    /// Deletes every key starting with `start` (idempotent, so retried like a read).
    async fn delete_range(&self, operation: &'static str, start: &str) -> Result<etcd_client::DeleteResponse> {
        let options = etcd_client::DeleteOptions::new().with_range(prefix_range_end(start));
        self.call(operation, start, |mut kv| {
            let options = options.clone();
            async move { kv.delete(start, Some(options)).await }
        })
        .await
    }

    fn etcd_error(&self, operation: &'static str, prefix: &str) -> impl Fn(etcd_client::Error) -> Error {
        let prefix = prefix.to_owned();
        move |source| Error::Etcd { operation, prefix: prefix.clone(), source: Box::new(source) }
    }

    /// Sends one transaction (retried like every request).
    async fn txn(&self, operation: &'static str, what: &str, txn: Txn) -> Result<etcd_client::TxnResponse> {
        self.call(operation, what, |mut kv| {
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await
    }

    /// Revokes `lease` (and with it the keys attached to it).
    async fn revoke(&self, lease: i64) -> Result<()> {
        self.call_member("lease", WRITER_LOCK_KEY, |mut member| async move { member.lease.revoke(lease).await })
            .await
            .map(|_| ())
    }

    /// Runs range reads as one transaction, so they see one revision and cost one round trip.
    async fn read_txn(&mut self, reads: Vec<(Vec<u8>, GetOptions)>, what: &str) -> Result<(i64, Vec<GetResponse>)> {
        let ops = reads.into_iter().map(|(key, options)| TxnOp::get(key, Some(options))).collect::<Vec<_>>();
        let txn = Txn::new().and_then(ops);
        let response = self.txn("read", what, txn).await?;
        let revision = response.header().map_or(0, |h| h.revision());
        let gets = response
            .op_responses()
            .into_iter()
            .filter_map(|op| match op {
                TxnOpResponse::Get(get) => Some(get),
                _ => None,
            })
            .collect();
        Ok((revision, gets))
    }

    async fn count(&mut self, start: &str) -> Result<i64> {
        Ok(self.count_response(start).await?.count())
    }

    /// Counts the keys starting with `start`; the answer's header holds the current revision.
    async fn count_response(&self, start: &str) -> Result<GetResponse> {
        self.call("read", start, |mut kv| async move { kv.get(start, Some(count_options(start))).await }).await
    }

    /// What the prefix holds: the stored version, an unfinished import, a rollback journal, key count.
    async fn state(&mut self) -> Result<StoreState> {
        let prefix = self.settings.prefix();
        let rollback = format!("{}{ROLLBACK_DIR}", self.settings.prefix_raw);
        let reads = vec![
            (format!("{prefix}{DB_VERSION_KEY}").into_bytes(), GetOptions::new()),
            (format!("{prefix}{IMPORT_MARKER_KEY}").into_bytes(), GetOptions::new()),
            (rollback.clone().into_bytes(), count_options(&rollback)),
            (prefix.clone().into_bytes(), count_options(&prefix)),
            (format!("{prefix}{WRITER_LOCK_KEY}").into_bytes(), GetOptions::new()),
        ];
        let (revision, gets) = self.read_txn(reads, &prefix).await?;
        let [version, marker, rollback, keys, lock] = gets.as_slice() else {
            return Err(Error::Internal(format!("etcd answered {} of 5 reads of {prefix}", gets.len())));
        };
        let value = |get: &GetResponse| -> Result<Option<String>> {
            match get.kvs().first() {
                Some(kv) => Ok(Some(kv.value_str().map_err(self.etcd_error("read", &prefix))?.to_owned())),
                None => Ok(None),
            }
        };
        let mod_revision = |get: &GetResponse| get.kvs().first().map_or(0, |kv| kv.mod_revision());
        Ok(StoreState {
            revision,
            version: value(version)?,
            version_revision: mod_revision(version),
            marker: value(marker)?,
            rollback_keys: rollback.count(),
            keys: keys.count(),
            lock: value(lock)?.map(|text| (Holder::parse(&text), mod_revision(lock))),
        })
    }

    /// Runs transactions of puts/deletes, several in flight, each within the count and byte limits.
    async fn run_ops(&mut self, ops: Vec<(TxnOp, usize)>) -> Result<()> {
        let limit = self.settings.ops_per_transaction.max(1);
        let prefix = self.settings.prefix();
        let mut in_flight = FuturesUnordered::new();
        let mut batch: Vec<TxnOp> = Vec::new();
        let mut bytes = 0usize;
        let mut batches = Vec::new();
        for (op, size) in ops {
            if !batch.is_empty() && (batch.len() >= limit || bytes + size > TXN_BYTES) {
                batches.push(std::mem::take(&mut batch));
                bytes = 0;
            }
            bytes += size;
            batch.push(op);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        for batch in batches {
            if in_flight.len() >= TXNS_IN_FLIGHT {
                if let Some(result) = in_flight.next().await {
                    result?;
                }
            }
            let store = self.clone();
            let prefix = prefix.clone();
            let txn = Txn::new().and_then(batch);
            in_flight.push(async move {
                store
                    .call("write", &prefix, |mut kv| {
                        let txn = txn.clone();
                        async move { kv.txn(txn).await }
                    })
                    .await
                    .map(|_| ())
            });
        }
        while let Some(result) = in_flight.next().await {
            result?;
        }
        Ok(())
    }
}

/// Whether a failed request may succeed when sent again, to this member or another: the member is
/// unreachable or went away mid-request, has no leader, is electing one, or did not answer in time.
fn transient(error: &etcd_client::Error) -> bool {
    // gRPC status codes (a published standard): CANCELLED, UNKNOWN, DEADLINE_EXCEEDED,
    // RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE.
    const CANCELLED: i32 = 1;
    const UNKNOWN: i32 = 2;
    const DEADLINE_EXCEEDED: i32 = 4;
    const RESOURCE_EXHAUSTED: i32 = 8;
    const ABORTED: i32 = 10;
    const INTERNAL: i32 = 13;
    const UNAVAILABLE: i32 = 14;
    match error {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(status) => match status.code() as i32 {
            DEADLINE_EXCEEDED | RESOURCE_EXHAUSTED | ABORTED | UNAVAILABLE => true,
            // tonic reports a connection that broke mid-request as one of these, and older etcd
            // members answer "etcdserver: leader changed" as UNKNOWN; etcd's own refusals (too
            // many operations, compacted revision, permission) carry other codes.
            CANCELLED | UNKNOWN | INTERNAL => {
                let message = status.message().to_ascii_lowercase();
                ["leader", "transport", "connect", "connection", "broken pipe", "timed out", "h2 protocol", "canceled"]
                    .iter()
                    .any(|word| message.contains(word))
            }
            _ => false,
        },
        _ => false,
    }
}

/// Counts the keys starting with `start`.
fn count_options(start: &str) -> GetOptions {
    GetOptions::new().with_range(prefix_range_end(start)).with_count_only()
}

struct StoreState {
    revision: i64,
    version: Option<String>,
    /// `mod_revision` of the version key (0: absent).
    version_revision: i64,
    marker: Option<String>,
    rollback_keys: i64,
    keys: i64,
    /// The writer lock's holder and `mod_revision`.
    lock: Option<(Holder, i64)>,
}

fn tls_options(settings: &EtcdSettings) -> Result<Option<TlsOptions>> {
    let Some(ca_path) = &settings.ca_certificate else {
        return Ok(None);
    };
    let read = |setting: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| Error::Tls { setting, path: path.to_owned(), detail: e.to_string() })
    };
    let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read("ca_certificate", ca_path)?));
    if let Some((cert_path, key_path)) = &settings.client_identity {
        let key = read("client_key_pkcs8_pem", key_path)?;
        if key.windows(b"ENCRYPTED PRIVATE KEY".len()).any(|w| w == b"ENCRYPTED PRIVATE KEY") {
            return Err(Error::Tls {
                setting: "client_key_pkcs8_pem",
                path: key_path.clone(),
                detail:
                    "encrypted client keys (client_key_password) are not supported; write an unencrypted copy with \
                         `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.plain`, readable by its owner only"
                        .into(),
            });
        }
        if !key.windows(b"BEGIN PRIVATE KEY".len()).any(|w| w == b"BEGIN PRIVATE KEY") {
            return Err(Error::Tls {
                setting: "client_key_pkcs8_pem",
                path: key_path.clone(),
                detail: "not a PKCS#8 PEM key (LINSTOR requires PKCS#8); convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pkcs8`".into(),
            });
        }
        tls = tls.identity(Identity::from_pem(read("client_certificate", cert_path)?, key));
    }
    Ok(Some(tls))
}

/// Reads a LINSTOR database from etcd at one revision.
///
/// The first transaction reads the first keys of every table (a few hundred each, one page in all)
/// and etcd's count of each; so small tables are read in that one round trip, empty ones never
/// again, and a large table goes on in windows sized from those first keys (see [`KeyWindows`]).
pub struct EtcdSource {
    store: EtcdStore,
    revision: i64,
    /// Tables not started yet, in schema order, with the answer to their first request.
    plan: VecDeque<(&'static Table, GetResponse)>,
    reading: Option<TableRead>,
    /// Rows of the current table's first response, not emitted yet.
    first_rows: Vec<Row>,
    /// Reads an interrupted write too ([`EtcdSource::reading_interrupted`]).
    interrupted: bool,
}

/// A range request under way.
type PageRequest = tokio::task::JoinHandle<Result<GetResponse>>;

struct TableRead {
    table: &'static Table,
    /// The window of the next page: from the first key not read yet, to where about a page of
    /// keys should end (or the table's end).
    window: (Vec<u8>, Vec<u8>),
    /// The request of that window, already sent.
    next_page: Option<PageRequest>,
    windows: KeyWindows,
    assembler: RowAssembler<'static>,
    done: bool,
}

impl Drop for TableRead {
    /// A read given up (an error, a cancelled job) does not leave its next page loading.
    fn drop(&mut self) {
        if let Some(request) = &self.next_page {
            request.abort();
        }
    }
}

impl EtcdSource {
    /// A source over `store` (nothing is read until [`Source::open`]).
    pub fn new(store: EtcdStore) -> EtcdSource {
        EtcdSource {
            store,
            revision: 0,
            plan: VecDeque::new(),
            reading: None,
            first_rows: Vec::new(),
            interrupted: false,
        }
    }

    /// Reads an interrupted write as it is, at the data version its marker names, for the backup
    /// taken before it is replaced; the metadata names the job ([`ExportMeta::interrupted`]).
    pub fn reading_interrupted(mut self) -> EtcdSource {
        self.interrupted = true;
        self
    }

    fn range(&self, table: &Table) -> (Vec<u8>, GetOptions) {
        let start = table_prefix(&self.store.settings.prefix(), table);
        let options = GetOptions::new().with_range(prefix_range_end(&start)).with_revision(self.revision);
        (start.into_bytes(), options)
    }

    /// Reads the first keys and the key count of every table at the source's revision.
    async fn read_first_pages(&mut self, tables: &'static [Table]) -> Result<()> {
        let prefix = self.store.settings.prefix();
        for chunk in tables.chunks(READS_PER_TXN) {
            let reads = chunk
                .iter()
                .map(|table| {
                    let (start, options) = self.range(table);
                    (start, options.with_limit(FIRST_PAGE_KEYS))
                })
                .collect();
            let (_, responses) = self.store.read_txn(reads, &prefix).await?;
            if responses.len() != chunk.len() {
                return Err(Error::Internal(format!("etcd answered {} of {} reads", responses.len(), chunk.len())));
            }
            self.plan.extend(chunk.iter().zip(responses));
        }
        Ok(())
    }

    /// Sends the range request of the window `[start, end)`, to be awaited by [`Self::read_page`];
    /// so etcd serves the next page while this one is assembled.
    fn request_page(&self, (start, end): (Vec<u8>, Vec<u8>)) -> PageRequest {
        let store = self.store.clone();
        let what = String::from_utf8_lossy(&start).into_owned();
        // Pinned to the source's revision, so a retry on another member reads the same data.
        let options = GetOptions::new().with_range(end).with_limit(PAGE_KEYS).with_revision(self.revision);
        tokio::spawn(async move {
            store
                .call("read", &what, |mut kv| {
                    let (start, options) = (start.clone(), options.clone());
                    async move { kv.get(start, Some(options)).await }
                })
                .await
        })
    }

    /// Reads the current table's next page.
    async fn read_page(&mut self) -> Result<Vec<Row>> {
        let Some(read) = self.reading.as_mut() else { return Ok(Vec::new()) };
        let prefix = table_prefix(&self.store.settings.prefix(), read.table);
        let request = match read.next_page.take() {
            Some(request) => request,
            None => {
                let window = read.window.clone();
                self.request_page(window)
            }
        };
        let response = request.await.map_err(|e| Error::Internal(format!("reading {prefix}: {e}")))??;
        self.take_page(response)
    }

    /// Assembles a page's keys into rows and moves the current table past it: to the rest of the
    /// window when etcd cut the answer short, else to the next window, requested at once.
    fn take_page(&mut self, mut response: GetResponse) -> Result<Vec<Row>> {
        let (more, count) = (response.more(), response.count());
        let kvs = response.take_kvs();
        let Some(read) = self.reading.as_mut() else { return Ok(Vec::new()) };
        let (start, end) = std::mem::take(&mut read.window);
        let span = kvs.first().zip(kvs.last()).map(|(first, last)| (first.key(), last.key()));
        read.windows.observe(&start, &end, count, kvs.len(), span);
        tracing::trace!(table = read.table.name, count, returned = kvs.len(), more, "window");
        let next_start = match kvs.last() {
            Some(last) if more => Some([last.key(), &[0]].concat()),
            _ if !read.windows.is_table_end(&end) => Some(end),
            _ => None,
        };
        let request = match next_start {
            Some(next_start) => {
                let next_end = read.windows.window_end(&next_start);
                read.window = (next_start, next_end);
                let window = read.window.clone();
                Some(self.request_page(window))
            }
            None => None,
        };
        let Some(read) = self.reading.as_mut() else { return Ok(Vec::new()) };
        read.next_page = request;
        let prefix = table_prefix(&self.store.settings.prefix(), read.table);
        let mut rows = Vec::new();
        for kv in &kvs {
            let key = kv.key_str().map_err(self.store.etcd_error("read", &prefix))?;
            let value = kv.value_str().map_err(self.store.etcd_error("read", &prefix))?;
            read.assembler.push(key, value, &mut rows)?;
        }
        if read.next_page.is_none() {
            read.assembler.finish(&mut rows)?;
            read.done = true;
        }
        Ok(rows)
    }

    /// Starts the next table of the plan; its first rows wait in `first_rows`.
    fn start_table(&mut self, table: &'static Table, first_page: GetResponse) -> Result<()> {
        let prefix = table_prefix(&self.store.settings.prefix(), table);
        let end = prefix_range_end(&prefix);
        self.reading = Some(TableRead {
            table,
            windows: KeyWindows::new(prefix.as_bytes(), &end, PAGE_KEYS as u64),
            window: (prefix.into_bytes(), end),
            next_page: None,
            assembler: RowAssembler::new(&self.store.settings.prefix(), table),
            done: false,
        });
        self.first_rows = self.take_page(first_page)?;
        Ok(())
    }
}

#[async_trait]
impl Source for EtcdSource {
    fn describe(&self) -> String {
        self.store.describe()
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        let state = self.store.state().await?;
        self.revision = state.revision;
        let meta = match &state.marker {
            Some(marker) if self.interrupted => {
                let writer = state.lock.as_ref().filter(|(holder, _)| !holder.is_gone()).map(|(h, _)| h.describe());
                super::interrupted_meta(&self.store.describe(), marker, writer, "etcd")?
            }
            _ => {
                let recovery = self.store.incomplete_import_recovery();
                let release = release_of(&self.store.describe(), &self.store.settings, &state, &recovery)?;
                ExportMeta::for_release(release, "etcd", now_ms())
            }
        };
        self.read_first_pages(&meta.data_version.schema().tables).await?;
        Ok(ExportMeta { revision: Some(self.revision.to_string()), ..meta })
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            match &self.reading {
                None => {
                    let Some((table, first_page)) = self.plan.pop_front() else { return Ok(None) };
                    self.start_table(table, first_page)?;
                    return Ok(Some(Event::TableStart(table)));
                }
                Some(_) if !self.first_rows.is_empty() => {
                    return Ok(Some(Event::Rows(std::mem::take(&mut self.first_rows))));
                }
                Some(read) if read.done => {
                    if read.assembler.skipped_keys > 0 {
                        tracing::debug!(
                            table = read.table.name,
                            keys = read.assembler.skipped_keys,
                            "skipped keys of unknown columns"
                        );
                    }
                    self.reading = None;
                    return Ok(Some(Event::TableEnd));
                }
                Some(_) => {
                    let rows = self.read_page().await?;
                    if !rows.is_empty() {
                        return Ok(Some(Event::Rows(rows)));
                    }
                }
            }
        }
    }
}

/// The release whose data the store holds, or a clear refusal.
fn release_of(store: &str, settings: &EtcdSettings, state: &StoreState, recovery: &str) -> Result<&'static Release> {
    if let Some(marker) = &state.marker {
        return Err(Error::IncompleteImport {
            store: store.to_owned(),
            detail: marker.clone(),
            recovery: recovery.to_owned(),
        });
    }
    if state.rollback_keys > 0 {
        return Err(Error::UnsupportedVersion {
            store: store.to_owned(),
            detail: format!(
                "LINSTOR's rollback journal ({}{ROLLBACK_DIR}) holds {} keys: a LINSTOR transaction was interrupted. \
                 Start the LINSTOR controller once so that it rolls back, stop it, then retry",
                settings.prefix_raw, state.rollback_keys
            ),
        });
    }
    let Some(text) = &state.version else {
        let detail = if state.keys > 0 {
            format!(
                "{} keys under {} but no {DB_VERSION_KEY} key; this is not a LINSTOR database, or not a complete one",
                state.keys,
                settings.prefix()
            )
        } else {
            format!("no keys under {}; check the address and [db.etcd] prefix", settings.prefix())
        };
        return Err(Error::NotLinstor { store: store.to_owned(), detail });
    };
    let stored: u32 = text.trim().parse().map_err(|_| Error::NotLinstor {
        store: store.to_owned(),
        detail: format!("{DB_VERSION_KEY} is '{text}', not a number"),
    })?;
    if let Some(release) = Release::for_etcd_version(stored) {
        return Ok(release);
    }
    let newest = RELEASES.iter().filter_map(|r| r.etcd_last).max().unwrap_or(0) + 1;
    let oldest = RELEASES.iter().filter_map(|r| r.etcd_last).min().unwrap_or(0) + 1;
    if stored > newest {
        return Err(Error::TooNew {
            what: store.to_owned(),
            found: format!("etcd DB version {stored}"),
            newest: format!("etcd DB version {newest}"),
        });
    }
    let detail = if (1..=34).contains(&stored) {
        format!("etcd DB version {stored} is from LINSTOR 1.8 or older; LINSTOR itself cannot upgrade it (\"Last supported Linstor version for that is 1.8.x\")")
    } else {
        format!(
            "etcd DB version {stored} is from a LINSTOR older than 1.24 (this tool reads versions {oldest} to {newest}); \
             start a LINSTOR 1.24 – 1.33 controller on it once so that it migrates the database, stop it, then retry"
        )
    };
    Err(Error::UnsupportedVersion { store: store.to_owned(), detail })
}

/// Writes a LINSTOR database into etcd the way `linstor-database import-db` does.
pub struct EtcdTarget {
    store: EtcdStore,
    wrote_access_types: bool,
    /// The in-progress marker written by `begin`, written again when a verification fails.
    marker: serde_json::Value,
    /// What `preflight` saw, which `begin` requires unchanged: the version key's and a lapsed
    /// lock's `mod_revision` (0: absent).
    seen: (i64, i64),
    /// The writer lock, from `begin` to `commit`.
    lock: Option<WriterLock>,
}

/// The writer lock held: its lease, renewed by a task (on whichever member answers).
struct WriterLock {
    lease: i64,
    store: EtcdStore,
    renew: tokio::task::JoinHandle<()>,
    /// Whether dropping revokes the lease (not once [`Target::release_lock`] did).
    revoke: bool,
}

impl WriterLock {
    fn take(store: &EtcdStore, lease: i64) -> WriterLock {
        let renewing = store.clone();
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOCK_RENEW).await;
                let renewed = renewing
                    .call_member("lease", WRITER_LOCK_KEY, |mut member| async move {
                        let (mut keeper, mut answers) = member.lease.keep_alive(lease).await?;
                        keeper.keep_alive().await?;
                        answers.message().await
                    })
                    .await;
                if let Err(e) = renewed {
                    tracing::warn!(error = %e, "the etcd writer lock could not be renewed; it lapses unless renewed again");
                }
            }
        });
        WriterLock { lease, store: store.clone(), renew, revoke: true }
    }
}

impl Drop for WriterLock {
    /// Stops renewing and revokes the lease (which deletes the lock key) when the job ends, also on
    /// failure; the in-progress marker stays. Should the revocation not run, the lease lapses.
    fn drop(&mut self) {
        self.renew.abort();
        let (store, lease) = (self.store.clone(), self.lease);
        if let (true, Ok(runtime)) = (self.revoke, tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                let _ = store.revoke(lease).await;
            });
        }
    }
}

impl EtcdTarget {
    /// A target over `store`.
    pub fn new(store: EtcdStore) -> EtcdTarget {
        EtcdTarget { store, wrote_access_types: false, marker: serde_json::Value::Null, seen: (0, 0), lock: None }
    }

    /// Takes the writer lock and sets the marker and the blocking version, in one transaction that
    /// holds only if the prefix is as `preflight` saw it: no other writer took the lock or wrote the
    /// version key since. From then on LINSTOR refuses to start on this prefix and `linstor-db info`
    /// reports the unfinished import.
    async fn lock_and_mark(&mut self) -> Result<()> {
        let prefix = self.store.settings.prefix();
        let (lock_key, version_key) = (format!("{prefix}{WRITER_LOCK_KEY}"), format!("{prefix}{DB_VERSION_KEY}"));
        let holder = Holder::this_process();
        let ttl = LOCK_TTL.as_secs() as i64;
        // Granted twice by a retry, the unused lease lapses on its own.
        let lease = self
            .store
            .call_member("lease", &lock_key, |mut member| async move { member.lease.grant(ttl, None).await })
            .await?
            .id();
        let (version_revision, lock_revision) = self.seen;
        let compares = vec![
            Compare::mod_revision(version_key.clone(), CompareOp::Equal, version_revision),
            Compare::mod_revision(lock_key.clone(), CompareOp::Equal, lock_revision),
        ];
        let ops = vec![
            TxnOp::put(lock_key.clone(), holder.to_json(), Some(PutOptions::new().with_lease(lease))),
            TxnOp::put(format!("{prefix}{IMPORT_MARKER_KEY}"), self.marker.to_string(), None),
            TxnOp::put(version_key, BLOCKING_DB_VERSION.to_owned(), None),
        ];
        let txn = Txn::new().when(compares).and_then(ops).or_else(vec![TxnOp::get(lock_key.clone(), None)]);
        let response = self.store.txn("write", &prefix, txn).await?;
        let found = response.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(get) => get.kvs().first().and_then(|kv| kv.value_str().ok()).map(Holder::parse),
            _ => None,
        });
        // A retried transaction that had applied finds this job's own record.
        if !response.succeeded() && found.as_ref() != Some(&holder) {
            let _ = self.store.revoke(lease).await;
            return Err(match found {
                Some(other) => Error::TargetLocked {
                    store: self.store.describe(),
                    holder: other.describe(),
                    ttl_s: LOCK_TTL.as_secs(),
                },
                None => Error::TargetNotEmpty {
                    store: self.store.describe(),
                    detail: "another job wrote it after this job checked it".into(),
                },
            });
        }
        self.lock = Some(WriterLock::take(&self.store, lease));
        Ok(())
    }

    /// The marker and the blocking version, in one transaction (after a failed verification).
    async fn put_marker(&mut self) -> Result<()> {
        let prefix = self.store.settings.prefix();
        self.store
            .run_ops(vec![
                EtcdTarget::put(format!("{prefix}{IMPORT_MARKER_KEY}"), self.marker.to_string()),
                EtcdTarget::put(format!("{prefix}{DB_VERSION_KEY}"), BLOCKING_DB_VERSION.to_owned()),
            ])
            .await
    }

    fn put(key: String, value: String) -> (TxnOp, usize) {
        let size = key.len() + value.len() + 16;
        (TxnOp::put(key, value, None), size)
    }

    /// The four `SEC_ACCESS_TYPES` rows of LINSTOR's `Migration_00_Init` (the table is never exported,
    /// so a fresh target needs them from here), written with their PK-column keys as the init does.
    fn access_type_ops(&self, table: &Table) -> Vec<(TxnOp, usize)> {
        let prefix = self.store.settings.prefix();
        DEFAULT_ACCESS_TYPES
            .into_iter()
            .flat_map(|(name, value)| {
                let base = format!("{prefix}{}/{name}/", table.name);
                [
                    EtcdTarget::put(format!("{base}ACCESS_TYPE_NAME"), name.to_owned()),
                    EtcdTarget::put(format!("{base}ACCESS_TYPE_VALUE"), value.to_string()),
                ]
            })
            .collect()
    }
}

#[async_trait]
impl Target for EtcdTarget {
    fn describe(&self) -> String {
        self.store.describe()
    }

    async fn preflight(&mut self, meta: &ExportMeta, replace: bool) -> Result<()> {
        let store = self.store.describe();
        if meta.data_version > DataVersion::LAST_ETCD || meta.etcd_version.is_none() {
            return Err(Error::DataVersionNotSupported {
                store,
                data_version: meta.data_version,
                reason: format!(
                    "LINSTOR stored data on etcd up to {} (LINSTOR 1.33.x); this data is from LINSTOR {} which has no etcd backend. Import it into k8s instead",
                    DataVersion::LAST_ETCD,
                    meta.linstor_version
                ),
            });
        }
        let state = self.store.state().await?;
        let lock_revision = match &state.lock {
            Some((holder, _)) if !holder.is_gone() => {
                return Err(Error::TargetLocked { store, holder: holder.describe(), ttl_s: LOCK_TTL.as_secs() })
            }
            Some((_, revision)) => *revision,
            None => 0,
        };
        self.seen = (state.version_revision, lock_revision);
        if let Some(marker) = state.marker {
            return super::replace_only(self, marker, replace);
        }
        if state.keys > 0 && !replace {
            let version =
                state.version.map_or_else(|| "no DBHISTORY/version".to_owned(), |v| format!("DBHISTORY/version = {v}"));
            return Err(Error::TargetNotEmpty {
                store,
                detail: format!("{} keys under {}, {version}", state.keys, self.store.settings.prefix()),
            });
        }
        Ok(())
    }

    async fn begin(&mut self, meta: &ExportMeta) -> Result<()> {
        let prefix = self.store.settings.prefix();
        self.marker = serde_json::json!({
            "tool": format!("linstor-db {}", crate::TOOL_VERSION),
            "started_ms": now_ms(),
            "data_version": meta.data_version.as_str(),
            "linstor_version": meta.linstor_version,
            "job": meta.job,
            "finish": "re-run the import with --replace",
            "undo": format!("delete every key under {prefix}"),
        });
        self.lock_and_mark().await?;
        // A left-over LINSTOR journal would be replayed over the imported data at the next start.
        let rollback = format!("{}{ROLLBACK_DIR}", self.store.settings.prefix_raw);
        self.store.delete_range("delete", &rollback).await?;
        Ok(())
    }

    async fn begin_table(&mut self, table: &'static Table) -> Result<()> {
        // LINSTOR's import truncates exactly the tables present in the file. A late copy of this
        // delete (sent to a member that stalled, and applied after its retry succeeded elsewhere)
        // must not remove the rows written next: it applies only while no key of the table is
        // newer than now.
        let start = table_prefix(&self.store.settings.prefix(), table);
        let end = prefix_range_end(&start);
        let header = self.store.count_response(&start).await?.header().cloned();
        let now = header.map_or(0, |h| h.revision());
        let txn = Txn::new()
            .when([Compare::mod_revision(start.clone(), CompareOp::Less, now + 1).with_range(end.clone())])
            .and_then([TxnOp::delete(start.clone(), Some(etcd_client::DeleteOptions::new().with_range(end)))]);
        let response = self.store.txn("delete", &start, txn).await?;
        if !response.succeeded() {
            return Err(Error::Refused(format!(
                "keys under {start} changed while this import cleared them: something else writes this prefix (a running LINSTOR controller?). Stop it, then run the same command again with --replace"
            )));
        }
        self.wrote_access_types |= table.name == "SEC_ACCESS_TYPES";
        Ok(())
    }

    async fn write_rows(&mut self, table: &'static Table, rows: Vec<Row>) -> Result<u64> {
        let prefix = self.store.settings.prefix();
        let mut ops = Vec::with_capacity(rows.len() * table.columns.len());
        // etcd refuses a transaction that puts one key twice: a row repeated (`check` refuses repeats
        // with other values, unless `--no-check`) is written once.
        let mut keys = std::collections::HashSet::with_capacity(rows.len());
        let mut kept = 0;
        for row in &rows {
            if !keys.insert(row.formatted_key(table)) {
                continue;
            }
            kept += 1;
            for (key, value) in row_entries(&prefix, table, row) {
                ops.push(EtcdTarget::put(key, value));
            }
            // LINSTOR's etcd holds these rows only from its init migration, which also writes the
            // primary-key column: a copied database looks the same key for key.
            if let (true, Some(Value::Text(name))) =
                (table.name == "SEC_ACCESS_TYPES", row.cells.first().cloned().flatten())
            {
                ops.push(EtcdTarget::put(format!("{prefix}{}/{name}/ACCESS_TYPE_NAME", table.name), name));
            }
        }
        self.store.run_ops(ops).await?;
        Ok(kept)
    }

    async fn end_table(&mut self, _table: &'static Table) -> Result<bool> {
        Ok(true)
    }

    async fn commit(&mut self, meta: &ExportMeta) -> Result<()> {
        let prefix = self.store.settings.prefix();
        if !self.wrote_access_types {
            if let Some(table) = meta.data_version.schema().table("SEC_ACCESS_TYPES") {
                let start = table_prefix(&prefix, table);
                if self.store.count(&start).await? == 0 {
                    let ops = self.access_type_ops(table);
                    self.store.run_ops(ops).await?;
                }
            }
        }
        let etcd_last = meta.etcd_version.ok_or_else(|| Error::Internal("commit without etcd_version".into()))?;
        let finish = vec![
            EtcdTarget::put(format!("{prefix}{DB_VERSION_KEY}"), (etcd_last + 1).to_string()),
            (TxnOp::delete(format!("{prefix}{IMPORT_MARKER_KEY}"), None), 64),
            (TxnOp::delete(format!("{prefix}{WRITER_LOCK_KEY}"), None), 64),
        ];
        self.store.run_ops(finish).await?;
        self.lock = None;
        Ok(())
    }

    async fn release_lock(&mut self) {
        if let Some(mut lock) = self.lock.take() {
            lock.renew.abort();
            lock.revoke = false;
            let _ = self.store.revoke(lock.lease).await;
        }
    }

    fn recovery(&self) -> String {
        self.store.incomplete_import_recovery()
    }

    async fn mark_incomplete(&mut self, reason: &str) -> Result<()> {
        self.marker["failed"] = reason.into();
        self.put_marker().await
    }
}
