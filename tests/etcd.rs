//! The etcd backend against a real etcd: round trips, the exact keys of the format doc, keys as
//! LINSTOR writes them, point-in-time reads, refusals.

use linstor_db_core::backend::etcd::{EtcdSource, EtcdTarget};
use linstor_db_core::backend::file::{ExportFileSource, ExportFileTarget};
use linstor_db_core::backend::Source;
use linstor_db_core::engine::{self, CopyOptions};
use linstor_db_core::generate::{GeneratedSource, Plan};
use linstor_db_core::row::Value;
use linstor_db_core::schema::DataVersion;
use linstor_db_core::Error;

use crate::util::*;

fn plan(rows: usize, seed: u64) -> Plan {
    Plan::for_rows(rows, seed, DataVersion::V1_31_1)
}

#[tokio::test]
async fn generated_database_round_trips_through_etcd() {
    let prefix = unique_prefix("roundtrip");
    let store = etcd_store(&prefix).await;
    let report = engine::copy(
        &mut GeneratedSource::new(plan(5000, 11)),
        &mut EtcdTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.rows > 4000, "{report:?}");
    let (_, expected) = collect(&mut GeneratedSource::new(plan(5000, 11))).await;
    let (meta, actual) = collect(&mut EtcdSource::new(store)).await;
    assert_eq!(meta.linstor_version, "1.33.3");
    assert_eq!(meta.exported_from, "etcd");
    assert_eq!(actual.len(), expected.len());
    assert!(actual == expected, "rows read back from etcd differ from the rows written");
    assert_eq!(raw_keys(&prefix).await[&format!("{prefix}DBHISTORY/version")], "72");
}

/// `linstor-db-format.md` §2.8: the keys of the examples, exactly.
#[tokio::test]
async fn import_writes_the_format_doc_keys_exactly() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("doc.json");
    std::fs::write(&file, DOC_EXAMPLE_EXPORT).unwrap();
    let prefix = "/LINSTOR/".to_owned();
    // The default prefix is used once, by this test only.
    let store = etcd_store(&prefix).await;
    // The format doc's example is about keys, not a database LINSTOR would load: no check.
    let unchecked = CopyOptions { no_check: true, ..CopyOptions::default() };
    engine::import_file(&file, &mut EtcdTarget::new(store.clone()), &unchecked).await.unwrap();
    let keys = raw_keys(&prefix).await;
    let expected = [
        ("/LINSTOR/NODES/ALPHA/UUID", "2b1d6c2e-5a7e-4b53-9a0f-5d6f3f0e9c11"),
        ("/LINSTOR/NODES/ALPHA/NODE_DSP_NAME", "alpha"),
        ("/LINSTOR/NODES/ALPHA/NODE_FLAGS", "0"),
        ("/LINSTOR/NODES/ALPHA/NODE_TYPE", "2"),
        ("/LINSTOR/PROPS_CONTAINERS//CTRL:defaultPlainConSvc/PROP_VALUE", "PlainConnector"),
        ("/LINSTOR/PROPS_CONTAINERS//NODES/ALPHA:CurStltConnName/PROP_VALUE", "default"),
        ("/LINSTOR/PROPS_CONTAINERS//RSC_DFNS/RSC1:DrbdOptions/Resource/quorum/PROP_VALUE", "majority"),
        ("/LINSTOR/RESOURCES/ALPHA:RSC1:/UUID", "0c3e"),
        ("/LINSTOR/RESOURCES/ALPHA:RSC1:/RESOURCE_FLAGS", "0"),
        ("/LINSTOR/RESOURCES/ALPHA:RSC1:/CREATE_TIMESTAMP", "1717171717000"),
        ("/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/RESOURCE_DSP_NAME", "rsc1"),
        ("/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/SNAPSHOT_DSP_NAME", ""),
        ("/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/LAYER_STACK", r#"["DRBD","STORAGE"]"#),
        ("/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/RESOURCE_EXTERNAL_NAME", ":null"),
        ("/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/PARENT_UUID", ":null"),
        ("/LINSTOR/VOLUME_DEFINITIONS/RSC1::0/VLM_SIZE", "1048576"),
        ("/LINSTOR/LAYER_DRBD_RESOURCES/5/TCP_PORT_LIST", "[7000]"),
        ("/LINSTOR/SEC_ID_ROLE_MAP/PUBLIC:PUBLIC/ROLE_NAME", "PUBLIC"),
        ("/LINSTOR/SEC_ACL_MAP//sys/controller/nodesMap:PUBLIC/ACCESS_TYPE", "7"),
        ("/LINSTOR/TRACKING_DATE/ENTRY_DATE", "1700000000000"),
        ("/LINSTOR/DBHISTORY/version", "72"),
        // SEC_ACCESS_TYPES is never exported, so a fresh target gets the init migration's rows.
        ("/LINSTOR/SEC_ACCESS_TYPES/CONTROL/ACCESS_TYPE_VALUE", "15"),
    ];
    for (key, value) in expected {
        assert_eq!(keys.get(key).map(String::as_str), Some(value), "key {key}");
    }
    assert!(!keys.contains_key("/LINSTOR/NODES/ALPHA/NODE_NAME"), "PK columns live only in the key");
    assert!(!keys.contains_key("/LINSTOR/LINSTOR_DB/import-in-progress"), "the import marker is gone after commit");
    // And the file comes back out unchanged.
    let out = dir.path().join("out.json");
    engine::copy(&mut EtcdSource::new(store), &mut ExportFileTarget::new(&out), &CopyOptions::default()).await.unwrap();
    let (_, before) = collect(&mut ExportFileSource::new(&file)).await;
    let (_, after) = collect(&mut ExportFileSource::new(&out)).await;
    assert!(before == after, "export after import differs");
}

/// Keys as LINSTOR itself writes them: init-migration rows with PK-column keys and `TRUE`,
/// `:null`, missing nullable keys, stringified list elements.
#[tokio::test]
async fn reads_keys_as_linstor_writes_them() {
    let prefix = unique_prefix("linstor-written");
    let mut client = raw_client().await;
    let keys = [
        ("DBHISTORY/version", "72"),
        ("SEC_IDENTITIES/SYSTEM/IDENTITY_NAME", "SYSTEM"),
        ("SEC_IDENTITIES/SYSTEM/IDENTITY_DSP_NAME", "SYSTEM"),
        ("SEC_IDENTITIES/SYSTEM/ID_ENABLED", "TRUE"),
        ("SEC_IDENTITIES/SYSTEM/ID_LOCKED", "TRUE"),
        ("SEC_ID_ROLE_MAP/PUBLIC:PUBLIC/IDENTITY_NAME", "PUBLIC"),
        ("SEC_ID_ROLE_MAP/PUBLIC:PUBLIC/ROLE_NAME", "PUBLIC"),
        ("LAYER_DRBD_RESOURCES/5/PEER_SLOTS", "7"),
        ("LAYER_DRBD_RESOURCES/5/AL_STRIPES", "1"),
        ("LAYER_DRBD_RESOURCES/5/AL_STRIPE_SIZE", "32"),
        ("LAYER_DRBD_RESOURCES/5/FLAGS", "0"),
        ("LAYER_DRBD_RESOURCES/5/NODE_ID", "0"),
        ("LAYER_DRBD_RESOURCES/5/TCP_PORT_LIST", r#"["7000"]"#),
        ("NODE_NET_INTERFACES/ALPHA:DEFAULT/UUID", "u"),
        ("NODE_NET_INTERFACES/ALPHA:DEFAULT/NODE_NET_DSP_NAME", "default"),
        ("NODE_NET_INTERFACES/ALPHA:DEFAULT/INET_ADDRESS", "10.0.0.1"),
        ("NODE_NET_INTERFACES/ALPHA:DEFAULT/STLT_CONN_PORT", ":null"),
    ];
    for (key, value) in keys {
        client.put(format!("{prefix}{key}"), value, None).await.unwrap();
    }
    let (meta, rows) = collect(&mut EtcdSource::new(etcd_store(&prefix).await)).await;
    assert_eq!(meta.data_version, DataVersion::V1_31_1);
    let identity = &rows[&("SEC_IDENTITIES".to_owned(), "SYSTEM".to_owned())];
    assert_eq!(identity.cells[4], Some(Value::Bool(true)));
    assert_eq!(identity.cells[2], None, "missing nullable key is NULL");
    assert!(rows.contains_key(&("SEC_ID_ROLE_MAP".to_owned(), "PUBLIC:PUBLIC".to_owned())));
    assert_eq!(
        rows[&("LAYER_DRBD_RESOURCES".to_owned(), "5".to_owned())].cells[6],
        Some(Value::Text(r#"["7000"]"#.into()))
    );
    let interface = &rows[&("NODE_NET_INTERFACES".to_owned(), "ALPHA:DEFAULT".to_owned())];
    assert_eq!(interface.cells[5], None, ":null is NULL");
    assert_eq!(rows.len(), 4);
}

#[tokio::test]
async fn export_is_a_point_in_time_copy() {
    let prefix = unique_prefix("pinned");
    let store = etcd_store(&prefix).await;
    engine::copy(
        &mut GeneratedSource::new(plan(2000, 5)),
        &mut EtcdTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap();
    let mut source = EtcdSource::new(store);
    source.open().await.unwrap();
    // A write after the snapshot was pinned must not appear in the export.
    let mut client = raw_client().await;
    for col in ["UUID", "NODE_DSP_NAME", "NODE_FLAGS", "NODE_TYPE"] {
        client.put(format!("{prefix}NODES/LATE/{col}"), "0", None).await.unwrap();
    }
    let mut nodes = Vec::new();
    let mut table = None;
    while let Some(event) = source.next_event().await.unwrap() {
        match event {
            linstor_db_core::backend::Event::TableStart(t) => table = Some(t.name),
            linstor_db_core::backend::Event::Rows(rows) if table == Some("NODES") => nodes.extend(rows),
            _ => {}
        }
    }
    assert_eq!(nodes.len(), plan(2000, 5).nodes, "the late node is not in the export");
}

#[tokio::test]
async fn a_non_empty_target_is_refused_and_left_unchanged_unless_replacing() {
    let prefix = unique_prefix("nonempty");
    let store = etcd_store(&prefix).await;
    engine::copy(
        &mut GeneratedSource::new(plan(1000, 1)),
        &mut EtcdTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap();
    let before = raw_keys(&prefix).await;
    let err = engine::copy(
        &mut GeneratedSource::new(plan(1000, 2)),
        &mut EtcdTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::TargetNotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("--replace"), "{err}");
    assert!(raw_keys(&prefix).await == before, "a refused import changed the target");
    let replace = CopyOptions { replace: true, ..CopyOptions::default() };
    engine::copy(&mut GeneratedSource::new(plan(1000, 2)), &mut EtcdTarget::new(store.clone()), &replace)
        .await
        .unwrap();
    let (_, expected) = collect(&mut GeneratedSource::new(plan(1000, 2))).await;
    let (_, actual) = collect(&mut EtcdSource::new(store)).await;
    assert!(actual == expected, "replace left rows of the old database behind");
}

#[tokio::test]
async fn an_interrupted_import_is_marked_refused_and_finished_by_replace() {
    let prefix = unique_prefix("interrupted");
    let store = etcd_store(&prefix).await;
    let options = cancel_after_first_rows();
    let err = engine::copy(&mut GeneratedSource::new(plan(3000, 9)), &mut EtcdTarget::new(store.clone()), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WriteInterrupted { .. }), "{err}");
    let keys = raw_keys(&prefix).await;
    assert_eq!(keys[&format!("{prefix}DBHISTORY/version")], "1", "LINSTOR refuses to start on version 1");
    assert!(keys.contains_key(&format!("{prefix}LINSTOR_DB/import-in-progress")));
    // Reading it is refused with the way out.
    let err = engine::inspect(&mut EtcdSource::new(store.clone())).await.unwrap_err();
    assert!(matches!(err, Error::IncompleteImport { .. }) && err.to_string().contains("--replace"), "{err}");
    // So is importing over it without --replace.
    let err = engine::copy(
        &mut GeneratedSource::new(plan(3000, 9)),
        &mut EtcdTarget::new(store.clone()),
        &CopyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::IncompleteImport { .. }), "{err}");
    // Re-running with --replace finishes the job.
    let replace = CopyOptions { replace: true, ..CopyOptions::default() };
    engine::copy(&mut GeneratedSource::new(plan(3000, 9)), &mut EtcdTarget::new(store.clone()), &replace)
        .await
        .unwrap();
    let (_, expected) = collect(&mut GeneratedSource::new(plan(3000, 9))).await;
    let (_, actual) = collect(&mut EtcdSource::new(store)).await;
    assert!(actual == expected);
}

/// The undo command an interrupted import prints runs as printed, and leaves the prefix empty.
#[tokio::test]
async fn the_printed_undo_of_an_interrupted_import_runs_as_printed() {
    let prefix = unique_prefix("undo");
    let store = etcd_store(&prefix).await;
    let err = engine::copy(
        &mut GeneratedSource::new(plan(3000, 9)),
        &mut EtcdTarget::new(store.clone()),
        &cancel_after_first_rows(),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("run the same command again with --replace"), "{message}");
    let undo = message.split("Undo it (deletes every key under the prefix): ").nth(1).expect("an undo command");
    assert!(undo.starts_with("etcdctl --endpoints="), "{undo}");
    let output = std::process::Command::new("sh").arg("-c").arg(undo).output().unwrap();
    assert!(output.status.success(), "{undo}: {}", String::from_utf8_lossy(&output.stderr));
    assert!(raw_keys(&prefix).await.is_empty(), "{undo} left keys under {prefix}");
    // The refusal of a later read carries the same way out.
    let err = engine::copy(
        &mut GeneratedSource::new(plan(3000, 9)),
        &mut EtcdTarget::new(store.clone()),
        &cancel_after_first_rows(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::WriteInterrupted { .. }), "{err}");
    let err = engine::inspect(&mut EtcdSource::new(store)).await.unwrap_err();
    assert!(err.to_string().contains(undo), "{err}");
}

#[tokio::test]
async fn refuses_databases_it_cannot_read() {
    let mut client = raw_client().await;
    for (name, keys, expected) in [
        ("empty", vec![], "no keys under"),
        ("noversion", vec![("NODES/A/UUID", "u")], "no DBHISTORY/version"),
        ("ancient", vec![("DBHISTORY/version", "20")], "1.8 or older"),
        ("old", vec![("DBHISTORY/version", "50")], "older than 1.24"),
        ("future", vec![("DBHISTORY/version", "99")], "newer LINSTOR"),
        ("rollback", vec![("DBHISTORY/version", "72"), ("ROLLBACK/STATUS", "ready")], "rollback journal"),
    ] {
        let prefix = unique_prefix(name);
        for (key, value) in keys {
            client.put(format!("{prefix}{key}"), value, None).await.unwrap();
        }
        let err = engine::inspect(&mut EtcdSource::new(etcd_store(&prefix).await)).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[tokio::test]
async fn linstor_134_data_is_refused_by_etcd() {
    let prefix = unique_prefix("v1-33-1");
    let store = etcd_store(&prefix).await;
    let plan = Plan::for_rows(500, 1, DataVersion::V1_33_1);
    let err = engine::copy(&mut GeneratedSource::new(plan), &mut EtcdTarget::new(store), &CopyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DataVersionNotSupported { .. }), "{err}");
    assert!(raw_keys(&prefix).await.is_empty());
}

#[tokio::test]
async fn every_data_version_up_to_linstor_133_round_trips() {
    for version in [DataVersion::V1_19_1, DataVersion::V1_25_1, DataVersion::V1_27_1, DataVersion::V1_31_1] {
        let prefix = unique_prefix(version.as_str());
        let store = etcd_store(&prefix).await;
        let plan = Plan::for_rows(800, 3, version);
        engine::copy(
            &mut GeneratedSource::new(plan.clone()),
            &mut EtcdTarget::new(store.clone()),
            &CopyOptions::default(),
        )
        .await
        .unwrap();
        let (_, expected) = collect(&mut GeneratedSource::new(plan)).await;
        let (meta, actual) = collect(&mut EtcdSource::new(store)).await;
        assert_eq!(meta.data_version, version);
        assert!(actual == expected, "{version}");
    }
}

/// A prefix's JSON export for §2.8: one row per example, data version v1-31-1 (LINSTOR 1.33.3).
const DOC_EXAMPLE_EXPORT: &str = r#"{"linstor_version":"1.33.3","export_timestamp_ms":1780000000000,"exported_from":"etcd","data_version":"v1-31-1","sql_version":"2025.12.31.23.59","etcd_version":71,"k8s_version":30,"tables":[
{"name":"NODES","column_description":[{"name":"UUID","sql_type":1,"is_primary_key":false,"is_nullable":false},{"name":"NODE_NAME","sql_type":12,"is_primary_key":true,"is_nullable":false},{"name":"NODE_DSP_NAME","sql_type":12,"is_primary_key":false,"is_nullable":false},{"name":"NODE_FLAGS","sql_type":-5,"is_primary_key":false,"is_nullable":false},{"name":"NODE_TYPE","sql_type":4,"is_primary_key":false,"is_nullable":false}],
 "data":[{"uuid":"2b1d6c2e-5a7e-4b53-9a0f-5d6f3f0e9c11","node_name":"ALPHA","node_dsp_name":"alpha","node_flags":0,"node_type":2}]},
{"name":"RESOURCE_DEFINITIONS","data":[{"uuid":"9d1c","resource_name":"RSC1","snapshot_name":"","resource_dsp_name":"rsc1","snapshot_dsp_name":"","resource_flags":0,"layer_stack":"[\"DRBD\",\"STORAGE\"]","resource_group_name":"DFLTRSCGRP"}]},
{"name":"RESOURCES","data":[{"uuid":"0c3e","node_name":"ALPHA","resource_name":"RSC1","snapshot_name":"","resource_flags":0,"create_timestamp":1717171717000}]},
{"name":"LAYER_DRBD_RESOURCES","data":[{"layer_resource_id":5,"peer_slots":7,"al_stripes":1,"al_stripe_size":32,"flags":0,"node_id":0,"tcp_port_list":"[7000]"}]},
{"name":"VOLUME_DEFINITIONS","data":[{"uuid":"vd","resource_name":"RSC1","snapshot_name":"","vlm_nr":0,"vlm_size":1048576,"vlm_flags":0}]},
{"name":"PROPS_CONTAINERS","data":[{"props_instance":"/CTRL","prop_key":"defaultPlainConSvc","prop_value":"PlainConnector"},{"props_instance":"/NODES/ALPHA","prop_key":"CurStltConnName","prop_value":"default"},{"props_instance":"/RSC_DFNS/RSC1","prop_key":"DrbdOptions/Resource/quorum","prop_value":"majority"}]},
{"name":"SEC_ACL_MAP","data":[{"object_path":"/sys/controller/nodesMap","role_name":"PUBLIC","access_type":7}]},
{"name":"SEC_ID_ROLE_MAP","data":[{"identity_name":"PUBLIC","role_name":"PUBLIC"}]},
{"name":"TRACKING_DATE","data":[{"entry_date":1700000000000}]}
]}"#;

/// A database copied store to store (SEC_ACCESS_TYPES included) and one imported from an export
/// (SEC_ACCESS_TYPES added as LINSTOR's init migration writes it) hold the same etcd keys.
#[tokio::test]
async fn copied_and_imported_databases_have_the_same_keys() {
    let (copied, imported) = (unique_prefix("keys-copied"), unique_prefix("keys-imported"));
    engine::copy(
        &mut GeneratedSource::new(plan(600, 31)),
        &mut EtcdTarget::new(etcd_store(&copied).await),
        &CopyOptions::default(),
    )
    .await
    .unwrap();
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("db.json");
    engine::export_file(Box::new(EtcdSource::new(etcd_store(&copied).await)), &file, &CopyOptions::default())
        .await
        .unwrap();
    engine::import_file(&file, &mut EtcdTarget::new(etcd_store(&imported).await), &CopyOptions::default())
        .await
        .unwrap();
    let strip = |keys: std::collections::BTreeMap<String, String>, prefix: &str| -> Vec<(String, String)> {
        keys.into_iter().map(|(k, v)| (k[prefix.len()..].to_owned(), v)).collect()
    };
    let (a, b) = (strip(raw_keys(&copied).await, &copied), strip(raw_keys(&imported).await, &imported));
    assert!(a.iter().any(|(k, _)| k.ends_with("SEC_ACCESS_TYPES/CONTROL/ACCESS_TYPE_NAME")), "init-style keys written");
    assert!(
        a == b,
        "keys differ: {:?}",
        a.iter().filter(|e| !b.contains(e)).chain(b.iter().filter(|e| !a.contains(e))).collect::<Vec<_>>()
    );
}
