//! The LINSTOR controller must not run while its database is written. Its Deployment is found by a
//! container named `linstor-controller` (operator v1 `<name>-controller`, operator v2
//! `linstor-controller`, the Helm charts). With `--controller NAMESPACE/NAME` the guard scales that
//! Deployment to zero, waits until its pods are gone, and puts the replicas back afterwards — on
//! success and on failure alike.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use super::k8s::K8sStore;
use crate::error::{Error, Result};

/// Name of the controller container in every LINSTOR deployment method.
pub const CONTROLLER_CONTAINER: &str = "linstor-controller";
/// How long to wait for the controller's pods to terminate.
const STOP_TIMEOUT: Duration = Duration::from_secs(300);

/// A Deployment that runs the LINSTOR controller.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ControllerDeployment {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i32,
}

/// Holds the controller stopped while a job writes; [`ControllerGuard::release`] starts it again.
#[must_use = "release() puts the controller's replicas back"]
pub struct ControllerGuard {
    store: Option<K8sStore>,
    scaled: Option<ControllerDeployment>,
}

impl ControllerGuard {
    /// A guard that did nothing (no Kubernetes to check, or the check was waived).
    pub fn none() -> ControllerGuard {
        ControllerGuard { store: None, scaled: None }
    }

    /// Stops `requested` (`NAMESPACE/NAME`) if given, then refuses when any other LINSTOR controller
    /// Deployment still has replicas, unless `allow_running`.
    pub async fn engage(store: K8sStore, requested: Option<&str>, allow_running: bool) -> Result<ControllerGuard> {
        let mut guard = ControllerGuard { store: Some(store.clone()), scaled: None };
        if let Some(requested) = requested {
            let (namespace, name) = requested.split_once('/').ok_or_else(|| Error::InvalidStore {
                address: requested.to_owned(),
                reason: "--controller takes NAMESPACE/DEPLOYMENT".into(),
            })?;
            guard.scaled = Some(scale_down(&store, namespace, name).await?);
        }
        let running: Vec<ControllerDeployment> = find_controllers(&store)
            .await?
            .into_iter()
            .filter(|d| d.replicas > 0)
            .filter(|d| guard.scaled.as_ref().is_none_or(|s| (&s.namespace, &s.name) != (&d.namespace, &d.name)))
            .collect();
        if let Some(first) = running.first() {
            if allow_running {
                tracing::warn!(deployment = %format!("{}/{}", first.namespace, first.name), "LINSTOR controller running; writing anyway (--allow-running-controller)");
            } else {
                let error = Error::ControllerRunning {
                    namespace: first.namespace.clone(),
                    name: first.name.clone(),
                    replicas: first.replicas,
                };
                guard.release().await?;
                return Err(error);
            }
        }
        Ok(guard)
    }

    /// The Deployment this guard stopped, if any.
    pub fn stopped(&self) -> Option<&ControllerDeployment> {
        self.scaled.as_ref()
    }

    /// Leaves the Deployment this guard stopped at 0 replicas (after a downgrade its image would
    /// migrate the data again) and returns it, for the operator to start once its image is pinned.
    pub fn keep_stopped(mut self) -> Option<ControllerDeployment> {
        self.store = None;
        self.scaled.take()
    }

    /// Puts the replicas of a Deployment this guard stopped back.
    pub async fn release(mut self) -> Result<()> {
        let (Some(store), Some(scaled)) = (self.store.take(), self.scaled.take()) else { return Ok(()) };
        set_replicas(&store, &scaled.namespace, &scaled.name, scaled.replicas).await.map_err(|e| Error::Controller {
            deployment: format!("{}/{}", scaled.namespace, scaled.name),
            detail: format!(
                "could not scale it back to {} replicas ({e}); run: kubectl scale -n {} deployment/{} --replicas={}",
                scaled.replicas, scaled.namespace, scaled.name, scaled.replicas
            ),
        })
    }
}

/// Every Deployment in the cluster with a `linstor-controller` container.
pub async fn find_controllers(store: &K8sStore) -> Result<Vec<ControllerDeployment>> {
    let api: Api<Deployment> = Api::all(store.client());
    let params = ListParams::default();
    let list = store.retry("list", "deployments", || api.list(&params)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|d| {
            let containers = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|p| p.containers.as_slice());
            containers.unwrap_or_default().iter().any(|c| c.name == CONTROLLER_CONTAINER)
        })
        .map(|d| ControllerDeployment {
            namespace: d.metadata.namespace.clone().unwrap_or_default(),
            name: d.metadata.name.clone().unwrap_or_default(),
            replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        })
        .collect())
}

async fn set_replicas(store: &K8sStore, namespace: &str, name: &str, replicas: i32) -> Result<()> {
    let api: Api<Deployment> = Api::namespaced(store.client(), namespace);
    let patch = json!({"spec": {"replicas": replicas}});
    let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
    store.retry("patch", &format!("deployment {namespace}/{name}"), || api.patch(name, &params, &merge)).await?;
    Ok(())
}

/// Scales `namespace/name` to zero and waits until its pods are gone; returns its former replicas.
async fn scale_down(store: &K8sStore, namespace: &str, name: &str) -> Result<ControllerDeployment> {
    let deployment_name = format!("{namespace}/{name}");
    let api: Api<Deployment> = Api::namespaced(store.client(), namespace);
    let deployment = store
        .retry("get", &format!("deployment {deployment_name}"), || api.get_opt(name))
        .await?
        .ok_or_else(|| Error::Controller {
            deployment: deployment_name.clone(),
            detail: "no such Deployment; `kubectl get deploy -A` lists them (the LINSTOR controller's has a container named linstor-controller)".into(),
        })?;
    let replicas = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let selector = deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    if replicas > 0 {
        set_replicas(store, namespace, name, 0).await?;
    }
    let scaled = ControllerDeployment { namespace: namespace.to_owned(), name: name.to_owned(), replicas };
    if selector.is_empty() {
        return Ok(scaled);
    }
    let pods: Api<Pod> = Api::namespaced(store.client(), namespace);
    let params = ListParams::default().labels(&selector);
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    loop {
        let list = store.retry("list", &format!("pods in {namespace}"), || pods.list(&params)).await?;
        if list.items.is_empty() {
            return Ok(scaled);
        }
        if tokio::time::Instant::now() > deadline {
            // Put it back: the job will not run, and the controller must not stay down.
            let _ = set_replicas(store, namespace, name, replicas).await;
            return Err(Error::Controller {
                deployment: deployment_name,
                detail: format!(
                    "{} pods were still present {} s after scaling to zero; the replicas were put back to {replicas}. Check `kubectl get pods -n {namespace} -l {selector}`",
                    list.items.len(),
                    STOP_TIMEOUT.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
