//! Faults of real servers in the middle of a job (issue 14): an etcd member killed (SIGKILL), the
//! leader of a 3-member etcd killed mid-export and mid-import, the API server paused (SIGSTOP) and
//! resumed (SIGCONT), and paused past the retry timeout. Every process a test signals it started
//! itself; each test is bounded (`wait_bounded`) and leaves nothing stopped.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use linstor_db_core::backend::etcd::{EtcdSource, EtcdStore, EtcdTarget};
use linstor_db_core::backend::file::ExportFileSource;
use linstor_db_core::backend::{Event, Source};
use linstor_db_core::config::DbConfig;
use linstor_db_core::engine::{self, CopyOptions};
use linstor_db_core::generate::{GeneratedSource, Plan};
use linstor_db_core::schema::DataVersion;
use linstor_db_core::store::EtcdSettings;

use crate::util::*;

/// The longest any job of these tests may take; past it the test fails instead of hanging.
const JOB_LIMIT: Duration = Duration::from_secs(150);

/// A store on `endpoints` (in this order) under `prefix`.
async fn store_at(endpoints: &[String], prefix: &str) -> EtcdStore {
    let config = DbConfig { etcd_prefix_raw: prefix.to_owned(), ..DbConfig::default() };
    let settings =
        EtcdSettings { retry_timeout: Duration::from_secs(60), ..EtcdSettings::new(endpoints.to_vec(), &config) };
    EtcdStore::connect(settings).await.expect("connect to the test etcd cluster")
}

/// The endpoints with member `first` first: the tool starts on it, so killing it is a failover.
fn starting_at(cluster: &EtcdCluster, first: usize) -> Vec<String> {
    let mut endpoints = cluster.endpoints();
    endpoints.rotate_left(first);
    endpoints
}

/// `linstor.toml` for an etcd store at `url` under `prefix`; returns the directory.
fn config(dir: &Path, url: &str, prefix: &str) -> String {
    write_config(dir, &format!("[db]\nconnection_url = \"{url}\"\n[db.etcd]\nprefix = \"{prefix}\"\n"))
        .display()
        .to_string()
}

/// Starts `linstor-db` in `dir` with its output going to files there.
fn spawn(dir: &Path, args: &[&str]) -> Child {
    let out = std::fs::File::create(dir.join("stdout")).unwrap();
    let err = std::fs::File::create(dir.join("stderr")).unwrap();
    cli_command(args)
        .current_dir(dir)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("run linstor-db")
}

/// Waits for `child` at most [`JOB_LIMIT`] (killing it after that); returns its exit code and stderr.
fn wait_bounded(dir: &Path, mut child: Child) -> (Option<i32>, String) {
    let deadline = Instant::now() + JOB_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "linstor-db ran past {JOB_LIMIT:?} (killed):\n{}",
                std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code(), std::fs::read_to_string(dir.join("stderr")).unwrap_or_default())
}

/// Polls `ready` every 20 ms, at most [`JOB_LIMIT`]; `child` must not end before.
fn wait_for(what: &str, child: &mut Child, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + JOB_LIMIT;
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "linstor-db ended before {what}");
        assert!(Instant::now() < deadline, "no {what} within {JOB_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Keys under `prefix`, counted by the member at `endpoint`.
fn count_keys(endpoint: &str, prefix: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let Ok(mut client) = etcd_client::Client::connect([endpoint], None).await else { return 0 };
        let options = etcd_client::GetOptions::new().with_prefix().with_count_only();
        client.get(prefix, Some(options)).await.map_or(0, |r| r.count())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_goes_on_when_the_etcd_leader_is_killed_mid_read() {
    let cluster = EtcdCluster::start(3);
    let leader = cluster.leader_of(&cluster.endpoints()).expect("a leader");
    let endpoints = starting_at(&cluster, leader);
    let prefix = unique_prefix("failover-export");
    let plan = Plan::for_rows(3000, 21, DataVersion::V1_31_1);
    let writer = store_at(&endpoints, &prefix).await;
    engine::copy(&mut GeneratedSource::new(plan.clone()), &mut EtcdTarget::new(writer), &CopyOptions::default())
        .await
        .unwrap();
    let (_, expected) = collect(&mut GeneratedSource::new(plan)).await;

    // Opened on the leader: the revision is pinned and the first keys of every table are read.
    // Every table after the first still has keys to read when the leader dies.
    let mut source = EtcdSource::new(store_at(&endpoints, &prefix).await);
    source.open().await.unwrap();
    let mut rows = std::collections::BTreeMap::new();
    let (mut table, mut killed) = (None, None);
    while let Some(event) = source.next_event().await.unwrap() {
        match event {
            Event::TableStart(t) => table = Some(t),
            Event::Rows(batch) => {
                let t = table.unwrap();
                for row in batch {
                    rows.insert((t.name.to_owned(), row.formatted_key(t)), row);
                }
                if killed.is_none() {
                    signal(cluster.members[leader].pid, "KILL");
                    killed = Some(Instant::now());
                }
            }
            Event::TableEnd => table = None,
        }
    }
    let after_kill = killed.expect("rows were read").elapsed();
    eprintln!("export with the leader killed after the first rows: the rest took {after_kill:?}");
    assert_eq!(rows.len(), expected.len(), "row count");
    assert!(rows == expected, "rows read across the failover differ from the database");
}

#[test]
fn import_goes_on_when_the_etcd_leader_is_killed_mid_write() {
    let cluster = EtcdCluster::start(3);
    let leader = cluster.leader_of(&cluster.endpoints()).expect("a leader");
    let endpoints = starting_at(&cluster, leader);
    let follower = endpoints[1].clone();
    let prefix = unique_prefix("failover-import");
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("db.json");
    let generated = run_cli(&["generate", "--rows", "3000", "--seed", "22", "--to", file.to_str().unwrap()]);
    assert!(generated.status.success(), "{}", describe(&generated));
    let conf = config(dir.path(), &EtcdCluster::url_of(&endpoints), &prefix);

    let mut child = spawn(dir.path(), &["import-db", "-c", &conf, "--retry-timeout", "60s", file.to_str().unwrap()]);
    // Rows are being written (more keys than the marker and the blocking version): stop the import
    // there, so that the kill lands mid-write whatever the machine's speed, then let it go on.
    wait_for("rows in etcd", &mut child, || count_keys(&follower, &prefix) > 100);
    signal(child.id(), "STOP");
    signal(cluster.members[leader].pid, "KILL");
    let killed = Instant::now();
    signal(child.id(), "CONT");
    let (code, stderr) = wait_bounded(dir.path(), child);
    eprintln!("import with the leader killed mid-write: {:?} after the kill", killed.elapsed());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("waiting for etcd"), "the failover is told on stderr:\n{stderr}");

    let survivors = endpoints[1..].to_vec();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (_, expected) = collect(&mut ExportFileSource::new(&file)).await;
        let (_, mut actual) = collect(&mut EtcdSource::new(store_at(&survivors, &prefix).await)).await;
        // Exports leave out SEC_ACCESS_TYPES, which the import writes as LINSTOR's init does.
        actual.retain(|(table, _), _| table != "SEC_ACCESS_TYPES");
        assert_eq!(actual.len(), expected.len(), "row count");
        assert!(actual == expected, "the import written across the failover differs from the file");
    });
}

#[test]
fn import_and_export_work_with_one_etcd_member_down() {
    let cluster = EtcdCluster::start(3);
    let leader = cluster.leader_of(&cluster.endpoints()).expect("a leader");
    // A follower, named first: every job starts with a member that is gone.
    let dead = (leader + 1) % 3;
    signal(cluster.members[dead].pid, "KILL");
    let url = EtcdCluster::url_of(&starting_at(&cluster, dead));
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("db.json");
    let generated = run_cli(&["generate", "--rows", "1000", "--seed", "23", "--to", file.to_str().unwrap()]);
    assert!(generated.status.success(), "{}", describe(&generated));
    let conf = config(dir.path(), &url, &unique_prefix("one-down"));
    let export = dir.path().join("export.json");
    for args in [
        vec!["import-db", "-c", &conf, file.to_str().unwrap()],
        vec!["export-db", "-c", &conf, export.to_str().unwrap()],
        vec!["verify", file.to_str().unwrap(), export.to_str().unwrap()],
    ] {
        let output = run_cli(&args);
        assert!(output.status.success(), "linstor-db {args:?}:\n{}", describe(&output));
    }
}

/// Resumes a paused process when dropped, so that a failing test leaves nothing stopped.
struct Paused(u32);

impl Paused {
    fn new(pid: u32) -> Paused {
        signal(pid, "STOP");
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg("-CONT").arg(self.0.to_string()).status();
    }
}

/// Whether any LINSTOR custom resource exists on the API server of `kubeconfig`.
async fn linstor_objects_exist(kubeconfig: &Path) -> bool {
    let Ok(config) = kube::config::Kubeconfig::read_from(kubeconfig) else { return false };
    let Ok(config) = kube::Config::from_custom_kubeconfig(config, &Default::default()).await else { return false };
    let Ok(client) = kube::Client::try_from(config) else { return false };
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    let Ok(list) = crds.list(&ListParams::default()).await else { return false };
    for crd in list.items.iter().filter(|c| c.spec.group == linstor_db_core::K8S_GROUP) {
        let plural = &crd.spec.names.plural;
        if ["linstorversion", "rollback"].contains(&plural.as_str()) {
            continue;
        }
        let Some(version) = crd.spec.versions.iter().find(|v| v.storage) else { continue };
        let gvk = GroupVersionKind::gvk(&crd.spec.group, &version.name, &crd.spec.names.kind);
        let api: kube::Api<DynamicObject> =
            kube::Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, plural));
        if api.list(&ListParams::default().limit(1)).await.is_ok_and(|l| !l.items.is_empty()) {
            return true;
        }
    }
    false
}

/// A 3000-row etcd source under a fresh prefix of the shared etcd, a private API server and a
/// migrate to it started with `retry_timeout`; once its first rows are written, `process` of the
/// API server (`apiserver` or its `etcd`) is paused.
struct PausedMigration {
    server: PrivateKubeApiServer,
    dir: TempDir,
    conf: String,
    child: Child,
}

fn migrate_until_rows_then_pause(retry_timeout: &str, process: &str) -> (PausedMigration, Paused) {
    let server = KubeApiServer::private(&["--watch-cache=false"]);
    let dir = TempDir::new().unwrap();
    let conf = config(dir.path(), &Etcd::shared().url(), &unique_prefix("paused-k8s"));
    let generated =
        run_cli(&["generate", "--rows", "3000", "--seed", "24", "--to", &Etcd::shared().url(), "-c", &conf]);
    assert!(generated.status.success(), "{}", describe(&generated));
    let kubeconfig = server.server.kubeconfig.display().to_string();
    let mut child = spawn(
        dir.path(),
        &["migrate", "-c", &conf, "--to", "k8s", "--kubeconfig", &kubeconfig, "--retry-timeout", retry_timeout],
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    wait_for("LINSTOR objects on the API server", &mut child, || {
        runtime.block_on(linstor_objects_exist(&server.server.kubeconfig))
    });
    let paused = Paused::new(server.pid(process));
    (PausedMigration { server, dir, conf, child }, paused)
}

/// Pauses `process` of the API server for 15 s in the middle of a migrate allowed 30 s without
/// progress (10 s per request): requests time out and are retried until it resumes. Returns stderr.
fn migrate_through_a_pause_of(process: &str) -> String {
    let (job, paused) = migrate_until_rows_then_pause("30s", process);
    let pause = Instant::now();
    while pause.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(paused);
    let (code, stderr) = wait_bounded(job.dir.path(), job.child);
    eprintln!("migrate with {process} paused for 15 s: done {:?} after the pause began", pause.elapsed());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("waiting for the API server at"), "what it waits for is told on stderr:\n{stderr}");
    drop(job.server);
    stderr
}

#[test]
fn migrate_waits_for_a_paused_api_server_and_finishes_when_it_resumes() {
    let stderr = migrate_through_a_pause_of("apiserver");
    assert!(stderr.contains("no answer for 10s"), "{stderr}");
}

#[test]
fn migrate_waits_for_the_api_servers_paused_etcd_and_finishes_when_it_resumes() {
    migrate_through_a_pause_of("etcd");
}

#[test]
fn migrate_gives_up_on_an_api_server_paused_past_the_retry_timeout() {
    let (job, paused) = migrate_until_rows_then_pause("12s", "apiserver");
    let pause = Instant::now();
    let (code, stderr) = wait_bounded(job.dir.path(), job.child);
    let gave_up = pause.elapsed();
    eprintln!("migrate with the API server paused for good: gave up {gave_up:?} after the pause began");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("waiting for the API server at"), "{stderr}");
    assert!(stderr.contains("gave up on k8s") && stderr.contains("--retry-timeout 12s"), "{stderr}");
    // The write is marked incomplete, and the error says how to finish it.
    assert!(stderr.contains("run the same command again with --replace"), "{stderr}");

    // Resumed, the same command finishes the job.
    drop(paused);
    let kubeconfig = job.server.server.kubeconfig.display().to_string();
    let again = cli_command(&["migrate", "-c", &job.conf, "--to", "k8s", "--kubeconfig", &kubeconfig])
        .current_dir(job.dir.path())
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", describe(&again));
    drop(job.server);
}
