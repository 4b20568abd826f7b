//! One writer per target (issue 14, item 4): a second job writing the same etcd prefix or cluster
//! while the first runs is refused, naming the first; a killed job's lock does not block its retry.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::*;

/// A LINSTOR-valid export of about `rows` rows.
fn generated(dir: &Path, name: &str, rows: usize, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let output = run_cli(&[
        "generate",
        "--rows",
        &rows.to_string(),
        "--seed",
        &seed.to_string(),
        "--to",
        path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    path
}

fn etcd_config(dir: &Path, prefix: &str) -> String {
    let body = format!("[db]\nconnection_url = \"{}\"\n[db.etcd]\nprefix = \"{prefix}\"\n", Etcd::shared().url());
    write_config(dir, &body).display().to_string()
}

/// Waits (at most 60 s) until `ready` holds, failing the test with `what` otherwise.
async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut ready: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn finished(child: std::process::Child) -> std::process::Output {
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn a_second_writer_of_an_etcd_prefix_is_refused_naming_the_first() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("two-writers");
    let config = etcd_config(dir.path(), &prefix);
    let first = generated(dir.path(), "first.json", 40_000, 1);
    let second = generated(dir.path(), "second.json", 3_000, 2);
    let lock = format!("{prefix}LINSTOR_DB/writer");

    let writer = spawn_cli(&["import-db", "-c", &config, first.to_str().unwrap()]);
    let pid = writer.id();
    wait_for("the first import's lock", || async { raw_keys(&prefix).await.contains_key(&lock) }).await;
    // With --replace, which passes the check of an interrupted import: the lock refuses it.
    let output = run_cli(&["import-db", "-c", &config, "--replace", second.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is being written by another job") && stderr.contains(&format!("pid {pid} ")), "{stderr}");

    let output = finished(writer);
    assert!(output.status.success(), "{}", describe(&output));
    let keys = raw_keys(&prefix).await;
    assert!(!keys.contains_key(&lock), "the lock is released at the end");
    let verify = run_cli(&["verify", "-c", &config, first.to_str().unwrap(), &Etcd::shared().url()]);
    assert!(verify.status.success(), "the first database, unmixed: {}", describe(&verify));
}

#[tokio::test]
async fn two_imports_started_at_once_leave_one_database_not_a_merge() {
    let dir = TempDir::new().unwrap();
    let a = generated(dir.path(), "a.json", 3_000, 3);
    let b = generated(dir.path(), "b.json", 3_000, 4);
    for round in 0..3 {
        let prefix = unique_prefix("at-once");
        let round_dir = dir.path().join(format!("round-{round}"));
        std::fs::create_dir(&round_dir).unwrap();
        let config = etcd_config(&round_dir, &prefix);
        let first = spawn_cli(&["import-db", "-c", &config, a.to_str().unwrap()]);
        let second = spawn_cli(&["import-db", "-c", &config, b.to_str().unwrap()]);
        let (first, second) = (finished(first), finished(second));
        let winners: Vec<&Path> = [(&first, &a), (&second, &b)]
            .iter()
            .filter(|(o, _)| o.status.success())
            .map(|(_, f)| f.as_path())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}:\n{}\n{}", describe(&first), describe(&second));
        for output in [&first, &second].into_iter().filter(|o| !o.status.success()) {
            assert_eq!(output.status.code(), Some(2), "{}", describe(output));
        }
        let verify = run_cli(&["verify", "-c", &config, winners[0].to_str().unwrap(), &Etcd::shared().url()]);
        assert!(verify.status.success(), "round {round}: {}", describe(&verify));
    }
}

#[tokio::test]
async fn a_killed_writers_lock_does_not_block_the_printed_recovery() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("killed-writer");
    let config = etcd_config(dir.path(), &prefix);
    let file = generated(dir.path(), "db.json", 40_000, 5);
    let lock = format!("{prefix}LINSTOR_DB/writer");
    let mut writer = spawn_cli(&["import-db", "-c", &config, file.to_str().unwrap()]);
    wait_for("the import's lock", || async { raw_keys(&prefix).await.contains_key(&lock) }).await;
    writer.kill().unwrap();
    writer.wait().unwrap();
    // The lock's lease has not lapsed, but its holder is gone from this host: the retry goes ahead.
    assert!(raw_keys(&prefix).await.contains_key(&lock));
    let output = run_cli(&["import-db", "-c", &config, "--replace", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));
    let verify = run_cli(&["verify", "-c", &config, file.to_str().unwrap(), &Etcd::shared().url()]);
    assert!(verify.status.success(), "{}", describe(&verify));
}

#[tokio::test]
async fn a_second_writer_of_a_cluster_is_refused_naming_the_first() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let _cluster = cluster_lock().await;
    reset_cluster().await;
    let dir = TempDir::new().unwrap();
    let kubeconfig = KubeApiServer::shared().kubeconfig.display().to_string();
    let file = generated(dir.path(), "db.json", 3_000, 6);
    let writer = spawn_cli(&["import-db", "--to", "k8s", "--kubeconfig", &kubeconfig, file.to_str().unwrap()]);
    let pid = writer.id();
    let gvk = GroupVersionKind::gvk("internal.linstor.linbit.com", "v1", "LinstorVersion");
    let versions: kube::Api<DynamicObject> =
        kube::Api::all_with(kube_client().await, &ApiResource::from_gvk_with_plural(&gvk, "linstorversion"));
    let writer_annotation = |object: Option<DynamicObject>| {
        object.and_then(|o| o.metadata.annotations).and_then(|a| a.get("linstor-db/writer").cloned())
    };
    wait_for("the import's writer annotation", || {
        let versions = versions.clone();
        async move { writer_annotation(versions.get_opt("version").await.ok().flatten()).is_some() }
    })
    .await;
    let output =
        run_cli(&["import-db", "--to", "k8s", "--kubeconfig", &kubeconfig, "--replace", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is being written by another job") && stderr.contains(&format!("pid {pid} ")), "{stderr}");

    let output = finished(writer);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(writer_annotation(versions.get_opt("version").await.unwrap()), None, "released at the end");
    let verify = run_cli(&["verify", "--kubeconfig", &kubeconfig, file.to_str().unwrap(), "k8s"]);
    assert!(verify.status.success(), "{}", describe(&verify));
}
