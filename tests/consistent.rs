//! Point-in-time reads of a Kubernetes database while LINSTOR writes it: every table at one
//! revision without open LINSTOR transactions, and a read that the API server's compaction cuts
//! short starts again at a new revision.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams, VersionMatch};
use linstor_db_core::backend::archive::ArchiveSource;
use linstor_db_core::backend::k8s::K8sTarget;
use linstor_db_core::backend::Connection;
use linstor_db_core::engine::{self, CopyOptions, Progress};
use linstor_db_core::generate::{GeneratedSource, Plan};
use linstor_db_core::jobs::{self, Consistency, JobOptions};
use linstor_db_core::row::Row;
use linstor_db_core::schema::{DataVersion, Table};
use linstor_db_core::store::StoreAddress;
use linstor_db_core::{k8s_layout, Error, K8S_GROUP};

use crate::util::*;

const VERSION: DataVersion = DataVersion::V1_31_1;
/// The tables one mimicked LINSTOR transaction writes a row into, far apart in listing order.
const TRANSACTION_TABLES: [&str; 3] = ["KEY_VALUE_STORE", "PROPS_CONTAINERS", "SEC_TYPES"];

fn table(name: &str) -> &'static Table {
    VERSION.schema().table(name).expect("table of v1-31-1")
}

fn table_api(client: &kube::Client, table: &Table) -> kube::Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(K8S_GROUP, VERSION.as_str(), &table.kind);
    kube::Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, &table.plural))
}

fn rollback_api(client: &kube::Client) -> kube::Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(K8S_GROUP, "v1", "Rollback");
    kube::Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, "rollback"))
}

/// The row of transaction `n` in `table`: its name (or props key) carries `n`.
fn transaction_row(table: &'static Table, n: u64) -> Row {
    let fields = match table.name {
        "KEY_VALUE_STORE" => {
            serde_json::json!({"uuid": format!("00000000-0000-4000-8000-{n:012}"), "kvs_name": format!("TXN{n}"), "kvs_dsp_name": format!("TXN{n}")})
        }
        "PROPS_CONTAINERS" => {
            serde_json::json!({"props_instance": "/KEYVALUESTORES/TXN", "prop_key": format!("txn/{n}"), "prop_value": n.to_string()})
        }
        _ => {
            serde_json::json!({"type_name": format!("TXN{n}"), "type_dsp_name": format!("TXN{n}"), "type_enabled": true})
        }
    };
    let serde_json::Value::Object(fields) = fields else { unreachable!() };
    Row::from_json(table, &fields).expect("a valid row")
}

async fn create(api: &kube::Api<DynamicObject>, object: serde_json::Value) {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object).await.expect("create");
}

/// Opens a transaction as LINSTOR does: a Rollback object first (`linstor-db-format.md` §3.7).
async fn open_transaction(client: &kube::Client, n: u64) {
    let rollback = serde_json::json!({
        "apiVersion": format!("{K8S_GROUP}/v1"), "kind": "Rollback",
        "metadata": {"name": format!("txn-{n}")},
        "spec": {"rollback_map": {}, "delete_map": {}},
    });
    create(&rollback_api(client), rollback).await;
}

/// Commits it: the Rollback objects are deleted after the transaction's writes.
async fn close_transaction(client: &kube::Client) {
    rollback_api(client).delete_collection(&DeleteParams::default(), &ListParams::default()).await.unwrap();
}

async fn write_transaction_row(client: &kube::Client, name: &str, n: u64) {
    let table = table(name);
    create(&table_api(client, table), k8s_layout::custom_resource(table, &transaction_row(table, n), VERSION)).await;
}

/// Writes transactions 1, 2, … each with a row in every table of [`TRANSACTION_TABLES`], until `stop`.
async fn linstor_like_writer(client: kube::Client, committed: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        open_transaction(&client, n).await;
        for name in TRANSACTION_TABLES {
            write_transaction_row(&client, name, n).await;
        }
        close_transaction(&client).await;
        committed.store(n, Ordering::SeqCst);
    }
}

/// The transactions whose row `rows` hold in `table`.
fn transactions_in(rows: &BTreeMap<(String, String), Row>, name: &str) -> Vec<u64> {
    let table = table(name);
    let mut found: Vec<u64> = rows
        .iter()
        .filter(|((t, _), _)| t == name)
        .filter_map(|(_, row)| {
            let json = row.to_json(table);
            let text = match name {
                "KEY_VALUE_STORE" => json["kvs_name"].as_str()?.strip_prefix("TXN")?.to_owned(),
                "PROPS_CONTAINERS" => json["prop_key"].as_str()?.strip_prefix("txn/")?.to_owned(),
                _ => json["type_name"].as_str()?.strip_prefix("TXN")?.to_owned(),
            };
            text.parse().ok()
        })
        .collect();
    found.sort_unstable();
    found
}

/// Every row of the cluster exactly at `revision`, listed by the API server.
async fn rows_at(client: &kube::Client, revision: &str) -> BTreeMap<(String, String), Row> {
    let mut rows = BTreeMap::new();
    for table in &VERSION.schema().tables {
        let params = ListParams::default().at(revision).matching(VersionMatch::Exact);
        let list = table_api(client, table).list(&params).await.expect("list at the revision");
        for item in list.items {
            let row = k8s_layout::row_of_object(table, item.metadata.name.as_deref().unwrap(), &item.data).unwrap();
            rows.insert((table.name.to_owned(), row.formatted_key(table)), row);
        }
    }
    rows
}

fn connection(kubeconfig: &std::path::Path) -> Connection {
    Connection { kubeconfig: Some(kubeconfig.to_owned()), ..Connection::default() }
}

async fn generate_into_k8s(store: linstor_db_core::backend::k8s::K8sStore, rows: usize) -> Plan {
    let plan = Plan::for_rows(rows, 16, VERSION);
    engine::copy(&mut GeneratedSource::new(plan.clone()), &mut K8sTarget::new(store), &CopyOptions::default())
        .await
        .unwrap();
    plan
}

#[tokio::test]
async fn a_backup_while_linstor_writes_is_the_database_at_one_revision() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    generate_into_k8s(k8s_store().await, 2000).await;
    let client = kube_client().await;
    let (committed, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let writer = tokio::spawn(linstor_like_writer(client.clone(), committed.clone(), stop.clone()));
    while committed.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("live.tar.gz");
    let before = committed.load(Ordering::SeqCst);
    let connection = connection(&KubeApiServer::shared().kubeconfig);
    let report =
        jobs::backup(&connection, &StoreAddress::K8s, &StoreAddress::File(file.clone()), &JobOptions::default())
            .await
            .expect("a backup of a database being written");
    let during = committed.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(during >= 2, "the writer committed only {during} transactions while the backup read");

    // Whole transactions only: every table holds the same ones, 1 to n.
    let (meta, backed_up) = collect(&mut ArchiveSource::new(file)).await;
    let revision = report.revision.clone().expect("the report names the revision");
    assert_eq!(meta.revision.as_deref(), Some(revision.as_str()), "the manifest records the revision");
    let first = transactions_in(&backed_up, TRANSACTION_TABLES[0]);
    assert!(first.len() >= 3, "the transactions committed before the backup started are in it: {first:?}");
    assert_eq!(first, (1..=first.len() as u64).collect::<Vec<_>>());
    for name in &TRANSACTION_TABLES[1..] {
        assert_eq!(transactions_in(&backed_up, name), first, "{name} holds other transactions than KEY_VALUE_STORE");
    }
    // And exactly the database at that revision.
    let at_revision = rows_at(&client, &revision).await;
    assert_eq!(backed_up.len(), at_revision.len(), "rows in the backup and at revision {revision}");
    assert!(backed_up == at_revision, "the backup differs from the database at revision {revision}");
}

#[tokio::test]
async fn a_backup_waits_for_an_open_transaction_and_names_one_left_open() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    generate_into_k8s(k8s_store().await, 300).await;
    let client = kube_client().await;
    let connection = connection(&KubeApiServer::shared().kubeconfig);
    let dir = tempfile::TempDir::new().unwrap();

    // A transaction open for 2 s, half written when the backup starts: the backup holds all of it.
    open_transaction(&client, 1).await;
    write_transaction_row(&client, "KEY_VALUE_STORE", 1).await;
    let finish = {
        let client = client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            write_transaction_row(&client, "PROPS_CONTAINERS", 1).await;
            write_transaction_row(&client, "SEC_TYPES", 1).await;
            close_transaction(&client).await;
        })
    };
    let file = dir.path().join("waited.tar.gz");
    jobs::backup(&connection, &StoreAddress::K8s, &StoreAddress::File(file.clone()), &JobOptions::default())
        .await
        .expect("a backup once the transaction is committed");
    finish.await.unwrap();
    let (_, backed_up) = collect(&mut ArchiveSource::new(file)).await;
    for name in TRANSACTION_TABLES {
        assert_eq!(transactions_in(&backed_up, name), vec![1], "{name}: the backup holds the whole transaction");
    }

    // A transaction left open (an interrupted controller) is named, and nothing is written.
    open_transaction(&client, 2).await;
    let file = dir.path().join("refused.tar.gz");
    let error =
        jobs::backup(&connection, &StoreAddress::K8s, &StoreAddress::File(file.clone()), &JobOptions::default())
            .await
            .expect_err("Rollback objects at every revision");
    close_transaction(&client).await;
    assert!(matches!(error, Error::UnsupportedVersion { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("Rollback resources exist (a read at one revision waits 30 s for them to go)"),
        "{message}"
    );
    assert!(message.contains("start it once so that it rolls back"), "{message}");
    assert!(!file.exists(), "a refused backup leaves no file");
}

/// Compacts the etcd of `url` to its current revision after a write, from a thread of its own (the
/// progress callback that calls it is synchronous); returns the revision compacted to.
fn compact_now(url: &str) -> i64 {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut client = etcd_client::Client::connect([url.as_str()], None).await.unwrap();
            let put = client.put("/compaction-test", "x", None).await.unwrap();
            let revision = put.header().unwrap().revision();
            client.compact(revision, Some(etcd_client::CompactionOptions::new().with_physical())).await.unwrap();
            revision
        })
    })
    .join()
    .unwrap()
}

/// Progress that compacts the API server's etcd at the first rows of each backup attempt
/// (`every_attempt`) or of the first one only; returns how often it compacted and to which revision.
fn compacting_progress(url: String, every_attempt: bool) -> (JobOptions, Arc<AtomicU64>, Arc<AtomicU64>) {
    let (compactions, compacted_to) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let in_attempt = Arc::new(AtomicBool::new(false));
    let (count, to) = (compactions.clone(), compacted_to.clone());
    let progress = move |progress: &Progress| match progress {
        // Each attempt reads its tables anew, starting with the first.
        Progress::Table { index: 0, .. } => in_attempt.store(false, Ordering::SeqCst),
        Progress::Rows(_)
            if !in_attempt.swap(true, Ordering::SeqCst) && (every_attempt || count.load(Ordering::SeqCst) == 0) =>
        {
            to.store(compact_now(&url) as u64, Ordering::SeqCst);
            count.fetch_add(1, Ordering::SeqCst);
        }
        _ => {}
    };
    let options = JobOptions { progress: Some(Arc::new(progress)), ..JobOptions::default() };
    (options, compactions, compacted_to)
}

#[tokio::test]
async fn a_backup_cut_short_by_compaction_reads_again_at_a_new_revision() {
    // Without cache snapshots, lists at a revision are served by etcd, which forgets compacted ones.
    let server = KubeApiServer::private(&["--feature-gates=ListFromCacheSnapshot=false"]);
    let kubeconfig = server.server.kubeconfig.clone();
    let plan = generate_into_k8s(k8s_store_at(&kubeconfig).await, 3000).await;
    let etcd_url = server.env("KUBE_TEST_ETCD_URL");
    let connection = connection(&kubeconfig);
    let dir = tempfile::TempDir::new().unwrap();

    let (options, compactions, compacted_to) = compacting_progress(etcd_url.clone(), false);
    let file = dir.path().join("compacted-once.tar.gz");
    let report = jobs::backup(&connection, &StoreAddress::K8s, &StoreAddress::File(file.clone()), &options)
        .await
        .expect("a backup that a compaction cut short once");
    assert_eq!(compactions.load(Ordering::SeqCst), 1);
    let revision: u64 = report.revision.as_deref().unwrap().parse().unwrap();
    assert!(
        revision >= compacted_to.load(Ordering::SeqCst),
        "the backup was read again after the compaction (revision {revision})"
    );
    assert_holds_plan(&mut ArchiveSource::new(file), &plan, "backup read again after a compaction").await;

    // Cut short every time: it gives up after 3 reads, naming the way out, and leaves no file.
    let (options, compactions, _) = compacting_progress(etcd_url, true);
    let file = dir.path().join("compacted-always.tar.gz");
    let error = jobs::backup(&connection, &StoreAddress::K8s, &StoreAddress::File(file.clone()), &options)
        .await
        .expect_err("every read cut short");
    assert_eq!(compactions.load(Ordering::SeqCst), 3, "three reads: {error}");
    assert!(error.is_compacted_revision(), "{error}");
    assert!(error.to_string().contains("read with --consistent=stopped-controller instead"), "{error}");
    assert!(!file.exists(), "a failed backup leaves no file");

    // With the controller stopped (none runs here), each table is its newest list.
    let options = JobOptions { consistency: Consistency::StoppedController, ..JobOptions::default() };
    let file = dir.path().join("stopped.tar.gz");
    let report = jobs::backup(&connection, &StoreAddress::K8s, &StoreAddress::File(file.clone()), &options)
        .await
        .expect("a backup with the controller stopped");
    assert_eq!(report.revision, None, "newest lists are at no one revision");
    assert_holds_plan(&mut ArchiveSource::new(file), &plan, "backup with the controller stopped").await;
}
