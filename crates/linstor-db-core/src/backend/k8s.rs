//! LINSTOR's Kubernetes backend (LINSTOR 1.16+) as a [`Source`] and a [`Target`]: one cluster-scoped
//! CRD per table, one custom resource per row (`linstor-db-format.md` §3).
//!
//! Reads are pinned to one revision R of the API server's etcd: every table is listed with
//! `resourceVersion=R`, `resourceVersionMatch=Exact` and `limit`/`continue` (the continue tokens
//! carry R), so a backup of a running controller is the database as it was at R. R is chosen where
//! no `Rollback` object exists: LINSTOR creates those before the objects of a transaction and
//! deletes them after, so such a revision holds no half of a transaction (`linstor-db-format.md` §3.7).
//! Writes apply LINSTOR's CRDs with server-side apply, create custom resources with bounded
//! concurrency and retries, and set `LinstorVersion` last.
//!
//! Every request goes through `K8sStore::retry`: throttling, server errors, broken connections and
//! requests without an answer in time (a paused or partitioned API server keeps
//! its connections open) are retried with back-off until the API server made no progress for
//! `retry_timeout`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    VersionMatch,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;

use super::lock::{Holder, LOCK_RENEW, LOCK_TTL};
use super::retry::{human, request_timeout, Backoff, Patience};
use super::{Event, Source, Target};
use crate::error::{Error, Result};
use crate::export::{now_ms, ExportMeta};
use crate::k8s_layout::{
    crd, custom_resource, linstor_version_cr, linstor_version_crd, rollback_crd, BLOCKING_K8S_VERSION,
    IMPORT_MARKER_ANNOTATION, LINSTOR_VERSION_NAME,
};
use crate::row::{Row, Value};
use crate::schema::{DataVersion, Release, Table, DEFAULT_ACCESS_TYPES, RELEASES};
use crate::store::shell_quote;
use crate::K8S_GROUP;

/// Field manager of our server-side applies.
const FIELD_MANAGER: &str = "linstor-db";
/// Annotation on `LinstorVersion` naming the job that writes the cluster now ([`super::lock`]),
/// renewed while it writes. LINSTOR never reads it.
pub const WRITER_ANNOTATION: &str = "linstor-db/writer";
/// How long [`K8sStore::delete_all_crds`] waits for the API server to remove the CRDs and their objects.
const CRD_DELETION_TIMEOUT: Duration = Duration::from_secs(300);

/// How to reach the API server and how hard to push it.
#[derive(Debug, Clone)]
pub struct K8sSettings {
    /// Kubeconfig file; `None` infers (`$KUBECONFIG`, `~/.kube/config`, then in-cluster service account).
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context; `None` uses the current one.
    pub context: Option<String>,
    /// How long failing requests (429, 5xx, connection errors, no answer) are retried without any
    /// request succeeding. A busy API server's etcd answers "request timed out" for 10 s and more
    /// (seen while writing 1M rows), so this is minutes, not LINSTOR's `[db.k8s] request_retries`.
    pub retry_timeout: Duration,
    /// Requests in flight while writing.
    pub concurrency: usize,
    /// Objects per list page.
    pub page_size: u32,
}

impl Default for K8sSettings {
    /// The inferred configuration, [`crate::store::DEFAULT_RETRY_TIMEOUT`].
    fn default() -> K8sSettings {
        K8sSettings {
            kubeconfig: None,
            context: None,
            retry_timeout: crate::store::DEFAULT_RETRY_TIMEOUT,
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
    patience: Patience,
}

/// What the cluster holds of LINSTOR's bookkeeping.
struct ClusterState {
    /// `LinstorVersion.spec.version`, if the CR exists.
    version: Option<i64>,
    /// Our import marker annotation, if present.
    marker: Option<String>,
    /// The job writing the cluster, if any.
    writer: Option<Holder>,
    /// `LinstorVersion`'s `resourceVersion`, if the CR exists.
    resource_version: Option<String>,
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
        let mut config = config;
        // Without a read timeout a request to a stopped server waits for ever on its open connection.
        // Counted from when the request was written, not from when its pooled connection went idle.
        let timeout = request_timeout(settings.retry_timeout);
        config.read_timeout = Some(timeout);
        config.reset_reader_on_write = true;
        config.connect_timeout = Some(config.connect_timeout.map_or(timeout, |t| t.min(timeout)));
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(connect_error(format!(" at {server}")))?;
        client.apiserver_version().await.map_err(connect_error(format!(" at {server}")))?;
        let patience = Patience::new(settings.retry_timeout);
        Ok(K8sStore { client, settings, server, patience })
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
        let deadline = tokio::time::Instant::now() + CRD_DELETION_TIMEOUT;
        for name in &deleted {
            while self.retry("get", name, || api.get_opt(name)).await?.is_some() {
                if tokio::time::Instant::now() > deadline {
                    return Err(Error::Refused(format!(
                        "the API server did not finish deleting CRD {name} within {} s (it deletes its custom \
                         resources first; a finalizer may hold one: kubectl get {name} -o yaml)",
                        CRD_DELETION_TIMEOUT.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(deleted)
    }

    /// Existing CRDs storing a newer data version than `version`: LINSTOR cannot go back, so only a
    /// restore that deletes every LINSTOR CRD first (`--allow-downgrade`) can write `version` here.
    pub async fn newer_stored_versions(&self, version: DataVersion) -> Result<Vec<String>> {
        let api = self.crd_api();
        let mut newer = Vec::new();
        for table in &version.schema().tables {
            let name = table.crd_name();
            let crd = self.retry("get", &format!("customresourcedefinition {name}"), || api.get_opt(&name)).await?;
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

    /// Runs `call`, retrying 429, 5xx, connection errors and requests without an answer with
    /// exponential back-off until the API server made no progress for `retry_timeout`. An answer
    /// that is an API error (404, 409, …) counts as progress: the server works.
    pub(crate) async fn retry<T, F, Fut>(&self, verb: &'static str, resource: &str, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = kube::Result<T>>,
    {
        let since = tokio::time::Instant::now();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let error = match call().await {
                Ok(value) => {
                    self.patience.progressed();
                    return Ok(value);
                }
                Err(e) if !transient(&e) => {
                    if matches!(e, kube::Error::Api(_)) {
                        self.patience.progressed();
                    }
                    return Err(api_error(verb, resource, e));
                }
                Err(e) => e,
            };
            let cause = if is_timeout(&error) {
                format!("no answer for {}", human(request_timeout(self.settings.retry_timeout)))
            } else {
                error.to_string()
            };
            let left = match self.patience.left(since) {
                Ok(left) => left,
                Err(stalled) => {
                    return Err(self.patience.gave_up(self.describe(), stalled, api_error(verb, resource, error)))
                }
            };
            let server = self.server.trim_end_matches('/');
            self.patience.warn(|| format!("waiting for the API server at {server} ({verb} {resource}): {cause}"), left);
            tracing::debug!(verb, resource, error = %error, "retrying");
            tokio::time::sleep(backoff.delay(left)).await;
        }
    }

    async fn state(&self) -> Result<ClusterState> {
        let versions = self.special_api("LinstorVersion", "linstorversion");
        // No CRD (404) reads as no LINSTOR database.
        let version_cr = match self.retry("get", "linstorversion", || versions.get_opt(LINSTOR_VERSION_NAME)).await {
            Ok(cr) => cr,
            Err(Error::K8s { source, .. }) if is_status(&source, 404) => None,
            Err(e) => return Err(e),
        };
        let rollbacks = self.count_rollbacks(&ListParams::default().limit(1)).await?;
        Ok(cluster_state(version_cr, rollbacks))
    }

    /// The current revision and the cluster state at it. The list of `LinstorVersion` is a
    /// quorum read whose `resourceVersion` is the etcd revision it was served at; `Rollback` is then
    /// listed at exactly that revision.
    async fn state_at_current_revision(&self) -> Result<(Option<String>, ClusterState)> {
        let versions = self.special_api("LinstorVersion", "linstorversion");
        let all = ListParams::default();
        let (revision, version_cr) = match self.retry("list", "linstorversion", || versions.list(&all)).await {
            Ok(list) => {
                let revision = list.metadata.resource_version.filter(|r| !r.is_empty());
                let cr = list.items.into_iter().find(|cr| cr.metadata.name.as_deref() == Some(LINSTOR_VERSION_NAME));
                (revision, cr)
            }
            Err(Error::K8s { source, .. }) if is_status(&source, 404) => (None, None),
            Err(e) => return Err(e),
        };
        let rollbacks = match &revision {
            Some(revision) => self.count_rollbacks(&pinned(ListParams::default().limit(1), revision)).await?,
            None => self.count_rollbacks(&ListParams::default().limit(1)).await?,
        };
        Ok((revision, cluster_state(version_cr, rollbacks)))
    }

    /// Rollback objects listed with `params` (at most its limit); a missing CRD counts none.
    async fn count_rollbacks(&self, params: &ListParams) -> Result<usize> {
        let rollback = self.special_api("Rollback", "rollback");
        match self.retry("list", "rollback", || rollback.list(params)).await {
            Ok(list) => Ok(list.items.len()),
            Err(Error::K8s { source, .. }) if is_status(&source, 404) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// One page of a table's custom resources; a missing CRD reads as an empty table.
    /// The first page is listed at exactly `revision`; the next ones follow their continue token,
    /// which carries it (the API server refuses a resource version beside a token).
    async fn list_page(
        &self,
        table: &Table,
        version: DataVersion,
        revision: Option<&str>,
        token: Option<String>,
    ) -> Result<(Vec<DynamicObject>, Option<String>)> {
        let api = self.table_api(table, version.as_str());
        let mut params = ListParams::default().limit(self.settings.page_size);
        match (&token, revision) {
            (Some(token), _) => params = params.continue_token(token),
            (None, Some(revision)) => params = pinned(params, revision),
            (None, None) => {}
        }
        let resource = table.plural.clone();
        match self.retry("list", &resource, || api.list(&params)).await {
            Ok(list) => Ok((list.items, list.metadata.continue_.filter(|c| !c.is_empty()))),
            Err(Error::K8s { source, .. }) if is_status(&source, 404) => Ok((Vec::new(), None)),
            Err(Error::K8s { source, .. }) if is_status(&source, 410) => Err(Error::NoConsistentRevision {
                store: self.describe(),
                detail: format!(
                    "the API server compacted revision {} away while {resource} was read ({source}). Jobs read \
                     again at a new revision, 3 times in all; if every read is cut short, the read takes longer \
                     than the API server keeps old revisions: read with --consistent=stopped-controller instead",
                    revision.unwrap_or("the newest")
                ),
                compacted: true,
            }),
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
    /// Sets `LinstorVersion` to `version` with our marker annotation (or none) and without the writer
    /// annotation, keeping everything else: read, changed and replaced with its `resourceVersion`, so
    /// that the lock's renewal racing it is retried rather than overwritten.
    async fn set_linstor_version(&self, version: i64, marker: Option<&str>) -> Result<()> {
        let api = self.special_api("LinstorVersion", "linstorversion");
        let post = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
        for _ in 0..10 {
            let current = self.retry("get", "linstorversion", || api.get_opt(LINSTOR_VERSION_NAME)).await?;
            let mut object = match current {
                Some(object) => object,
                None => serde_json::from_value(linstor_version_cr(0))
                    .map_err(|e| Error::Internal(format!("LinstorVersion object: {e}")))?,
            };
            object.data["spec"] = json!({ "version": version });
            let annotations = object.metadata.annotations.get_or_insert_with(Default::default);
            annotations.remove(WRITER_ANNOTATION);
            match marker {
                Some(marker) => annotations.insert(IMPORT_MARKER_ANNOTATION.to_owned(), marker.to_owned()),
                None => annotations.remove(IMPORT_MARKER_ANNOTATION),
            };
            let written = if object.metadata.resource_version.is_some() {
                api.replace(LINSTOR_VERSION_NAME, &post, &object).await
            } else {
                api.create(&post, &object).await
            };
            match written {
                Ok(_) => return Ok(()),
                Err(e) if is_status(&e, 409) => continue,
                Err(e) if transient(&e) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(e) => return Err(api_error("replace", "linstorversion", e)),
            }
        }
        Err(Error::Internal("LinstorVersion kept changing while it was written".into()))
    }

    /// Takes the writer lock with the in-progress marker in one write of `LinstorVersion` (version
    /// -1, both annotations) that holds only if the object is as `seen` (its `resourceVersion`, or
    /// absent): a second writer's create or replace fails with 409. Returns the holder written.
    async fn lock_and_mark(&self, marker: &str, seen: Option<&str>) -> Result<Holder> {
        let api = self.special_api("LinstorVersion", "linstorversion");
        let holder = Holder::this_process();
        let mut object: DynamicObject = serde_json::from_value(linstor_version_cr(0))
            .map_err(|e| Error::Internal(format!("LinstorVersion object: {e}")))?;
        if seen.is_some() {
            if let Some(current) = self.retry("get", "linstorversion", || api.get_opt(LINSTOR_VERSION_NAME)).await? {
                object.metadata = current.metadata;
                object.metadata.managed_fields = None;
            }
            object.metadata.resource_version = seen.map(str::to_owned);
        }
        object.data["spec"] = json!({ "version": BLOCKING_K8S_VERSION });
        let annotations = object.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(IMPORT_MARKER_ANNOTATION.to_owned(), marker.to_owned());
        annotations.insert(WRITER_ANNOTATION.to_owned(), holder.to_json());
        let post = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
        let written = match seen {
            None => self.retry("create", "linstorversion", || api.create(&post, &object)).await,
            Some(_) => {
                self.retry("replace", "linstorversion", || api.replace(LINSTOR_VERSION_NAME, &post, &object)).await
            }
        };
        let Err(error) = written else { return Ok(holder) };
        // Another writer changed LinstorVersion since it was read (409); a retried write that had
        // applied finds this job's own record.
        let state = self.state().await?;
        match state.writer {
            Some(found) if found == holder => Ok(holder),
            Some(found) => {
                Err(Error::TargetLocked { store: self.describe(), holder: found.describe(), ttl_s: LOCK_TTL.as_secs() })
            }
            None if state.resource_version.as_deref() != seen => Err(Error::TargetNotEmpty {
                store: self.describe(),
                detail: "another job wrote it after this job checked it".into(),
            }),
            None => Err(error),
        }
    }

    /// Renews (`renew`) or removes `holder`'s record on `LinstorVersion` if it is still this job's;
    /// false when it is not.
    async fn update_lock(&self, holder: &Holder, renew: bool) -> bool {
        let api = self.special_api("LinstorVersion", "linstorversion");
        let post = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
        let Ok(Some(mut object)) = api.get_opt(LINSTOR_VERSION_NAME).await else { return true };
        let annotations = object.metadata.annotations.get_or_insert_with(Default::default);
        let same_job = |h: Holder| h.pid == holder.pid && h.host == holder.host && h.started_ms == holder.started_ms;
        if !annotations.get(WRITER_ANNOTATION).map(|a| Holder::parse(a)).is_some_and(same_job) {
            return false;
        }
        if renew {
            let renewed = Holder { renewed_ms: now_ms(), ..holder.clone() };
            annotations.insert(WRITER_ANNOTATION.to_owned(), renewed.to_json());
        } else {
            annotations.remove(WRITER_ANNOTATION);
        }
        if let Err(e) = api.replace(LINSTOR_VERSION_NAME, &post, &object).await {
            tracing::debug!(error = %e, "updating the writer lock");
        }
        true
    }
}

/// `params` at exactly `revision`.
fn pinned(params: ListParams, revision: &str) -> ListParams {
    params.at(revision).matching(VersionMatch::Exact)
}

/// LINSTOR's bookkeeping from the `LinstorVersion` object (if any) and the count of `Rollback` objects.
fn cluster_state(version_cr: Option<DynamicObject>, rollbacks: usize) -> ClusterState {
    let version = version_cr.as_ref().and_then(|cr| cr.data.pointer("/spec/version")).and_then(Json::as_i64);
    let annotation = |name: &str| {
        version_cr.as_ref().and_then(|cr| cr.metadata.annotations.as_ref()).and_then(|a| a.get(name)).cloned()
    };
    let (marker, writer) = (annotation(IMPORT_MARKER_ANNOTATION), annotation(WRITER_ANNOTATION));
    let resource_version = version_cr.as_ref().and_then(|cr| cr.metadata.resource_version.clone());
    ClusterState { version, marker, writer: writer.as_deref().map(Holder::parse), resource_version, rollbacks }
}

pub(crate) fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        // A connection that broke while the answer was read.
        other => io_error_in(other).is_some(),
    }
}

/// The request got no answer within the client's read or connect timeout.
fn is_timeout(error: &kube::Error) -> bool {
    io_error_in(error).is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
}

fn io_error_in(error: &kube::Error) -> Option<&std::io::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = c.source();
    }
    None
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
            detail: format!(
                "LINSTOR's Rollback resources exist (a read at one revision waits {} s for them to go): a LINSTOR \
                 transaction was interrupted, or a running controller is stuck in one. If the controller is \
                 stopped, start it once so that it rolls back, stop it, then retry",
                OPEN_TRANSACTION_WAIT.as_secs()
            ),
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
    /// Reads an interrupted write too ([`K8sSource::reading_interrupted`]).
    interrupted: bool,
    /// The revision every table is listed at, chosen by [`Source::open`].
    revision: Option<String>,
    /// Lists without a revision ([`K8sSource::reading_newest`]).
    newest: bool,
}

/// How long [`Source::open`] looks for a revision without open LINSTOR transactions. A
/// transaction's Rollback objects live for the time of its writes, well under a second.
const OPEN_TRANSACTION_WAIT: Duration = Duration::from_secs(30);

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
        K8sSource {
            store,
            version: DataVersion::V1_33_1,
            tables: [].iter(),
            listing: VecDeque::new(),
            started: false,
            interrupted: false,
            revision: None,
            newest: false,
        }
    }

    /// Reads an interrupted write as it is, at the data version its marker names, for the backup
    /// taken before it is replaced; the metadata names the job ([`ExportMeta::interrupted`]).
    pub fn reading_interrupted(mut self) -> K8sSource {
        self.interrupted = true;
        self
    }

    /// The newest revision at which no Rollback object exists, and the cluster state at it. An
    /// interrupted write is read as it is, at the current revision.
    async fn revision_without_open_transactions(&self) -> Result<(Option<String>, ClusterState)> {
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let (revision, state) = self.store.state_at_current_revision().await?;
            if state.rollbacks == 0 || self.interrupted || self.newest || started.elapsed() >= OPEN_TRANSACTION_WAIT {
                return Ok((revision, state));
            }
            tracing::debug!(revision = revision.as_deref().unwrap_or("?"), "a LINSTOR transaction is open; waiting");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    /// Lists each table as it is now instead of at one revision ([`super::Reading::Newest`]).
    pub fn reading_newest(mut self) -> K8sSource {
        self.newest = true;
        self
    }

    /// Starts listing tables until [`TABLES_IN_FLIGHT`] are under way.
    fn list_ahead(&mut self) {
        while self.listing.len() < TABLES_IN_FLIGHT {
            let Some(table) = self.tables.next() else { return };
            let (sender, pages) = mpsc::channel(PAGES_AHEAD);
            let task =
                tokio::spawn(list_table(self.store.clone(), table, (self.version, self.revision.clone()), sender));
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
async fn list_table(
    store: K8sStore,
    table: &'static Table,
    (version, revision): (DataVersion, Option<String>),
    pages: mpsc::Sender<PageMessage>,
) {
    let mut token = None;
    loop {
        let page = store.list_page(table, version, revision.as_deref(), token).await.and_then(|(items, next)| {
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
        let (revision, state) = self.revision_without_open_transactions().await?;
        self.revision = revision.filter(|_| !self.newest);
        let meta = match &state.marker {
            Some(marker) if self.interrupted => {
                let now = now_ms();
                let writer = state.writer.as_ref().filter(|holder| holder.is_live(now)).map(Holder::describe);
                super::interrupted_meta(&self.store.describe(), marker, writer, "k8s")?
            }
            _ => {
                let release = release_of(&self.store.describe(), &state, &self.store.incomplete_import_recovery())?;
                ExportMeta::for_release(release, "k8s", now_ms())
            }
        };
        self.version = meta.data_version;
        self.tables = meta.data_version.schema().tables.iter();
        Ok(ExportMeta { revision: self.revision.clone(), ..meta })
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
    /// The in-progress marker set by `begin`, set again when a verification fails.
    marker: Json,
    /// `LinstorVersion`'s `resourceVersion` when `preflight` looked (`None`: absent), which `begin`
    /// requires unchanged.
    seen: Option<String>,
    /// The writer lock, from `begin` to `commit`.
    lock: Option<WriterLock>,
}

/// The writer lock held: a task renews it; dropped (the job ends, also on failure), the record is
/// removed, or else lapses after [`LOCK_TTL`]. The in-progress marker stays.
struct WriterLock {
    store: K8sStore,
    holder: Holder,
    renew: tokio::task::JoinHandle<()>,
    /// Whether dropping removes the record (not when the commit's own write removes it).
    release: bool,
}

impl WriterLock {
    fn take(store: &K8sStore, holder: Holder) -> WriterLock {
        let (renewing, held) = (store.clone(), holder.clone());
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOCK_RENEW).await;
                if !renewing.update_lock(&held, true).await {
                    tracing::warn!("the writer lock on LinstorVersion is no longer this job's");
                    return;
                }
            }
        });
        WriterLock { store: store.clone(), holder, renew, release: true }
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        self.renew.abort();
        let (store, holder) = (self.store.clone(), self.holder.clone());
        if let (true, Ok(runtime)) = (self.release, tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                store.update_lock(&holder, false).await;
            });
        }
    }
}

impl K8sTarget {
    /// A target over `store`.
    pub fn new(store: K8sStore) -> K8sTarget {
        K8sTarget {
            store,
            version: DataVersion::V1_33_1,
            wrote_access_types: false,
            marker: Json::Null,
            seen: None,
            lock: None,
        }
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
}

#[async_trait]
impl Target for K8sTarget {
    fn describe(&self) -> String {
        self.store.describe()
    }

    async fn preflight(&mut self, meta: &ExportMeta, replace: bool) -> Result<()> {
        let store = self.store.describe();
        let state = self.store.state().await?;
        if let Some(holder) = state.writer.as_ref().filter(|h| h.is_live(now_ms())) {
            return Err(Error::TargetLocked { store, holder: holder.describe(), ttl_s: LOCK_TTL.as_secs() });
        }
        self.seen = state.resource_version.clone();
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
        let newer = self.store.newer_stored_versions(meta.data_version).await?;
        if !newer.is_empty() {
            return Err(Error::DataVersionNotSupported {
                store,
                data_version: meta.data_version,
                reason: format!(
                    "the cluster's LINSTOR CRDs already store newer data ({}); LINSTOR cannot go back to an older data \
                     version. Restore it with `linstor-db restore --from BACKUP --to k8s --replace \
                     --allow-downgrade`, which backs up the cluster, deletes its LINSTOR CRDs and writes the \
                     data with the CRDs of its own release",
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
        self.marker = json!({
            "tool": format!("linstor-db {}", crate::TOOL_VERSION),
            "data_version": meta.data_version.as_str(),
            "linstor_version": meta.linstor_version,
            "job": meta.job,
            "finish": "re-run the import with --replace",
        });
        // Locked and marked first: from here on a second writer is refused, LINSTOR refuses to start
        // and `linstor-db info` reports the import.
        let holder = self.store.lock_and_mark(&self.marker.to_string(), self.seen.as_deref()).await?;
        self.lock = Some(WriterLock::take(&self.store, holder));
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
                let (items, _) = self.store.list_page(table, meta.data_version, None, None).await?;
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
        if let Some(mut lock) = self.lock.take() {
            lock.release = false;
        }
        // Also removes the writer record.
        self.store.set_linstor_version(i64::from(meta.k8s_version) + 1, None).await
    }

    fn recovery(&self) -> String {
        self.store.incomplete_import_recovery()
    }

    async fn mark_incomplete(&mut self, reason: &str) -> Result<()> {
        self.marker["failed"] = reason.into();
        self.store.set_linstor_version(BLOCKING_K8S_VERSION, Some(&self.marker.to_string())).await
    }

    async fn release_lock(&mut self) {
        if let Some(mut lock) = self.lock.take() {
            lock.renew.abort();
            lock.release = false;
            self.store.update_lock(&lock.holder, false).await;
        }
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
    fn a_request_without_an_answer_is_retried_and_told_as_such() {
        let timed_out = kube::Error::Service(Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)));
        assert!(transient(&timed_out) && is_timeout(&timed_out));
        let reset = kube::Error::Service(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert!(transient(&reset) && !is_timeout(&reset));
        assert!(!is_timeout(&status(504)));
    }

    #[test]
    fn forbidden_names_the_verb_and_resource() {
        let err = api_error("create", "nodes", status(403)).to_string();
        assert!(err.contains("refused to create nodes") && err.contains("deploy/rbac.yaml"), "{err}");
        assert!(matches!(api_error("list", "nodes", status(500)), Error::K8s { .. }));
    }
}
