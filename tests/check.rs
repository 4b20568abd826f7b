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
