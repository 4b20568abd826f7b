//! `linstor-db check` and the check before every write: LINSTOR-written data passes, damaged data is
//! refused by name with nothing written, `--no-check` writes it anyway.

use std::path::{Path, PathBuf};

use crate::util::*;

fn reference(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/reference/linstor-written").join(name)
}

fn config_for(dir: &Path, prefix: &str) -> String {
    let body = format!("[db]\nconnection_url = \"{}\"\n[db.etcd]\nprefix = \"{prefix}\"\n", Etcd::shared().url());
    write_config(dir, &body).display().to_string()
}

/// A copy of LINSTOR's `with-objects-etcd` export whose node was deleted but whose net interface stayed
/// (issue 12, item 6), with the node's storage pool and properties gone too.
fn deleted_node_with_net_interface(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(reference("with-objects-etcd.export.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for table in json["tables"].as_array_mut().unwrap() {
        let name = table["name"].as_str().unwrap().to_owned();
        let data = table["data"].as_array_mut().unwrap();
        let before = data.len();
        data.retain(|row| match name.as_str() {
            "NODES" | "NODE_STOR_POOL" => false,
            "PROPS_CONTAINERS" => {
                let instance = row["props_instance"].as_str().unwrap();
                !instance.starts_with("/NODES/TESTNODE1") && !instance.starts_with("/STOR_POOLS/TESTNODE1/")
            }
            _ => true,
        });
        if name == "NODES" {
            assert_eq!(before, 1, "the reference has one node");
        }
    }
    let path = dir.join("deleted-node.json");
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    path
}

#[test]
fn check_exit_codes_and_output() {
    let dir = TempDir::new().unwrap();
    // A LINSTOR-written export, copied: clean, exit 0.
    let clean = dir.path().join("loaded.json");
    std::fs::copy(reference("loaded-by-linstor-k8s.export.json"), &clean).unwrap();
    let output = run_cli(&["check", clean.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("clean: 4532 rows"), "{}", describe(&output));

    // Damaged: exit 1, one line per finding, then the summary per rule.
    let damaged = deleted_node_with_net_interface(dir.path());
    let output = run_cli(&["check", damaged.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("net-interface-node  NODE_NET_INTERFACES  TESTNODE1:DEFAULT  no node TESTNODE1\n"),
        "{stdout}"
    );
    assert!(stdout.contains("1 findings in "), "{stdout}");

    let output = run_cli(&["check", "--output", "json", damaged.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["data_version"], "v1-31-1");
    assert_eq!(json["findings_total"][0]["rule"], "net-interface-node");
    assert_eq!(json["findings_total"][0]["findings"], 1);
    assert_eq!(json["findings"][0]["key"], "TESTNODE1:DEFAULT");

    // Not a database: exit 2.
    let output = run_cli(&["check", dir.path().join("missing.json").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[tokio::test]
async fn import_of_a_database_linstor_refuses_writes_nothing_unless_no_check() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("check-import");
    let config = config_for(dir.path(), &prefix);
    let damaged = deleted_node_with_net_interface(dir.path());
    let damaged_s = damaged.to_str().unwrap();

    let output = run_cli(&["import-db", "-c", &config, damaged_s]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in ["net-interface-node: 1 row", "NODE_NET_INTERFACES TESTNODE1:DEFAULT", "--no-check"] {
        assert!(stderr.contains(expected), "the refusal should say '{expected}':\n{stderr}");
    }
    let keys = raw_keys(&prefix).await;
    assert!(
        keys.is_empty(),
        "a refused import wrote {} keys: {:?}",
        keys.len(),
        keys.keys().take(5).collect::<Vec<_>>()
    );

    let output = run_cli(&["import-db", "-c", &config, "--no-check", damaged_s]);
    assert!(output.status.success(), "{}", describe(&output));
    let keys = raw_keys(&prefix).await;
    assert!(keys.keys().any(|k| k.contains("NODE_NET_INTERFACES/TESTNODE1:DEFAULT")), "--no-check wrote it");
    assert!(!keys.keys().any(|k| k.contains("/NODES/TESTNODE1/")), "the node stays deleted");

    // A LINSTOR-written export imports without --no-check.
    let prefix = unique_prefix("check-import-clean");
    let clean_dir = dir.path().join("clean");
    std::fs::create_dir(&clean_dir).unwrap();
    let clean_config = config_for(&clean_dir, &prefix);
    let output =
        run_cli(&["import-db", "-c", &clean_config, reference("with-objects-etcd.export.json").to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));
}

/// LINSTOR's `with-objects-etcd` export with `damage` applied to its tables (name, rows).
fn damaged_export(dir: &Path, name: &str, damage: impl Fn(&str, &mut Vec<serde_json::Value>)) -> PathBuf {
    let text = std::fs::read_to_string(reference("with-objects-etcd.export.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for table in json["tables"].as_array_mut().unwrap() {
        let table_name = table["name"].as_str().unwrap().to_owned();
        damage(&table_name, table["data"].as_array_mut().unwrap());
    }
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    path
}

/// The controller's `NetCom/PlainConnector/Port` row of `rows` (PROPS_CONTAINERS).
fn port_row(rows: &mut [serde_json::Value]) -> &mut serde_json::Value {
    rows.iter_mut().find(|r| r["prop_key"] == "NetCom/PlainConnector/Port").unwrap()
}

/// Issue 14, item 2: each of these was written (or failed half-way) before; now each is refused before
/// the first write, naming the rule, table, row and column, and the prefix stays empty.
#[tokio::test]
async fn rows_a_store_cannot_hold_are_refused_before_the_first_write() {
    let dir = TempDir::new().unwrap();
    let null_key = damaged_export(dir.path(), "null-key.json", |table, rows| {
        if table == "NODES" {
            rows[0].as_object_mut().unwrap().remove("node_name");
        }
    });
    let null_value = damaged_export(dir.path(), "null-value.json", |table, rows| {
        if table == "PROPS_CONTAINERS" {
            port_row(rows)["prop_value"] = serde_json::Value::Null;
        }
    });
    // The first property again at the table's end, with another value: far apart in the file.
    let duplicate = damaged_export(dir.path(), "duplicate.json", |table, rows| {
        if table == "PROPS_CONTAINERS" {
            let mut copy = port_row(rows).clone();
            copy["prop_value"] = "3377".into();
            rows.push(copy);
        }
    });
    let huge = damaged_export(dir.path(), "huge.json", |table, rows| {
        if table == "PROPS_CONTAINERS" {
            port_row(rows)["prop_value"] = "9".repeat(10 << 20).into();
        }
    });
    let cases = [
        (&null_key, "not-null: 1 row", "primary-key column NODE_NAME is NULL"),
        (
            &null_value,
            "not-null: 1 row",
            "PROPS_CONTAINERS /CTRL:NetCom/PlainConnector/Port: column PROP_VALUE is NULL",
        ),
        (&duplicate, "primary-key-unique: 1 row", "PROPS_CONTAINERS /CTRL:NetCom/PlainConnector/Port"),
        (&huge, "etcd-value-size: 1 row", "PROP_VALUE holds 10485"),
    ];
    for (file, rule, example) in cases {
        let prefix = unique_prefix("bad-rows");
        let case_dir = TempDir::new().unwrap();
        let config = config_for(case_dir.path(), &prefix);
        let output = run_cli(&["import-db", "-c", &config, file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{}: {}", file.display(), describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        for expected in [rule, example, "--no-check"] {
            assert!(stderr.contains(expected), "{}: the refusal should say '{expected}':\n{stderr}", file.display());
        }
        let keys = raw_keys(&prefix).await;
        assert!(keys.is_empty(), "{}: a refused import wrote {} keys", file.display(), keys.len());
        // restore reads the file as a backup: the same refusal, nothing written.
        let output = run_cli(&["restore", "-c", &config, "--from", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{}: {}", file.display(), describe(&output));
        assert!(String::from_utf8_lossy(&output.stderr).contains(rule), "{}: {}", file.display(), describe(&output));
        assert!(raw_keys(&prefix).await.is_empty(), "{}: a refused restore wrote keys", file.display());
    }
}

/// The size rules' limits are those of the real servers: the largest value the check lets through is
/// written and read back by etcd and by the API server; 10 MiB is refused for Kubernetes by name.
#[tokio::test]
async fn the_largest_value_the_check_passes_is_written_by_both_stores() {
    let _cluster = cluster_lock().await;
    reset_cluster().await;
    let dir = TempDir::new().unwrap();
    let largest = 1_560_000;
    let big = damaged_export(dir.path(), "big.json", |table, rows| {
        if table == "PROPS_CONTAINERS" {
            port_row(rows)["prop_value"] = "7".repeat(largest).into();
        }
    });
    let prefix = unique_prefix("big-value");
    let config = config_for(dir.path(), &prefix);
    let output = run_cli(&["import-db", "-c", &config, "--no-check", big.to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = run_cli(&["check", "-c", &config, "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules: Vec<&str> =
        json["findings_total"].as_array().unwrap().iter().map(|t| t["rule"].as_str().unwrap()).collect();
    assert!(!rules.iter().any(|r| r.ends_with("-size")), "{rules:?}");
    let keys = raw_keys(&prefix).await;
    assert_eq!(keys.values().map(String::len).max(), Some(largest));

    let kubeconfig = KubeApiServer::shared().kubeconfig.display().to_string();
    let output =
        run_cli(&["import-db", "--to", "k8s", "--kubeconfig", &kubeconfig, "--no-check", big.to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));
    let exported = dir.path().join("exported.json");
    let output = run_cli(&["export-db", "--from", "k8s", "--kubeconfig", &kubeconfig, exported.to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(std::fs::read_to_string(&exported).unwrap().contains(&"7".repeat(largest)));

    let huge = damaged_export(dir.path(), "huge.json", |table, rows| {
        if table == "PROPS_CONTAINERS" {
            port_row(rows)["prop_value"] = "9".repeat(10 << 20).into();
        }
    });
    reset_cluster().await;
    let output = run_cli(&["import-db", "--to", "k8s", "--kubeconfig", &kubeconfig, huge.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("k8s-object-size: 1 row"), "{stderr}");
    assert!(!stderr.contains("etcd-value-size"), "only the target's limits apply:\n{stderr}");
    let output = run_cli(&["info", "k8s", "--kubeconfig", &kubeconfig]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "nothing was written, so k8s holds no LINSTOR data: {}",
        describe(&output)
    );
}
