//! The Kubernetes backend against the real kube-apiserver: round trips, CRDs and names exactly as
//! LINSTOR has them, version markers, refusals. Tests hold the cluster lock (CRDs are cluster-wide).

use linstor_db_core::backend::etcd::{EtcdSource, EtcdTarget};
use linstor_db_core::backend::file::ExportFileSource;
use linstor_db_core::backend::k8s::{K8sSource, K8sTarget};
use linstor_db_core::engine::{self, CopyOptions};
use linstor_db_core::generate::{GeneratedSource, Plan};
use linstor_db_core::k8s_layout;
use linstor_db_core::schema::DataVersion;
use linstor_db_core::Error;

use crate::util::*;

#[tokio::test]
async fn generated_database_round_trips_through_k8s_and_matches_etcd() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let plan = Plan::for_rows(3000, 21, DataVersion::V1_31_1);
    let store = k8s_store().await;
    let report = engine::copy(
        &mut GeneratedSource::new(plan.clone()),
        &mut K8sTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.rows > 2500);
    let (_, expected) = collect(&mut GeneratedSource::new(plan.clone())).await;
    let (meta, from_k8s) = collect(&mut K8sSource::new(store.clone())).await;
    assert_eq!((meta.exported_from.as_str(), meta.k8s_version, meta.data_version), ("k8s", 30, DataVersion::V1_31_1));
    assert!(from_k8s == expected, "rows read back from k8s differ from the rows written");

    // The same database in etcd reads back identically.
    let prefix = unique_prefix("k8s-vs-etcd");
    let etcd = etcd_store(&prefix).await;
    engine::copy(&mut GeneratedSource::new(plan), &mut EtcdTarget::new(etcd.clone()), &CopyOptions::default())
        .await
        .unwrap();
    let (etcd_meta, from_etcd) = collect(&mut EtcdSource::new(etcd.clone())).await;
    assert!(from_etcd == from_k8s);
    assert_eq!((etcd_meta.linstor_version, etcd_meta.data_version), (meta.linstor_version, meta.data_version));

    // And exports to the same JSON, apart from exported_from and the timestamp.
    let dir = TempDir::new().unwrap();
    let (k8s_file, etcd_file) = (dir.path().join("k8s.json"), dir.path().join("etcd.json"));
    engine::export_file(Box::new(K8sSource::new(store.clone())), &k8s_file, &CopyOptions::default()).await.unwrap();
    engine::export_file(Box::new(EtcdSource::new(etcd)), &etcd_file, &CopyOptions::default()).await.unwrap();
    let normalized = |path: &std::path::Path| {
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find(",\"data_version\"").unwrap();
        text[start..].to_owned()
    };
    assert!(normalized(&k8s_file) == normalized(&etcd_file), "k8s and etcd exports of one database differ");

    // Bookkeeping as LINSTOR expects it: LinstorVersion = last migration + 1, no Rollback objects.
    let client = kube_client().await;
    let version = linstor_api(&client, "v1", "LinstorVersion", "linstorversion").get("version").await.unwrap();
    assert_eq!(version.data["spec"]["version"], 31);
    assert!(version.metadata.annotations.unwrap_or_default().is_empty(), "import marker removed");
    assert!(linstor_api(&client, "v1", "Rollback", "rollback")
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

/// The dynamic API of a LINSTOR resource at `version` (`v1` for LinstorVersion and Rollback).
fn linstor_api(client: &kube::Client, version: &str, kind: &str, plural: &str) -> kube::Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("internal.linstor.linbit.com", version, kind);
    kube::Api::all_with(client.clone(), &kube::api::ApiResource::from_gvk_with_plural(&gvk, plural))
}

/// The CRDs we create, as the API server returns them, equal LINSTOR's, and CR names are the hashes.
#[tokio::test]
async fn crds_and_names_on_the_server_are_linstors() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("doc.json");
    std::fs::write(&file, DOC_EXPORT_V1_33_1).unwrap();
    let store = k8s_store().await;
    // The format doc's example is about CRDs and names, not a database LINSTOR would load: no check.
    let unchecked = CopyOptions { no_check: true, ..CopyOptions::default() };
    engine::import_file(&file, &mut K8sTarget::new(store.clone()), &unchecked).await.unwrap();

    let client = kube_client().await;
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    for table in &DataVersion::V1_33_1.schema().tables {
        let served = crds.get(&table.crd_name()).await.unwrap();
        let expected = k8s_layout::crd(table.name, DataVersion::V1_33_1).unwrap();
        let served_spec = serde_json::to_value(&served.spec).unwrap();
        assert_eq!(
            served_spec["versions"].as_array().unwrap().len(),
            expected["spec"]["versions"].as_array().unwrap().len()
        );
        for (ours, theirs) in
            served_spec["versions"].as_array().unwrap().iter().zip(expected["spec"]["versions"].as_array().unwrap())
        {
            assert_eq!(ours["name"], theirs["name"]);
            assert_eq!(ours["storage"], theirs["storage"]);
            assert_eq!(ours["schema"], theirs["schema"], "{} {}", table.name, theirs["name"]);
        }
        assert_eq!(served_spec["scope"], "Cluster");
        assert_eq!(served_spec["names"]["kind"], table.kind.as_str());
        assert_eq!(served.status.unwrap().stored_versions.unwrap(), vec!["v1-33-1".to_owned()]);
    }
    // §3.4: NODES ALPHA and PROPS_CONTAINERS /CTRL:defaultPlainConSvc by their hash names.
    let nodes = linstor_api(&client, "v1-33-1", "Nodes", "nodes")
        .get("73ab66a033c267e00b7429bb256f6deb2734ebc4cd4ff5b564a8c9f9b2c8a719")
        .await
        .unwrap();
    assert_eq!(nodes.data["spec"]["node_dsp_name"], "alpha");
    let prop = linstor_api(&client, "v1-33-1", "PropsContainers", "propscontainers")
        .get("39672e342e65d064f80845d7bd40fddafde0bee5826a1bd7dfda41b22d36a60d")
        .await
        .unwrap();
    assert_eq!(prop.data["spec"]["prop_value"], "PlainConnector");
    let rd = linstor_api(&client, "v1-33-1", "ResourceDefinitions", "resourcedefinitions")
        .list(&Default::default())
        .await
        .unwrap();
    let spec = rd.items[0].data["spec"].as_object().unwrap();
    assert!(!spec.contains_key("parent_uuid"), "NULL columns are absent, never null");
    assert_eq!(
        linstor_api(&client, "v1", "LinstorVersion", "linstorversion").get("version").await.unwrap().data["spec"]
            ["version"],
        35
    );

    // And it exports back to the same rows.
    let (_, before) = collect(&mut ExportFileSource::new(&file)).await;
    let (_, after) = collect(&mut K8sSource::new(store)).await;
    let after: std::collections::BTreeMap<_, _> =
        after.into_iter().filter(|((t, _), _)| t != "SEC_ACCESS_TYPES").collect();
    assert!(before == after);
}

#[tokio::test]
async fn a_non_empty_cluster_is_refused_unless_replacing_and_etcd_only_data_is_not_downgraded() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let store = k8s_store().await;
    let first = Plan::for_rows(800, 1, DataVersion::V1_31_1);
    let second = Plan::for_rows(800, 2, DataVersion::V1_31_1);
    engine::copy(&mut GeneratedSource::new(first), &mut K8sTarget::new(store.clone()), &CopyOptions::default())
        .await
        .unwrap();
    let err = engine::copy(
        &mut GeneratedSource::new(second.clone()),
        &mut K8sTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::TargetNotEmpty { .. }), "{err}");
    let replace = CopyOptions { replace: true, ..CopyOptions::default() };
    engine::copy(&mut GeneratedSource::new(second.clone()), &mut K8sTarget::new(store.clone()), &replace)
        .await
        .unwrap();
    let (_, expected) = collect(&mut GeneratedSource::new(second)).await;
    let (_, actual) = collect(&mut K8sSource::new(store.clone())).await;
    assert!(actual == expected, "replace left rows of the old database behind");
    // Going back to an older data version over newer CRDs is refused before anything is written.
    let newer = Plan::for_rows(300, 3, DataVersion::V1_33_1);
    engine::copy(&mut GeneratedSource::new(newer), &mut K8sTarget::new(store.clone()), &replace).await.unwrap();
    let older = Plan::for_rows(300, 4, DataVersion::V1_31_1);
    let err = engine::copy(&mut GeneratedSource::new(older), &mut K8sTarget::new(store), &replace).await.unwrap_err();
    assert!(matches!(err, Error::DataVersionNotSupported { .. }), "{err}");
}

#[tokio::test]
async fn an_empty_cluster_is_not_a_linstor_database() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let err = engine::inspect(&mut K8sSource::new(k8s_store().await)).await.unwrap_err();
    assert!(matches!(err, Error::NotLinstor { .. }) && err.to_string().contains("LinstorVersion"), "{err}");
}

#[tokio::test]
async fn cli_import_export_and_info_with_k8s() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let dir = TempDir::new().unwrap();
    let kubeconfig = KubeApiServer::shared().kubeconfig.display().to_string();
    let generated = dir.path().join("gen.json");
    let exported = dir.path().join("out.json");
    let conf = write_config(dir.path(), "[db]\nconnection_url = \"k8s\"\n");
    let conf = conf.to_str().unwrap();
    let run = |args: &[&str]| {
        let output = run_cli(args);
        assert!(output.status.success(), "{args:?}\n{}", describe(&output));
        output
    };
    run(&["generate", "--rows", "1500", "--to", generated.to_str().unwrap()]);
    run(&["import-db", "-c", conf, "--kubeconfig", &kubeconfig, generated.to_str().unwrap()]);
    run(&["export-db", "-c", conf, "--kubeconfig", &kubeconfig, exported.to_str().unwrap()]);
    let info = run(&["info", "k8s", "--kubeconfig", &kubeconfig, "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["k8s_version"], 30);
    let (_, before) = collect(&mut ExportFileSource::new(&generated)).await;
    let (meta, after) = collect(&mut ExportFileSource::new(&exported)).await;
    assert_eq!(meta.exported_from, "k8s");
    assert!(before == after);
    // `--to k8s` from a file written from etcd works the same way.
    let second = run_cli(&["import-db", "--to", "k8s", "--kubeconfig", &kubeconfig, generated.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(2), "a second import without --replace is refused\n{}", describe(&second));
    run(&["import-db", "--to", "k8s", "--replace", "--kubeconfig", &kubeconfig, generated.to_str().unwrap()]);
}

/// LINSTOR 1.34 data (v1-33-1): the §3.4 examples in an export.
const DOC_EXPORT_V1_33_1: &str = r#"{"linstor_version":"1.34.0-rc.1","export_timestamp_ms":1780000000000,"exported_from":"k8s","data_version":"v1-33-1","sql_version":"2026.04.08.09.00","k8s_version":34,"tables":[
{"name":"NODES","data":[{"uuid":"2b1d6c2e-5a7e-4b53-9a0f-5d6f3f0e9c11","node_name":"ALPHA","node_dsp_name":"alpha","node_flags":0,"node_type":2}]},
{"name":"RESOURCE_DEFINITIONS","data":[{"uuid":"9d1c","resource_name":"RSC1","snapshot_name":"","resource_dsp_name":"rsc1","snapshot_dsp_name":"","resource_flags":0,"layer_stack":"[\"DRBD\",\"STORAGE\"]","resource_group_name":"DFLTRSCGRP"}]},
{"name":"PROPS_CONTAINERS","data":[{"props_instance":"/CTRL","prop_key":"defaultPlainConSvc","prop_value":"PlainConnector"}]},
{"name":"TRACKING_DATE","data":[{"entry_date":1700000000000}]}
]}"#;

/// deploy/rbac.yaml: a user with no permission is told what is missing; with the reader role it can
/// export but not import; with the writer role it can import.
#[tokio::test]
async fn least_privilege_cluster_roles() {
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let server = KubeApiServer::shared();
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("db.json");
    let out = dir.path().join("out.json");
    let (file_s, out_s) = (file.to_str().unwrap(), out.to_str().unwrap());
    let admin = server.kubeconfig.display().to_string();
    let user = server.user_kubeconfig.display().to_string();
    let ok = |args: &[&str]| {
        let output = run_cli(args);
        assert!(output.status.success(), "{args:?}\n{}", describe(&output));
    };
    let refused = |args: &[&str], expected: &str| {
        let output = run_cli(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{args:?}\n{}", describe(&output));
        assert!(
            stderr.contains(expected) && stderr.contains("deploy/rbac.yaml"),
            "{args:?} should say '{expected}'\n{stderr}"
        );
    };
    ok(&["generate", "--rows", "500", "--to", file_s]);
    ok(&["import-db", "--to", "k8s", "--kubeconfig", &admin, file_s]);

    // No permission at all.
    refused(&["export-db", "--from", "k8s", "--kubeconfig", &user, out_s], "refused to list linstorversion");

    let client = kube_client().await;
    install_cluster_roles(&client).await;
    let bindings: kube::Api<ClusterRoleBinding> = kube::Api::all(client.clone());
    let bind = |role: &str| {
        serde_json::from_value::<ClusterRoleBinding>(serde_json::json!({
            "metadata": {"name": "linstor-db-test"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": server.user}],
        }))
        .unwrap()
    };
    let rebind = |role: &'static str| {
        let bindings = bindings.clone();
        let binding = bind(role);
        async move {
            let _ = bindings.delete("linstor-db-test", &Default::default()).await;
            bindings.create(&Default::default(), &binding).await.unwrap();
            // RBAC changes reach the authorizer through an informer: wait until they apply.
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        }
    };

    rebind("linstor-db-reader").await;
    ok(&["export-db", "--from", "k8s", "--kubeconfig", &user, out_s]);
    refused(&["import-db", "--to", "k8s", "--replace", "--kubeconfig", &user, file_s], "refused to");

    rebind("linstor-db-writer").await;
    ok(&["import-db", "--to", "k8s", "--replace", "--kubeconfig", &user, file_s]);
    ok(&["export-db", "--from", "k8s", "--kubeconfig", &user, out_s]);
    let _ = bindings.delete("linstor-db-test", &Default::default()).await;
}

/// A cluster that still has a CRD storing a version from LINSTOR before 1.20 (v1-17-0) is replaced
/// cleanly by v1-33-1 data: its CRDs (LINSTOR 1.34's) no longer list that version and the API server
/// would refuse a CRD without it, so the CRD is re-created. (The CRDs of v1-19-1 … v1-31-1 still list
/// it, as LINSTOR 1.20 – 1.33 wrote them, and apply over it.)
#[tokio::test]
async fn crds_storing_pre_1_20_versions_are_recreated_on_replace() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let client = kube_client().await;
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    let old: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "nodes.internal.linstor.linbit.com"},
        "spec": {
            "group": "internal.linstor.linbit.com",
            "scope": "Cluster",
            "names": {"plural": "nodes", "singular": "nodes", "kind": "Nodes"},
            "versions": [{"name": "v1-17-0", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}],
        },
    }))
    .unwrap();
    crds.create(&Default::default(), &old).await.unwrap();
    for _ in 0..100 {
        let established = crds
            .get("nodes.internal.linstor.linbit.com")
            .await
            .unwrap()
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default();
        if established.iter().any(|c| c.type_ == "Established" && c.status == "True") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let gvk = kube::api::GroupVersionKind::gvk("internal.linstor.linbit.com", "v1-17-0", "Nodes");
    let old_nodes: kube::Api<kube::api::DynamicObject> =
        kube::Api::all_with(client.clone(), &kube::api::ApiResource::from_gvk_with_plural(&gvk, "nodes"));
    let object: kube::api::DynamicObject =
        serde_json::from_value(serde_json::json!({"apiVersion": "internal.linstor.linbit.com/v1-17-0", "kind": "Nodes", "metadata": {"name": "old"}, "spec": {"node_name": "OLD"}}))
            .unwrap();
    old_nodes.create(&Default::default(), &object).await.unwrap();

    let store = k8s_store().await;
    let plan = Plan::for_rows(300, 6, DataVersion::V1_33_1);
    // Objects stored at an old version count: without --replace the import is refused.
    let err = engine::copy(
        &mut GeneratedSource::new(plan.clone()),
        &mut K8sTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::TargetNotEmpty { .. }) && err.to_string().contains("nodes.internal"), "{err}");
    assert!(old_nodes.get_opt("old").await.unwrap().is_some(), "the refused import left the old object alone");
    let replace = CopyOptions { replace: true, ..CopyOptions::default() };
    engine::copy(&mut GeneratedSource::new(plan.clone()), &mut K8sTarget::new(store.clone()), &replace).await.unwrap();
    let stored = crds.get("nodes.internal.linstor.linbit.com").await.unwrap().status.unwrap().stored_versions.unwrap();
    assert_eq!(stored, vec!["v1-33-1".to_owned()]);
    assert_holds_plan(&mut K8sSource::new(store), &plan, "k8s after re-creating the CRD").await;
}

/// An import stopped part-way leaves LinstorVersion at -1 (LINSTOR refuses to start) with the marker
/// annotation; reading and plain imports are refused with the way out; `--replace` finishes. The final
/// read uses tiny pages to exercise `limit`/`continue`.
#[tokio::test]
async fn an_interrupted_k8s_import_is_marked_and_finished_by_replace() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let store = k8s_store().await;
    let plan = Plan::for_rows(1500, 12, DataVersion::V1_31_1);
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let options = CopyOptions {
        progress: Some(Arc::new(move |p: &linstor_db_core::engine::Progress| {
            if matches!(p, linstor_db_core::engine::Progress::Rows(_)) {
                flag.store(true, Ordering::Relaxed);
            }
        })),
        cancel: Some(cancel),
        ..CopyOptions::default()
    };
    let err = engine::copy(&mut GeneratedSource::new(plan.clone()), &mut K8sTarget::new(store.clone()), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WriteInterrupted { .. }), "{err}");
    let client = kube_client().await;
    let version = linstor_api(&client, "v1", "LinstorVersion", "linstorversion").get("version").await.unwrap();
    assert_eq!(version.data["spec"]["version"], -1);
    assert!(version.metadata.annotations.unwrap().contains_key("linstor-db/import-in-progress"));
    let err = engine::inspect(&mut K8sSource::new(store.clone())).await.unwrap_err();
    assert!(matches!(err, Error::IncompleteImport { .. }) && err.to_string().contains("--replace"), "{err}");
    let err = engine::copy(
        &mut GeneratedSource::new(plan.clone()),
        &mut K8sTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::IncompleteImport { .. }), "{err}");
    let replace = CopyOptions { replace: true, ..CopyOptions::default() };
    engine::copy(&mut GeneratedSource::new(plan.clone()), &mut K8sTarget::new(store), &replace).await.unwrap();

    let settings = linstor_db_core::backend::k8s::K8sSettings {
        kubeconfig: Some(KubeApiServer::shared().kubeconfig.clone()),
        page_size: 7,
        ..Default::default()
    };
    let paged = linstor_db_core::backend::k8s::K8sStore::connect(settings).await.unwrap();
    assert_holds_plan(&mut K8sSource::new(paged), &plan, "k8s read in pages of 7").await;
}

/// Kubeconfig context choice, and a ServiceAccount token (what a pod's in-cluster credentials are)
/// bound to the writer ClusterRole.
#[tokio::test]
async fn kubeconfig_contexts_and_service_account_tokens() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let server = KubeApiServer::shared();
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("db.json");
    let file_s = file.to_str().unwrap();
    assert!(run_cli(&["generate", "--rows", "300", "--to", file_s]).status.success());

    // Two contexts; the current one points nowhere.
    let admin: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&server.kubeconfig).unwrap()).unwrap();
    let mut two = admin.clone();
    let mut broken_cluster = admin["clusters"][0].clone();
    broken_cluster["name"] = "broken".into();
    broken_cluster["cluster"]["server"] = "https://127.0.0.1:1".into();
    two["clusters"].as_sequence_mut().unwrap().push(broken_cluster);
    let mut good_context = admin["contexts"][0].clone();
    good_context["name"] = "good".into();
    let mut broken_context = admin["contexts"][0].clone();
    broken_context["name"] = "broken".into();
    broken_context["context"]["cluster"] = "broken".into();
    two["contexts"] = serde_yaml::Value::Sequence(vec![good_context, broken_context]);
    two["current-context"] = "broken".into();
    let two_path = dir.path().join("two-contexts");
    std::fs::write(&two_path, serde_yaml::to_string(&two).unwrap()).unwrap();
    let two_s = two_path.to_str().unwrap();
    let output = run_cli(&["import-db", "--to", "k8s", "--kubeconfig", two_s, file_s]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot connect to the Kubernetes API at https://127.0.0.1:1"),
        "{}",
        describe(&output)
    );
    let output = run_cli(&["import-db", "--to", "k8s", "--kubeconfig", two_s, "--context", "good", file_s]);
    assert!(output.status.success(), "{}", describe(&output));

    // A ServiceAccount with the writer role, authenticating with its token.
    let ns_name = format!("linstor-db-sa-{}", std::process::id());
    let token = service_account_token(&ns_name, "linstor-db-writer").await;
    let sa_path = dir.path().join("service-account");
    token_kubeconfig(&sa_path, &token);
    let output = run_cli(&["import-db", "--to", "k8s", "--replace", "--kubeconfig", sa_path.to_str().unwrap(), file_s]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!String::from_utf8_lossy(&output.stderr).contains(&token), "the token never reaches the output");
    delete_service_account(&ns_name).await;
}
