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
