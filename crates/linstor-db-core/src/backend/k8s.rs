//! LINSTOR's Kubernetes backend (LINSTOR 1.16+) as a [`Source`] and a [`Target`]: one cluster-scoped
//! CRD per table, one custom resource per row (`linstor-db-format.md` §3).
//!
//! Reads page through each table with `limit`/`continue` (each table is one consistent list).
//! Writes apply LINSTOR's CRDs with server-side apply, create custom resources with bounded
//! concurrency and retries, and set `LinstorVersion` last.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;

use super::{Event, Source, Target};
use crate::config::DbConfig;
use crate::error::{Error, Result};
use crate::export::{now_ms, ExportMeta};
use crate::k8s_layout::{
    crd, custom_resource, linstor_version_cr, linstor_version_crd, rollback_crd, LINSTOR_VERSION_NAME,
};
use crate::row::{Row, Value};
use crate::schema::{DataVersion, Release, Table, DEFAULT_ACCESS_TYPES, RELEASES};
use crate::store::shell_quote;
use crate::K8S_GROUP;

/// Field manager of our server-side applies.
const FIELD_MANAGER: &str = "linstor-db";
/// Annotation on `LinstorVersion` while an import runs (with `spec.version` = -1, which LINSTOR 1.34
/// refuses as "too old" and LINSTOR 1.33 cannot migrate from).
pub const IMPORT_MARKER_ANNOTATION: &str = "linstor-db/import-in-progress";
/// How long transient errors are retried, whatever `request_retries` says: a busy API server's etcd
/// answers "request timed out" for 10 s and more (seen while writing 1M rows), and giving up then
/// would leave a half-written import.
const RETRY_PATIENCE: Duration = Duration::from_secs(60);
/// `LinstorVersion.spec.version` while an import runs.
pub const BLOCKING_K8S_VERSION: i64 = -1;

/// How to reach the API server and how hard to push it.
#[derive(Debug, Clone)]
pub struct K8sSettings {
    /// Kubeconfig file; `None` infers (`$KUBECONFIG`, `~/.kube/config`, then in-cluster service account).
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context; `None` uses the current one.
    pub context: Option<String>,
    /// Retries of a failed request (429, 5xx, connection errors); `[db.k8s] request_retries`.
    pub request_retries: u32,
    /// Requests in flight while writing.
    pub concurrency: usize,
    /// Objects per list page.
    pub page_size: u32,
}

impl K8sSettings {
    /// Settings with the `[db.k8s]` options of `config`.
    pub fn new(config: &DbConfig) -> K8sSettings {
        K8sSettings {
            kubeconfig: None,
            context: None,
            request_retries: config.k8s_request_retries.max(3),
            concurrency: 32,
            page_size: 500,
        }
    }
}

/// A connection to one Kubernetes API server.
#[derive(Clone)]
pub struct K8sStore {
    client: Client,
    settings: K8sSettings,
    server: String,
}

/// What the cluster holds of LINSTOR's bookkeeping.
struct ClusterState {
    /// `LinstorVersion.spec.version`, if the CR exists.
    version: Option<i64>,
    /// Our import marker annotation, if present.
    marker: Option<String>,
    /// Rollback CRs (LINSTOR's open transaction journal).
    rollbacks: usize,
}

impl K8sStore {
    /// How to finish or undo an interrupted import into this cluster: the commands, as they run.
    pub fn incomplete_import_recovery(&self) -> String {
        let mut kubectl = "kubectl".to_owned();
        if let Some(file) = &self.settings.kubeconfig {
            kubectl.push_str(&format!(" --kubeconfig={}", shell_quote(&file.display().to_string())));
        }
        if let Some(context) = &self.settings.context {
            kubectl.push_str(&format!(" --context={}", shell_quote(context)));
        }
        format!(
            "The cluster is marked as an incomplete import (LinstorVersion -1, annotation {IMPORT_MARKER_ANNOTATION}), so a LINSTOR controller refuses to start on it. Finish it: run the same command again with --replace. Undo it (deletes every LINSTOR CRD with its objects): {kubectl} get crd -o name | grep '[.]{group}$' | xargs {kubectl} delete",
            group = K8S_GROUP,
        )
    }

    /// Connects with a kubeconfig (or in-cluster credentials) and checks that the API answers.
    pub async fn connect(settings: K8sSettings) -> Result<K8sStore> {
        let connect_error =
            |server: String| move |source: kube::Error| Error::K8sConnect { server, source: Box::new(source) };
        let config_error = |what: String, detail: String| {
            Error::InvalidStore {
            address: "k8s".into(),
            reason: format!("{what}: {detail}. Check KUBECONFIG / --kubeconfig and --context, or run inside the cluster with a service account"),
        }
        };
        let options = KubeConfigOptions { context: settings.context.clone(), ..KubeConfigOptions::default() };
        let config = match (&settings.kubeconfig, &settings.context) {
            (Some(path), _) => {
                let what = format!("kubeconfig {}", path.display());
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| config_error(what.clone(), e.to_string()))?;
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| config_error(what, e.to_string()))?
            }
            (None, Some(context)) => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| config_error(format!("kubeconfig context {context}"), e.to_string()))?,
            (None, None) => Config::infer()
                .await
                .map_err(|e| config_error("no Kubernetes configuration found".into(), e.to_string()))?,
        };
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(connect_error(format!(" at {server}")))?;
        client.apiserver_version().await.map_err(connect_error(format!(" at {server}")))?;
        Ok(K8sStore { client, settings, server })
    }

    fn describe(&self) -> String {
        format!("k8s ({})", self.server.trim_end_matches('/'))
    }

    /// The client, for the Secret and Deployment helpers.
    pub(crate) fn client(&self) -> Client {
        self.client.clone()
    }

    /// Deletes every CRD of LINSTOR's group (and so every custom resource); returns their names.
    pub async fn delete_all_crds(&self) -> Result<Vec<String>> {
        let api = self.crd_api();
        let all = ListParams::default();
        let list = self.retry("list", "customresourcedefinitions", || api.list(&all)).await?;
        let mut deleted = Vec::new();
        for crd in list.items.into_iter().filter(|c| c.spec.group == K8S_GROUP) {
            let name = crd.metadata.name.unwrap_or_default();
            let params = DeleteParams::foreground();
            self.retry("delete", &format!("customresourcedefinition {name}"), || api.delete(&name, &params)).await?;
            deleted.push(name);
        }
        // Deletion is asynchronous (the API server first removes every custom resource): report
        // success only once the CRDs are gone.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        for name in &deleted {
            while self.retry("get", name, || api.get_opt(name)).await?.is_some() {
                if tokio::time::Instant::now() > deadline {
                    return Err(Error::Internal(format!("CRD {name} was not deleted within 300 s")));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(deleted)
    }

    fn table_api(&self, table: &Table, version: &str) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(K8S_GROUP, version, &table.kind);
        Api::all_with(self.client.clone(), &ApiResource::from_gvk_with_plural(&gvk, &table.plural))
    }

    fn special_api(&self, kind: &str, plural: &str) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(K8S_GROUP, "v1", kind);
        Api::all_with(self.client.clone(), &ApiResource::from_gvk_with_plural(&gvk, plural))
    }

    fn crd_api(&self) -> Api<CustomResourceDefinition> {
        Api::all(self.client.clone())
    }

    /// Runs `call` with retries and exponential backoff on 429, 5xx and connection errors.
    pub(crate) async fn retry<T, F, Fut>(&self, verb: &'static str, resource: &str, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = kube::Result<T>>,
    {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        let patience = tokio::time::Instant::now() + RETRY_PATIENCE;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(e)
                    if transient(&e)
                        && (attempt < self.settings.request_retries || tokio::time::Instant::now() < patience) =>
                {
                    attempt += 1;
                    tracing::debug!(verb, resource, attempt, error = %e, "retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(api_error(verb, resource, e)),
            }
        }
    }

    async fn state(&self) -> Result<ClusterState> {
        let versions = self.special_api("LinstorVersion", "linstorversion");
        let version_cr = match versions.get_opt(LINSTOR_VERSION_NAME).await {
            Ok(cr) => cr,
            Err(e) if is_status(&e, 404) => None,
            Err(e) => return Err(api_error("get", "linstorversion", e)),
        };
        let version = version_cr.as_ref().and_then(|cr| cr.data.pointer("/spec/version")).and_then(Json::as_i64);
        let marker = version_cr
            .as_ref()
            .and_then(|cr| cr.metadata.annotations.as_ref())
            .and_then(|a| a.get(IMPORT_MARKER_ANNOTATION))
            .cloned();
        let rollbacks = match self.special_api("Rollback", "rollback").list(&ListParams::default().limit(1)).await {
            Ok(list) => list.items.len(),
            Err(e) if is_status(&e, 404) => 0,
            Err(e) => return Err(api_error("list", "rollback", e)),
        };
        Ok(ClusterState { version, marker, rollbacks })
    }

    /// One page of a table's custom resources; a missing CRD reads as an empty table.
    async fn list_page(
        &self,
        table: &Table,
        version: DataVersion,
        token: Option<String>,
    ) -> Result<(Vec<DynamicObject>, Option<String>)> {
        let api = self.table_api(table, version.as_str());
        let mut params = ListParams::default().limit(self.settings.page_size);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let resource = table.plural.clone();
        match self.retry("list", &resource, || api.list(&params)).await {
            Ok(list) => Ok((list.items, list.metadata.continue_.filter(|c| !c.is_empty()))),
            Err(Error::K8s { source, .. }) if is_status(&source, 404) => Ok((Vec::new(), None)),
            Err(e) => Err(e),
        }
    }

    async fn apply_crd(&self, object: Json) -> Result<()> {
        let name = object.pointer("/metadata/name").and_then(Json::as_str).unwrap_or_default().to_owned();
        let api = self.crd_api();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&object);
        self.retry("apply", &format!("customresourcedefinition {name}"), || api.patch(&name, &params, &patch)).await?;
        Ok(())
    }

    /// Waits until every named CRD is Established (served), as LINSTOR waits after applying.
    async fn wait_established(&self, names: &[String]) -> Result<()> {
        let api = self.crd_api();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for name in names {
            loop {
                let crd = self.retry("get", name, || api.get(name)).await?;
                let established = crd
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"));
                if established {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(Error::Internal(format!("CRD {name} was not established within 60 s")));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Creates (or, when it exists, replaces) one object.
    async fn put(&self, api: &Api<DynamicObject>, object: DynamicObject, resource: &str) -> Result<()> {
        let name = object.metadata.name.clone().unwrap_or_default();
        let post = PostParams::default();
        let created = self.retry("create", resource, || api.create(&post, &object)).await;
        match created {
            Ok(_) => Ok(()),
            Err(Error::K8s { source, .. }) if is_status(&source, 409) => {
                // Left from an interrupted run: take its resourceVersion and overwrite.
                let current = self.retry("get", resource, || api.get(&name)).await?;
                let mut replacement = object.clone();
                replacement.metadata.resource_version = current.metadata.resource_version;
                self.retry("replace", resource, || api.replace(&name, &post, &replacement)).await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Sets `LinstorVersion`: the number, and the import marker or none.
    async fn set_linstor_version(&self, version: i64, marker: Option<&str>) -> Result<()> {
        let api = self.special_api("LinstorVersion", "linstorversion");
        let mut object = linstor_version_cr(0);
        object["spec"]["version"] = json!(version);
        if let Some(marker) = marker {
            object["metadata"]["annotations"] = json!({ IMPORT_MARKER_ANNOTATION: marker });
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&object);
        self.retry("apply", "linstorversion", || api.patch(LINSTOR_VERSION_NAME, &params, &patch)).await?;
        Ok(())
    }
}

pub(crate) fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

pub(crate) fn api_error(verb: &'static str, resource: &str, error: kube::Error) -> Error {
    match &error {
        kube::Error::Api(status) if status.code == 403 => {
            Error::K8sForbidden { verb, resource: resource.to_owned(), message: status.message.clone() }
        }
        _ => Error::K8s { verb, resource: resource.to_owned(), source: Box::new(error) },
    }
}

/// The release whose data the cluster holds, or a clear refusal.
fn release_of(store: &str, state: &ClusterState, recovery: &str) -> Result<&'static Release> {
    if let Some(marker) = &state.marker {
        return Err(Error::IncompleteImport {
            store: store.to_owned(),
            detail: marker.clone(),
            recovery: recovery.to_owned(),
        });
    }
    if state.rollbacks > 0 {
        return Err(Error::UnsupportedVersion {
            store: store.to_owned(),
            detail: "LINSTOR's Rollback resources exist: a LINSTOR transaction was interrupted. Start the LINSTOR \
                     controller once so that it rolls back, stop it, then retry"
                .into(),
        });
    }
    let Some(version) = state.version else {
        return Err(Error::NotLinstor {
            store: store.to_owned(),
            detail: "no LinstorVersion resource (linstorversion.internal.linstor.linbit.com/version); no LINSTOR database is stored here".into(),
        });
    };
    let newest = Release::newest().k8s_last + 1;
    let known = u32::try_from(version).ok().and_then(Release::for_k8s_version);
    match known {
        Some(release) => Ok(release),
        None if version > i64::from(newest) => Err(Error::TooNew {
            what: store.to_owned(),
            found: format!("k8s DB version {version}"),
            newest: format!("k8s DB version {newest}"),
        }),
        None => Err(Error::UnsupportedVersion {
            store: store.to_owned(),
            detail: format!(
                "k8s DB version {version} is from a LINSTOR older than 1.24 (this tool reads {} to {newest}); start a LINSTOR \
                 1.24 – 1.33 controller on it once so that it migrates the database, stop it, then retry",
                RELEASES[0].k8s_last + 1
            ),
        }),
    }
}

/// Reads a LINSTOR database from the Kubernetes API, one table (CRD) after another.
///
/// The API server lists different CRDs in parallel, so the next [`TABLES_IN_FLIGHT`] tables are
/// listed by background tasks, each at most [`PAGES_AHEAD`] pages ahead of the reader: memory stays
/// bounded, and reading takes the time of the server's work spread over its cores rather than the
/// sum of its answers one after another.
pub struct K8sSource {
    store: K8sStore,
    version: DataVersion,
    tables: std::slice::Iter<'static, Table>,
    /// Tables being listed, in schema order; the first is the current one once `started`.
    listing: VecDeque<TableListing>,
    started: bool,
}

/// Tables listed at once. Measured on 2 cores, 10k rows: 4 CRDs at a time list everything in
/// 0.67 of the time of one at a time.
const TABLES_IN_FLIGHT: usize = 4;
/// Pages of a table listed ahead of the reader.
const PAGES_AHEAD: usize = 2;

/// A table's rows page by page, then `None` at its end.
type PageMessage = Result<Option<Vec<Row>>>;

struct TableListing {
    table: &'static Table,
    pages: mpsc::Receiver<PageMessage>,
    task: tokio::task::JoinHandle<()>,
}

impl K8sSource {
    /// A source over `store` (nothing is read until [`Source::open`]).
    pub fn new(store: K8sStore) -> K8sSource {
        K8sSource { store, version: DataVersion::V1_33_1, tables: [].iter(), listing: VecDeque::new(), started: false }
    }

    /// Starts listing tables until [`TABLES_IN_FLIGHT`] are under way.
    fn list_ahead(&mut self) {
        while self.listing.len() < TABLES_IN_FLIGHT {
            let Some(table) = self.tables.next() else { return };
            let (sender, pages) = mpsc::channel(PAGES_AHEAD);
            let task = tokio::spawn(list_table(self.store.clone(), table, self.version, sender));
            self.listing.push_back(TableListing { table, pages, task });
        }
    }
}

impl Drop for K8sSource {
    fn drop(&mut self) {
        for listing in &self.listing {
            listing.task.abort();
        }
    }
}

/// Lists `table` page by page into `pages`, then `None`; stops at the first error or when the
/// reader is gone.
async fn list_table(store: K8sStore, table: &'static Table, version: DataVersion, pages: mpsc::Sender<PageMessage>) {
    let mut token = None;
    loop {
        let page = store.list_page(table, version, token).await.and_then(|(items, next)| {
            let rows = items.iter().map(|item| row_of(table, item)).collect::<Result<Vec<Row>>>()?;
            Ok((rows, next))
        });
        let next = match page {
            Ok((rows, next)) => {
                if pages.send(Ok(Some(rows))).await.is_err() {
                    return;
                }
                next
            }
            Err(e) => {
                let _ = pages.send(Err(e)).await;
                return;
            }
        };
        match next {
            Some(next) => token = Some(next),
            None => {
                let _ = pages.send(Ok(None)).await;
                return;
            }
        }
    }
}

#[async_trait]
impl Source for K8sSource {
    fn describe(&self) -> String {
        self.store.describe()
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        let state = self.store.state().await?;
        let release = release_of(&self.store.describe(), &state, &self.store.incomplete_import_recovery())?;
        self.version = release.data_version;
        self.tables = release.data_version.schema().tables.iter();
        Ok(ExportMeta::for_release(release, "k8s", now_ms()))
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            self.list_ahead();
            let Some(current) = self.listing.front_mut() else { return Ok(None) };
            if !self.started {
                self.started = true;
                return Ok(Some(Event::TableStart(current.table)));
            }
            match current.pages.recv().await {
                Some(Ok(Some(rows))) if rows.is_empty() => {}
                Some(Ok(Some(rows))) => return Ok(Some(Event::Rows(rows))),
                Some(Ok(None)) => {
                    self.listing.pop_front();
                    self.started = false;
                    return Ok(Some(Event::TableEnd));
                }
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Error::Internal(format!("listing {} stopped before its end", current.table.plural)))
                }
            }
        }
    }
}

fn row_of(table: &Table, item: &DynamicObject) -> Result<Row> {
    crate::k8s_layout::row_of_object(table, item.metadata.name.as_deref().unwrap_or_default(), &item.data)
}

/// Writes a LINSTOR database into the Kubernetes API the way `linstor-database import-db` does.
pub struct K8sTarget {
    store: K8sStore,
    /// Data version being written (set by `begin`).
    version: DataVersion,
    wrote_access_types: bool,
}

impl K8sTarget {
    /// A target over `store`.
    pub fn new(store: K8sStore) -> K8sTarget {
        K8sTarget { store, version: DataVersion::V1_33_1, wrote_access_types: false }
    }

    async fn create_rows(&self, table: &Table, version: DataVersion, rows: &[Row]) -> Result<()> {
        let api = self.store.table_api(table, version.as_str());
        let objects = rows
            .iter()
            .map(|row| {
                serde_json::from_value::<DynamicObject>(custom_resource(table, row, version))
                    .map_err(|e| Error::Internal(format!("building a custom resource: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let api = &api;
        stream::iter(objects)
            .map(|object| async move { self.store.put(api, object, &table.plural).await })
            .buffer_unordered(self.store.settings.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// An existing CRD whose `status.storedVersions` names a version the new CRD lacks (from LINSTOR
    /// before 1.20: v1-15-0, v1-17-0, v1-18-2) would make the API server reject the apply. The target is
    /// empty or being replaced, so its objects go, and the CRD is deleted and applied afresh.
    async fn recreate_if_obsolete(&self, table: &Table, new_crd: &Json) -> Result<()> {
        let api = self.store.crd_api();
        let name = table.crd_name();
        let resource = format!("customresourcedefinition {name}");
        let Some(existing) = self.store.retry("get", &resource, || api.get_opt(&name)).await? else { return Ok(()) };
        let known: Vec<&str> =
            new_crd["spec"]["versions"].as_array().into_iter().flatten().filter_map(|v| v["name"].as_str()).collect();
        let stored = existing.status.and_then(|s| s.stored_versions).unwrap_or_default();
        if stored.iter().all(|v| known.contains(&v.as_str())) {
            return Ok(());
        }
        tracing::info!(crd = %name, ?stored, "re-creating a CRD that stores versions LINSTOR no longer serves");
        let delete = DeleteParams::default();
        self.store.retry("delete", &resource, || api.delete(&name, &delete)).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.store.retry("get", &resource, || api.get_opt(&name)).await?.is_some() {
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Internal(format!("{resource} was not deleted within 60 s")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// The first LINSTOR table CRD (of any data version) holding objects, listed at its own storage version.
    async fn first_non_empty_crd(&self) -> Result<Option<String>> {
        let api = self.store.crd_api();
        let mut names: Vec<&Table> = Vec::new();
        for version in DataVersion::ALL {
            for table in &version.schema().tables {
                if !names.iter().any(|t| t.name == table.name) {
                    names.push(table);
                }
            }
        }
        for table in names {
            let name = table.crd_name();
            let resource = format!("customresourcedefinition {name}");
            let Some(crd) = self.store.retry("get", &resource, || api.get_opt(&name)).await? else { continue };
            let Some(storage) = crd.spec.versions.iter().find(|v| v.storage).map(|v| v.name.clone()) else { continue };
            let objects = self.store.table_api(table, &storage);
            let one = ListParams::default().limit(1);
            if !self.store.retry("list", &table.plural, || objects.list(&one)).await?.items.is_empty() {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// Existing CRDs storing a newer data version than `version` (LINSTOR cannot go back).
    async fn newer_stored_versions(&self, version: DataVersion) -> Result<Vec<String>> {
        let api = self.store.crd_api();
        let mut newer = Vec::new();
        for table in &version.schema().tables {
            let name = table.crd_name();
            let crd = match api.get_opt(&name).await {
                Ok(crd) => crd,
                Err(e) => return Err(api_error("get", &format!("customresourcedefinition {name}"), e)),
            };
            let stored = crd.and_then(|c| c.status).and_then(|s| s.stored_versions).unwrap_or_default();
            // Versions before v1-19-1 are older, not newer: they are handled by `recreate_if_obsolete`.
            for v in stored {
                if v.parse::<DataVersion>().is_ok_and(|v| v > version) {
                    newer.push(format!("{name} stores {v}"));
                }
            }
        }
        Ok(newer)
    }
}

#[async_trait]
impl Target for K8sTarget {
    fn describe(&self) -> String {
        self.store.describe()
    }

    async fn preflight(&mut self, meta: &ExportMeta, replace: bool) -> Result<()> {
        let store = self.store.describe();
        let state = self.store.state().await?;
        if let Some(marker) = state.marker {
            return super::replace_only(self, marker, replace);
        }
        if !replace {
            if let Some(version) = state.version {
                return Err(Error::TargetNotEmpty { store, detail: format!("LinstorVersion is {version}") });
            }
            if state.rollbacks > 0 {
                return Err(Error::TargetNotEmpty { store, detail: format!("{} Rollback resources", state.rollbacks) });
            }
            if let Some(crd) = self.first_non_empty_crd().await? {
                return Err(Error::TargetNotEmpty { store, detail: format!("{crd} holds custom resources") });
            }
        }
        let newer = self.newer_stored_versions(meta.data_version).await?;
        if !newer.is_empty() {
            return Err(Error::DataVersionNotSupported {
                store,
                data_version: meta.data_version,
                reason: format!(
                    "the cluster's LINSTOR CRDs already store newer data ({}); LINSTOR cannot go back to an older data \
                     version. Import into a cluster without LINSTOR CRDs, or delete them first",
                    newer.join(", ")
                ),
            });
        }
        Ok(())
    }

    async fn begin(&mut self, meta: &ExportMeta) -> Result<()> {
        self.store.apply_crd(linstor_version_crd()).await?;
        self.store.apply_crd(rollback_crd()).await?;
        let mut names = vec![format!("linstorversion.{K8S_GROUP}"), format!("rollback.{K8S_GROUP}")];
        self.store.wait_established(&names[..1]).await?;
        let marker = json!({
            "tool": format!("linstor-db {}", crate::TOOL_VERSION),
            "data_version": meta.data_version.as_str(),
            "linstor_version": meta.linstor_version,
            "finish": "re-run the import with --replace",
        })
        .to_string();
        // Marked first: from here on LINSTOR refuses to start and `linstor-db info` reports the import.
        self.store.set_linstor_version(BLOCKING_K8S_VERSION, Some(&marker)).await?;
        for table in &meta.data_version.schema().tables {
            if let Some(object) = crd(table.name, meta.data_version) {
                self.recreate_if_obsolete(table, &object).await?;
                self.store.apply_crd(object).await?;
                names.push(table.crd_name());
            }
        }
        self.store.wait_established(&names).await?;
        // A left-over LINSTOR journal would be replayed over the imported data at the next start.
        let rollback = self.store.special_api("Rollback", "rollback");
        let (delete, all) = (DeleteParams::default(), ListParams::default());
        self.store.retry("delete", "rollback", || rollback.delete_collection(&delete, &all)).await?;
        self.version = meta.data_version;
        Ok(())
    }

    async fn begin_table(&mut self, table: &'static Table) -> Result<()> {
        // LINSTOR's import truncates exactly the tables present in the file.
        let api = self.store.table_api(table, self.version.as_str());
        let (delete, all) = (DeleteParams::default(), ListParams::default());
        self.store.retry("delete", &table.plural, || api.delete_collection(&delete, &all)).await?;
        self.wrote_access_types |= table.name == "SEC_ACCESS_TYPES";
        Ok(())
    }

    async fn write_rows(&mut self, table: &'static Table, rows: Vec<Row>) -> Result<u64> {
        self.create_rows(table, self.version, &rows).await?;
        Ok(rows.len() as u64)
    }

    async fn end_table(&mut self, _table: &'static Table) -> Result<bool> {
        Ok(true)
    }

    async fn commit(&mut self, meta: &ExportMeta) -> Result<()> {
        if !self.wrote_access_types {
            if let Some(table) = meta.data_version.schema().table("SEC_ACCESS_TYPES") {
                let (items, _) = self.store.list_page(table, meta.data_version, None).await?;
                if items.is_empty() {
                    let rows: Vec<Row> = DEFAULT_ACCESS_TYPES
                        .into_iter()
                        .map(|(name, value)| Row {
                            cells: vec![Some(Value::Text(name.into())), Some(Value::Int(value))],
                        })
                        .collect();
                    self.create_rows(table, meta.data_version, &rows).await?;
                }
            }
        }
        self.store.set_linstor_version(i64::from(meta.k8s_version) + 1, None).await
    }

    fn recovery(&self) -> String {
        self.store.incomplete_import_recovery()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status { code, message: format!("status {code}"), ..Default::default() }))
    }

    #[test]
    fn only_throttling_and_server_errors_are_retried() {
        assert!(transient(&status(429)));
        assert!(transient(&status(500)));
        assert!(transient(&status(503)));
        for code in [400, 403, 404, 409, 422] {
            assert!(!transient(&status(code)), "{code}");
        }
    }

    #[test]
    fn forbidden_names_the_verb_and_resource() {
        let err = api_error("create", "nodes", status(403)).to_string();
        assert!(err.contains("refused to create nodes") && err.contains("deploy/rbac.yaml"), "{err}");
        assert!(matches!(api_error("list", "nodes", status(500)), Error::K8s { .. }));
    }
}
