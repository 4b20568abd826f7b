//! Backups whose objects are at a served version other than the storage version (what `kubectl get`
//! and so LINSTOR's own container entrypoint make), on the real API server: LINSTOR's real backup from
//! its Secret and its file, dumps made here at every served version of LINSTOR-style CRDs with 7
//! versions, the lost columns by name, the restore refusal, and our own backups at the storage version.

use std::path::Path;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use linstor_db_core::backend::Connection;
use linstor_db_core::config::DbConfig;
use linstor_db_core::jobs::{self, JobOptions};
use linstor_db_core::schema::{DataVersion, ServedVersion};
use linstor_db_core::store::StoreAddress;
use serde_json::{json, Value as Json};

use crate::util::*;

fn written(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/reference/linstor-written").join(name)
}

fn connection(prefix: &str) -> Connection {
    Connection {
        config: DbConfig { etcd_prefix_raw: prefix.to_owned(), ..DbConfig::default() },
        kubeconfig: Some(KubeApiServer::shared().kubeconfig.clone()),
        kube_context: None,
        config_dir: None,
        retry_timeout: None,
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    let kubeconfig = KubeApiServer::shared().kubeconfig.display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--kubeconfig", kubeconfig.as_str()]);
    run_cli(&all)
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Applies the Secret LINSTOR 1.33.3's entrypoint stored its backup in; returns its address.
async fn apply_linstors_secret() -> String {
    let client = kube_client().await;
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let _ = namespaces
        .create(&Default::default(), &serde_json::from_value(json!({"metadata": {"name": "linstor"}})).unwrap())
        .await;
    let text = std::fs::read_to_string(written("v2-entrypoint-backup.secrets.yaml")).unwrap();
    let list: Json = serde_yaml::from_str(&text).unwrap();
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client, "linstor");
    let mut name = String::new();
    for item in list["items"].as_array().unwrap() {
        let mut item = item.clone();
        for key in ["resourceVersion", "uid", "creationTimestamp"] {
            item["metadata"].as_object_mut().unwrap().remove(key);
        }
        let secret: Secret = serde_json::from_value(item).unwrap();
        name = secret.metadata.name.clone().unwrap();
        let _ = secrets.delete(&name, &Default::default()).await;
        secrets.create(&Default::default(), &secret).await.unwrap();
    }
    format!("secret://linstor/{name}")
}

/// LINSTOR's real backup (objects at v1-19-1 on CRDs storing v1-27-1) verifies equal to the rows it
/// was taken from, from its Secret and from the file; `backup list` calls it complete and says what it
/// lost; restore needs --accept-lost-columns and writes nothing without it.
#[tokio::test]
async fn linstors_entrypoint_backup_verifies_from_its_secret_and_file() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let secret = apply_linstors_secret().await;
    let source = written("v2-entrypoint-backup.source.json").display().to_string();
    let file = written("v2-entrypoint-backup.tar.gz").display().to_string();
    for backup in [secret.as_str(), file.as_str()] {
        let out = cli(&["verify", backup, &source]);
        assert!(out.status.success(), "{}", describe(&out));
        let text = stdout(&out);
        assert!(text.starts_with("equal: "), "{text}");
        assert!(text.contains("ResourceGroups.peer_slots") && text.contains("0 values on the other side"), "{text}");
        let info = stdout(&cli(&["info", backup]));
        assert!(info.contains("data version v1-27-1") && info.contains("objects at:       v1-19-1"), "{info}");
        assert!(
            info.contains("lost columns:     2") && info.contains("ResourceGroups.x_replicas_on_different"),
            "{info}"
        );
    }
    let list = cli(&["backup", "list", "linstor"]);
    assert!(list.status.success(), "{}", describe(&list));
    let line = stdout(&list).lines().find(|l| l.starts_with("linstor-backup-for-")).unwrap_or_default().to_owned();
    assert!(line.contains(" yes ") && line.contains("v1-27-1"), "{line}");
    assert!(line.ends_with("objects at v1-19-1, 2 columns lost"), "{line}");

    // Restore refuses before writing anything, naming the columns; with the flag it restores.
    let refused = cli(&["restore", "--from", &secret, "--to", "k8s"]);
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    for part in ["ResourceGroups.peer_slots", "ResourceGroups.x_replicas_on_different", "--accept-lost-columns"] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(kube_client().await);
    let ours = crds.list(&Default::default()).await.unwrap().items;
    assert!(
        !ours.iter().any(|c| c.spec.group == "internal.linstor.linbit.com"),
        "the refused restore wrote nothing, not even a CRD"
    );
    // The rows in this backup came from the old generator (its README), which LINSTOR would not load:
    // the pre-write check refuses them by rule, writing nothing; --no-check restores them as they are.
    let unloadable = cli(&["restore", "--from", &secret, "--to", "k8s", "--accept-lost-columns"]);
    assert_eq!(unloadable.status.code(), Some(2), "{}", describe(&unloadable));
    let stderr = String::from_utf8_lossy(&unloadable.stderr).into_owned();
    assert!(stderr.contains("object-protection") && stderr.contains("--no-check"), "{stderr}");
    let ours = crds.list(&Default::default()).await.unwrap().items;
    assert!(!ours.iter().any(|c| c.spec.group == "internal.linstor.linbit.com"), "the refused restore wrote a CRD");
    let restored = cli(&["restore", "--from", &secret, "--to", "k8s", "--accept-lost-columns", "--no-check"]);
    assert!(restored.status.success(), "{}", describe(&restored));
    let out = cli(&["verify", "k8s", &source]);
    assert!(out.status.success(), "{}", describe(&out));
}

/// `kubectl get <plural> -oyaml` at `version`: a raw GET of the collection at that version, as a
/// kubectl List with full metadata.
async fn get_list(client: &kube::Client, crd: &CustomResourceDefinition, version: &str) -> String {
    let gvk = GroupVersionKind::gvk(&crd.spec.group, version, &crd.spec.names.kind);
    let api: kube::Api<DynamicObject> =
        kube::Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural));
    let items: Vec<Json> =
        api.list(&Default::default()).await.unwrap().items.iter().map(|i| serde_json::to_value(i).unwrap()).collect();
    serde_yaml::to_string(
        &json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}),
    )
    .unwrap()
}

/// The database LINSTOR 1.33.3 left, imported into the API server (CRDs with 7 versions, as LINSTOR
/// writes them, compared with what LINSTOR left), dumped here at every served version: each dump reads
/// as v1-31-1 with the columns that version lacks named and counted against the live store; restore
/// refuses it; our own backup and export of the same store stay at the storage version and lose nothing.
#[tokio::test]
async fn kubectl_dumps_at_every_served_version_of_linstor_style_crds() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let prefix = unique_prefix("served");
    let connection = connection(&prefix);
    let export = written("loaded-by-linstor-k8s.export.json");
    jobs::import(&connection, &export, &StoreAddress::K8s, &JobOptions::default()).await.unwrap();
    let client = kube_client().await;

    // The CRDs on the server are LINSTOR's: 7 versions (schedules 5, ebsremotes 4), same schemas.
    let crd_api: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    let crds: Vec<CustomResourceDefinition> = crd_api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.spec.group == "internal.linstor.linbit.com")
        .collect();
    let text = std::fs::read_to_string(written("crds-after-linstor-migrations.yaml")).unwrap();
    let linstors: Vec<Json> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| <Json as serde::Deserialize>::deserialize(d).unwrap())
        .filter(|d| !d.is_null())
        .collect();
    assert_eq!(crds.len(), linstors.len());
    for theirs in &linstors {
        let name = theirs["metadata"]["name"].as_str().unwrap();
        let ours =
            serde_json::to_value(crds.iter().find(|c| c.metadata.name.as_deref() == Some(name)).unwrap()).unwrap();
        assert_eq!(ours["spec"]["conversion"], theirs["spec"]["conversion"], "{name}");
        assert_eq!(ours["spec"]["names"], theirs["spec"]["names"], "{name}");
        let (a, b) = (ours["spec"]["versions"].as_array().unwrap(), theirs["spec"]["versions"].as_array().unwrap());
        assert_eq!(a.len(), b.len(), "{name}");
        for (a, b) in a.iter().zip(b) {
            for key in ["name", "served", "storage", "schema"] {
                assert_eq!(a[key], b[key], "{name} {} {key}", b["name"]);
            }
        }
    }

    let live_rows = jobs::info(&connection, &StoreAddress::K8s).await.unwrap().rows;
    let dir = TempDir::new().unwrap();
    let crds_yaml = serde_yaml::to_string(&json!({"apiVersion": "v1", "kind": "List",
        "items": crds.iter().map(|c| serde_json::to_value(c).unwrap()).collect::<Vec<_>>()}))
    .unwrap();
    let version = DataVersion::V1_31_1;
    for served in ServedVersion::listed("NODES", version) {
        let dump = dir.path().join(served.as_str());
        std::fs::create_dir(&dump).unwrap();
        std::fs::write(dump.join("crds.yaml"), &crds_yaml).unwrap();
        for crd in &crds {
            // kubectl's choice per CRD: the requested version, or the oldest one the CRD serves.
            let names: Vec<&str> = crd.spec.versions.iter().map(|v| v.name.as_str()).collect();
            let at = names
                .iter()
                .filter_map(|n| ServedVersion::parse(n))
                .filter(|v| *v >= served)
                .min()
                .map_or("v1", |v| v.as_str());
            let yaml = get_list(&client, crd, at).await;
            std::fs::write(dump.join(format!("{}.yaml", crd.metadata.name.clone().unwrap())), yaml).unwrap();
        }
        let address = StoreAddress::File(dump.clone());
        let info = jobs::info(&connection, &address).await.unwrap();
        assert_eq!(info.data_version, "v1-31-1", "{served}");
        assert_eq!(info.rows, live_rows, "{served}");
        let report = jobs::verify(&connection, &address, &StoreAddress::K8s, |_| {}).await.unwrap();
        let lost: Vec<(String, Option<u64>)> =
            report.lost_columns.iter().map(|l| (format!("{}.{}", l.kind, l.field), l.values_elsewhere)).collect();
        if served == ServedVersion::Data(version) {
            assert!(info.objects_at.is_empty() && info.lost_columns.is_empty(), "{served}");
            assert!(report.equal(), "{served}: {report:?}");
            continue;
        }
        // Tables without a CRD at `served` (Schedules before v1-18-2) are at their first version.
        assert_eq!(info.objects_at.first().map(String::as_str), Some(served.as_str()));
        // What the API server pruned, by name, with the live objects that hold a value.
        let tcp = ("LayerDrbdResources.tcp_port_list".to_owned(), Some(292));
        assert!(lost.contains(&tcp), "{served}: {lost:?}");
        assert_eq!(lost.iter().filter(|(n, _)| n.starts_with("ResourceConnections.tcp_port_")).count(), 2);
        assert!(lost.iter().any(|(n, v)| n == "ResourceConnections.tcp_port_src" && *v == Some(13)), "{lost:?}");
        assert!(!report.equal(), "{served}: the lost values are differences");

        // Restore refuses it before touching the target.
        let etcd = StoreAddress::parse(&Etcd::shared().url()).unwrap();
        let err = jobs::restore(&connection, &address, &etcd, &JobOptions::default()).await.unwrap_err().to_string();
        assert!(err.contains("LayerDrbdResources.tcp_port_list") && err.contains("--accept-lost-columns"), "{err}");
        assert!(raw_keys(&prefix).await.is_empty(), "nothing written");
    }

    // Our own backup and export of the 7-version CRDs are at the storage version and lose nothing.
    let backup = dir.path().join("ours.tar.gz");
    jobs::backup(&connection, &StoreAddress::K8s, &StoreAddress::File(backup.clone()), &JobOptions::default())
        .await
        .unwrap();
    let info = jobs::info(&connection, &StoreAddress::File(backup.clone())).await.unwrap();
    assert!(info.objects_at.is_empty() && info.lost_columns.is_empty(), "{info:?}");
    let archive = std::fs::read(&backup).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
    let mut checked = 0;
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        // Strings are written double-quoted (kubectl reads YAML 1.1).
        let unquoted = text.replace('"', "");
        for line in unquoted.lines().filter(|l| l.starts_with("apiVersion: internal.linstor.linbit.com/")) {
            assert!(line.ends_with("/v1-31-1") || line.ends_with("/v1"), "{line}");
            checked += 1;
        }
    }
    assert!(checked > 4000, "{checked}");
    let exported = dir.path().join("export.json");
    jobs::export(&connection, &StoreAddress::K8s, &exported, &JobOptions::default()).await.unwrap();
    let report =
        jobs::verify(&connection, &StoreAddress::File(exported), &StoreAddress::File(export), |_| {}).await.unwrap();
    assert!(report.equal() && report.lost_columns.is_empty(), "{report:?}");
}
