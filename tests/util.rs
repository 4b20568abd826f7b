//! Shared helpers of the integration tests (store handles, row collection).

use std::collections::BTreeMap;

use linstor_db_core::backend::etcd::EtcdStore;
use linstor_db_core::backend::{Event, Source};
use linstor_db_core::config::DbConfig;
use linstor_db_core::export::ExportMeta;
use linstor_db_core::row::Row;
use linstor_db_core::store::EtcdSettings;
pub use linstor_db_tests::*;

/// A connection to the shared etcd under `prefix`.
pub async fn etcd_store(prefix: &str) -> EtcdStore {
    let config = DbConfig { etcd_prefix_raw: prefix.to_owned(), ..DbConfig::default() };
    EtcdStore::connect(EtcdSettings::new(vec![Etcd::shared().endpoint.clone()], &config))
        .await
        .expect("connect to test etcd")
}

/// A raw etcd client for looking at keys directly.
pub async fn raw_client() -> etcd_client::Client {
    etcd_client::Client::connect([Etcd::shared().endpoint.as_str()], None).await.expect("raw etcd client")
}

/// Every key and value under `prefix`.
pub async fn raw_keys(prefix: &str) -> BTreeMap<String, String> {
    let mut client = raw_client().await.kv_client().max_decoding_message_size(usize::MAX);
    let response = client.get(prefix, Some(etcd_client::GetOptions::new().with_prefix())).await.expect("range read");
    response.kvs().iter().map(|kv| (kv.key_str().unwrap().to_owned(), kv.value_str().unwrap().to_owned())).collect()
}

/// All rows of a source by (table, formatted key), with the metadata.
pub async fn collect(source: &mut dyn Source) -> (ExportMeta, BTreeMap<(String, String), Row>) {
    let meta = source.open().await.expect("open source");
    let mut rows = BTreeMap::new();
    let mut table = None;
    while let Some(event) = source.next_event().await.expect("read source") {
        match event {
            Event::TableStart(t) => table = Some(t),
            Event::Rows(batch) => {
                let t = table.expect("rows inside a table");
                for row in batch {
                    let previous = rows.insert((t.name.to_owned(), row.formatted_key(t)), row);
                    assert!(previous.is_none(), "duplicate row in {}", t.name);
                }
            }
            Event::TableEnd => table = None,
        }
    }
    (meta, rows)
}

/// A connection to the test API server as its admin.
pub async fn k8s_store() -> linstor_db_core::backend::k8s::K8sStore {
    k8s_store_at(&KubeApiServer::shared().kubeconfig).await
}

/// A connection to the API server of `kubeconfig`.
pub async fn k8s_store_at(kubeconfig: &std::path::Path) -> linstor_db_core::backend::k8s::K8sStore {
    use linstor_db_core::backend::k8s::{K8sSettings, K8sStore};
    let settings = K8sSettings { kubeconfig: Some(kubeconfig.to_owned()), ..K8sSettings::default() };
    K8sStore::connect(settings).await.expect("connect to the test kube-apiserver")
}

/// A kube client as the test API server's admin.
pub async fn kube_client() -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(&KubeApiServer::shared().kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Deletes every LINSTOR CRD (and with it every LINSTOR object) so a test starts from an empty cluster.
pub async fn reset_cluster() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: kube::Api<CustomResourceDefinition> = kube::Api::all(kube_client().await);
    let crds = api.list(&Default::default()).await.unwrap();
    let names: Vec<String> = crds
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .filter(|n| n.ends_with(".internal.linstor.linbit.com"))
        .collect();
    for name in &names {
        let _ = api.delete(name, &Default::default()).await;
    }
    // Deleting a CRD deletes its objects first, which takes a while after a big test; a reset that
    // gave up silently would leak those objects into the next test, so it waits (bounded) or fails.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    for name in &names {
        while api.get_opt(name).await.unwrap().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "reset_cluster: CRD {name} still exists 300 s after it was deleted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Asserts that `source` holds exactly the rows `plan` generates.
pub async fn assert_holds_plan(source: &mut dyn Source, plan: &linstor_db_core::generate::Plan, what: &str) {
    let (_, expected) = collect(&mut linstor_db_core::generate::GeneratedSource::new(plan.clone())).await;
    let (_, actual) = collect(source).await;
    assert_eq!(actual.len(), expected.len(), "{what}: row count");
    assert!(actual == expected, "{what}: rows differ from the generated database");
}

/// Copy options that cancel the copy after its first batch of rows, as if the process were killed.
pub fn cancel_after_first_rows() -> linstor_db_core::engine::CopyOptions {
    use linstor_db_core::engine::{CopyOptions, Progress};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    CopyOptions {
        progress: Some(Arc::new(move |p: &Progress| {
            if matches!(p, Progress::Rows(_)) {
                flag.store(true, Ordering::Relaxed);
            }
        })),
        cancel: Some(cancel),
        ..CopyOptions::default()
    }
}

/// Creates (or re-creates) the ClusterRoles of deploy/rbac.yaml.
pub async fn install_cluster_roles(client: &kube::Client) {
    use k8s_openapi::api::rbac::v1::ClusterRole;
    let roles: kube::Api<ClusterRole> = kube::Api::all(client.clone());
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/rbac.yaml")).unwrap();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let role: ClusterRole = serde::Deserialize::deserialize(document).unwrap();
        let _ = roles.delete(role.metadata.name.as_deref().unwrap(), &Default::default()).await;
        roles.create(&Default::default(), &role).await.unwrap();
    }
}

/// A new namespace `namespace` with a ServiceAccount `linstor-db` bound (ClusterRoleBinding named
/// `namespace`) to the ClusterRole `role` of deploy/rbac.yaml, and a token of that account (10 min).
/// Waits until the binding reaches the authorizer (through an informer).
pub async fn service_account_token(namespace: &str, role: &str) -> String {
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    let client = kube_client().await;
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).unwrap();
    namespaces.create(&Default::default(), &ns).await.unwrap();
    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), namespace);
    let sa: ServiceAccount = serde_json::from_value(serde_json::json!({"metadata": {"name": "linstor-db"}})).unwrap();
    accounts.create(&Default::default(), &sa).await.unwrap();
    install_cluster_roles(&client).await;
    let bindings: kube::Api<ClusterRoleBinding> = kube::Api::all(client.clone());
    let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "linstor-db", "namespace": namespace}],
    }))
    .unwrap();
    bindings.create(&Default::default(), &binding).await.unwrap();
    let token = token_of(namespace, "linstor-db").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    token
}

/// A token (10 min) of the existing ServiceAccount `namespace/account`, as a pod of it gets one.
pub async fn token_of(namespace: &str, account: &str) -> String {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(kube_client().await, namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(600), ..Default::default() },
        ..Default::default()
    };
    accounts.create_token_request(account, &Default::default(), &request).await.unwrap().status.unwrap().token
}

/// Writes `path`: the test API server's admin kubeconfig with its user authenticating by `token`.
pub fn token_kubeconfig(path: &std::path::Path, token: &str) {
    let text = std::fs::read_to_string(&KubeApiServer::shared().kubeconfig).unwrap();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    config["users"][0]["user"] = serde_yaml::from_str(&format!("token: {token}")).unwrap();
    std::fs::write(path, serde_yaml::to_string(&config).unwrap()).unwrap();
}

/// Creates namespace `name` unless it exists. Namespaces are never deleted by shared tests: the test
/// API server runs no namespace controller, so a deleted one would stay terminating.
pub async fn ensure_namespace(name: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let api: kube::Api<Namespace> = kube::Api::all(kube_client().await);
    let namespace: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    let _ = api.create(&Default::default(), &namespace).await;
}

/// Deletes what [`service_account_token`] created.
pub async fn delete_service_account(namespace: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    let client = kube_client().await;
    let _ = kube::Api::<ClusterRoleBinding>::all(client.clone()).delete(namespace, &Default::default()).await;
    let _ = kube::Api::<Namespace>::all(client).delete(namespace, &Default::default()).await;
}
