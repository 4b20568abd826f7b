//! Issue 15, item 3: the manifests of deploy/ (a kustomize base, an overlay per operator). Each overlay
//! renders with the real kubectl, the real API server accepts every object (server-side dry run), and
//! the commands of the rendered Jobs work against it with exactly their ServiceAccount's token, while
//! other accounts are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use linstor_db_core::export::now_ms;
use linstor_db_core::store::name_time;
use serde_json::{json, Value as Json};

use crate::util::*;

/// What an overlay is for: the names of its operator's controller.
struct Overlay {
    dir: &'static str,
    namespace: &'static str,
    deployment: &'static str,
    config_map: &'static str,
}

const V1: Overlay = Overlay {
    dir: "v1",
    namespace: "linstor",
    deployment: "linstor-op-cs-controller",
    config_map: "linstor-op-cs-controller-config",
};
const V2: Overlay = Overlay {
    dir: "v2",
    namespace: "piraeus-datastore",
    deployment: "linstor-controller",
    config_map: "linstor-controller-config",
};

/// The roles each job's ServiceAccount is bound to: (binding kind, role).
const BACKUP_ROLES: [(&str, &str); 3] = [
    ("ClusterRoleBinding", "linstor-db-reader"),
    ("RoleBinding", "linstor-db-backup-retention"),
    ("RoleBinding", "linstor-db-backups"),
];
const WRITER_ROLES: [(&str, &str); 2] =
    [("ClusterRoleBinding", "linstor-db-writer"), ("RoleBinding", "linstor-db-backups")];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// kubectl as the test API server's admin, with `stdin` as its input.
fn kubectl(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(kubectl_binary())
        .arg("--kubeconfig")
        .arg(&KubeApiServer::shared().kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `kubectl kustomize deploy/overlays/<dir>`: the YAML and its objects.
fn render(overlay: &Overlay) -> (String, Vec<Json>) {
    let dir = deploy_dir().join("overlays").join(overlay.dir);
    let output = Command::new(kubectl_binary()).arg("kustomize").arg(&dir).output().expect("run kubectl kustomize");
    assert!(output.status.success(), "kubectl kustomize {}: {}", dir.display(), describe(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let objects = serde_yaml::Deserializer::from_str(&text)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect();
    (text, objects)
}

fn named<'a>(objects: &'a [Json], kind: &str, name: &str) -> &'a Json {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// The pod spec of a Job or CronJob.
fn pod_spec(workload: &Json) -> &Json {
    match workload["kind"].as_str() {
        Some("CronJob") => &workload["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &workload["spec"]["template"]["spec"],
    }
}

/// The arguments of container `name` (init or not) of a Job or CronJob.
fn args_of(workload: &Json, name: &str) -> Vec<String> {
    let spec = pod_spec(workload);
    let mut containers = spec["initContainers"].as_array().into_iter().chain(spec["containers"].as_array()).flatten();
    let container = containers.find(|c| c["name"] == name).unwrap_or_else(|| panic!("no container {name}"));
    container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
}

/// (binding kind, role) of every binding of ServiceAccount `account`, sorted.
fn roles_of(objects: &[Json], namespace: &str, account: &str) -> Vec<(String, String)> {
    let mut roles: Vec<(String, String)> = objects
        .iter()
        .filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
        .filter(|o| {
            o["subjects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["kind"] == "ServiceAccount" && s["name"] == account && s["namespace"] == namespace)
        })
        .map(|o| (o["kind"].as_str().unwrap().to_owned(), o["roleRef"]["name"].as_str().unwrap().to_owned()))
        .collect();
    roles.sort();
    roles
}

/// Each overlay is consistent in itself: every object in its namespace, the arguments naming that
/// namespace and the operator's controller, its ConfigMap mounted, our image, and each job's account
/// bound to exactly the roles it needs.
fn check_rendered(overlay: &Overlay, objects: &[Json]) {
    let image = format!("linstor-db:{}", env!("CARGO_PKG_VERSION"));
    for object in objects {
        let kind = object["kind"].as_str().unwrap();
        if kind != "ClusterRoleBinding" {
            assert_eq!(object["metadata"]["namespace"], overlay.namespace, "{kind} {}", object["metadata"]["name"]);
        }
        for subject in object["subjects"].as_array().into_iter().flatten() {
            assert_eq!(subject["namespace"], overlay.namespace, "a subject of {kind} {}", object["metadata"]["name"]);
        }
    }
    let ns = overlay.namespace;
    let controller = format!("{ns}/{}", overlay.deployment);
    let cron = named(objects, "CronJob", "linstor-db-backup");
    let target = format!("secret://{ns}/linstor-db-backup-{{time}}");
    assert_eq!(args_of(cron, "backup"), ["backup", "--from", "k8s", "-o", target.as_str()]);
    assert_eq!(args_of(cron, "prune"), ["backup", "prune", ns, "--keep", "7"]);
    let migrate = named(objects, "Job", "linstor-db-migrate");
    let restore = named(objects, "Job", "linstor-db-restore");
    let keep = format!("secret://{ns}/linstor-db-before-migrate-{{time}}");
    let expected = ["migrate", "--to", "k8s", "--controller", controller.as_str(), "--backup-to", keep.as_str()];
    assert_eq!(args_of(migrate, "migrate"), expected);
    let restore_args = args_of(restore, "restore");
    assert_eq!(restore_args[1..3], ["--from".to_owned(), format!("secret://{ns}/SET-THE-BACKUP-NAME")]);
    assert_eq!(restore_args[3..6], ["--replace", "--controller", controller.as_str()]);
    assert_eq!(restore_args[7], format!("secret://{ns}/linstor-db-before-restore-{{time}}"));
    for (job, account, roles) in [
        (cron, "linstor-db-backup", &BACKUP_ROLES[..]),
        (migrate, "linstor-db-migrate", &WRITER_ROLES[..]),
        (restore, "linstor-db-restore", &WRITER_ROLES[..]),
    ] {
        let spec = pod_spec(job);
        assert_eq!(spec["serviceAccountName"], account);
        named(objects, "ServiceAccount", account);
        let expected: Vec<(String, String)> = roles.iter().map(|(k, r)| ((*k).to_owned(), (*r).to_owned())).collect();
        assert_eq!(roles_of(objects, ns, account), expected, "the bindings of {account}");
        for container in spec["initContainers"].as_array().into_iter().chain(spec["containers"].as_array()).flatten() {
            assert_eq!(container["image"], image.as_str());
            assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        }
        // The Jobs write, so they run only when started; the CronJob runs on its schedule.
        if job["kind"] == "Job" {
            assert_eq!(job["spec"]["suspend"], true, "{account}");
            let volumes = spec["volumes"].as_array().unwrap();
            let config = volumes.iter().find(|v| v["name"] == "linstor-config").unwrap();
            assert_eq!(config["configMap"]["name"], overlay.config_map);
            let certs = volumes.iter().find(|v| v["name"] == "etcd-certs").unwrap();
            assert_eq!(certs["secret"]["optional"], true);
            let mounts = spec["containers"][0]["volumeMounts"].as_array().unwrap();
            assert!(mounts.iter().any(|m| m["name"] == "linstor-config" && m["mountPath"] == "/etc/linstor"));
            assert!(mounts.iter().any(|m| m["name"] == "etcd-certs" && m["mountPath"] == "/etc/linstor/certs"));
        }
    }
}

#[tokio::test]
async fn every_overlay_renders_and_the_api_server_accepts_every_object() {
    let _lock = cluster_lock().await;
    for overlay in [V1, V2] {
        let (text, objects) = render(&overlay);
        check_rendered(&overlay, &objects);
        ensure_namespace(overlay.namespace).await;
        let dry = kubectl(&["apply", "--dry-run=server", "-f", "-"], &text);
        assert!(dry.status.success(), "overlay {}: {}", overlay.dir, describe(&dry));
        let applied = String::from_utf8_lossy(&dry.stdout).lines().count();
        assert_eq!(applied, objects.len(), "one line per object: {}", describe(&dry));
        // A dry run: nothing was created.
        let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(kube_client().await, overlay.namespace);
        assert!(accounts.get_opt("linstor-db-backup").await.unwrap().is_none());
    }
    // The dry run checks: a CronJob the API server cannot schedule is refused.
    let (text, _) = render(&V2);
    let broken = text.replace("schedule: 15 3 * * *", "schedule: every night");
    assert_ne!(broken, text, "the schedule as kubectl renders it");
    let dry = kubectl(&["apply", "--dry-run=server", "-f", "-"], &broken);
    assert!(!dry.status.success() && String::from_utf8_lossy(&dry.stderr).contains("schedule"), "{}", describe(&dry));
}

/// The overlay applied for real with deploy/rbac.yaml, and removed again when dropped (namespaces
/// stay: see [`ensure_namespace`]).
struct Applied(String);

impl Applied {
    async fn new(text: String, namespace: &str) -> Applied {
        ensure_namespace(namespace).await;
        install_cluster_roles(&kube_client().await).await;
        let output = kubectl(&["apply", "-f", "-"], &text);
        assert!(output.status.success(), "{}", describe(&output));
        // The bindings reach the authorizer through an informer.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        Applied(text)
    }
}

impl Drop for Applied {
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "--ignore-not-found", "--wait=false", "-f", "-"], &self.0);
    }
}

/// The controller Deployment of `overlay` (no pods run: the test server has no controllers).
async fn controller_deployment(overlay: &Overlay) -> kube::Api<Deployment> {
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(kube_client().await, overlay.namespace);
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": overlay.deployment},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "linstor-controller"}},
                 "template": {"metadata": {"labels": {"app": "linstor-controller"}},
                              "spec": {"containers": [{"name": "linstor-controller", "image": "linstor"}]}}},
    }))
    .unwrap();
    let _ = deployments.delete(overlay.deployment, &Default::default()).await;
    deployments.create(&Default::default(), &deployment).await.unwrap();
    deployments
}

/// Runs a job's `args` in `dir` (the pod's /tmp) as ServiceAccount `account`, with `extra`
/// arguments standing in for the pod's mounts.
async fn run_as(dir: &Path, namespace: &str, account: &str, args: &[String], extra: &[&str]) -> Output {
    let kubeconfig = dir.join(format!("{account}.kubeconfig"));
    token_kubeconfig(&kubeconfig, &token_of(namespace, account).await);
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(["--kubeconfig", kubeconfig.to_str().unwrap()]);
    all.extend(extra);
    cli_command(&all).current_dir(dir).output().unwrap()
}

fn assert_refused(output: &Output, what: &str) {
    assert_eq!(output.status.code(), Some(2), "{what}: {}", describe(output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("deploy/rbac.yaml"), "{what}: {}", describe(output));
}

/// The backups of `namespace` as `backup list --output json` gives them: (name, complete).
fn backups(namespace: &str) -> Vec<(String, bool)> {
    let admin = KubeApiServer::shared().kubeconfig.display().to_string();
    let output = run_cli(&["backup", "list", namespace, "--kubeconfig", &admin, "--output", "json"]);
    assert!(output.status.success(), "{}", describe(&output));
    let list: Vec<Json> = serde_json::from_slice(&output.stdout).unwrap();
    list.iter().map(|b| (b["name"].as_str().unwrap().to_owned(), b["complete"] == true)).collect()
}

/// Deletes every Secret of `namespace` that belongs to a backup whose name starts with `prefix`.
async fn delete_backups(namespace: &str, prefix: &str) {
    let secrets: kube::Api<Secret> = kube::Api::namespaced(kube_client().await, namespace);
    for secret in secrets.list(&Default::default()).await.unwrap() {
        let name = secret.metadata.name.unwrap_or_default();
        let label = secret.metadata.labels.unwrap_or_default().get("linstor-db/backup").cloned().unwrap_or_default();
        if name.starts_with(prefix) || label.starts_with(prefix) {
            let _ = secrets.delete(&name, &Default::default()).await;
        }
    }
}

/// `prefix` followed by a time as `{time}` expands between `before` and now.
fn assert_timed(name: &str, prefix: &str, before: &str) {
    let time = name.strip_prefix(prefix).unwrap_or_else(|| panic!("{name} does not start with {prefix}"));
    let after = name_time(now_ms());
    assert!(
        time.len() == 16 && before <= time && time <= after.as_str(),
        "{name}: not a time from {before} to {after}"
    );
}

/// The CronJob of the v2 overlay: its backup writes a Secret backup named by the time of the run
/// and its prune deletes beyond the newest 7, both as the CronJob's ServiceAccount; then the restore
/// Job, with that backup chosen, puts it back with its own account. Accounts without the bindings
/// are refused.
#[tokio::test]
async fn the_backup_cronjob_and_the_restore_job_work_with_their_service_accounts() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let overlay = V2;
    let ns = overlay.namespace;
    let (text, objects) = render(&overlay);
    let _applied = Applied::new(text, ns).await;
    delete_backups(ns, "linstor-db-").await;
    let dir = TempDir::new().unwrap();
    let generated = dir.path().join("generated.json");
    let admin = KubeApiServer::shared().kubeconfig.display().to_string();
    for args in [
        vec!["generate", "--rows", "400", "--to", generated.to_str().unwrap()],
        vec!["import-db", "--to", "k8s", "--kubeconfig", &admin, generated.to_str().unwrap()],
    ] {
        let output = run_cli(&args);
        assert!(output.status.success(), "{args:?}: {}", describe(&output));
    }
    // Seven older backups, so that the run's prune (--keep 7) has one to delete.
    for n in 1..=7 {
        let to = format!("secret://{ns}/linstor-db-old-{n}");
        let output = run_cli(&["backup", "--from", "k8s", "-o", &to, "--kubeconfig", &admin]);
        assert!(output.status.success(), "{}", describe(&output));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let cron = named(&objects, "CronJob", "linstor-db-backup");
    let (backup, prune) = (args_of(cron, "backup"), args_of(cron, "prune"));
    // An account of the namespace without the bindings is refused.
    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(kube_client().await, ns);
    let unbound: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "linstor-db-unbound"}})).unwrap();
    let _ = accounts.create(&Default::default(), &unbound).await;
    assert_refused(&run_as(dir.path(), ns, "linstor-db-unbound", &backup, &[]).await, "backup, unbound");

    let before = name_time(now_ms());
    let output = run_as(dir.path(), ns, "linstor-db-backup", &backup, &[]).await;
    assert!(output.status.success(), "the CronJob's backup: {}", describe(&output));
    let listed = backups(ns);
    let ours: Vec<&(String, bool)> = listed.iter().filter(|(n, _)| n.starts_with("linstor-db-backup-")).collect();
    assert_eq!(ours.len(), 1, "{listed:?}");
    let (name, complete) = ours[0];
    assert!(*complete, "{name} is complete");
    assert_timed(name, "linstor-db-backup-", &before);

    // The migrate account may write backups but not delete them.
    assert_refused(&run_as(dir.path(), ns, "linstor-db-migrate", &prune, &[]).await, "prune as linstor-db-migrate");
    assert_eq!(backups(ns).len(), 8, "nothing was pruned");
    let output = run_as(dir.path(), ns, "linstor-db-backup", &prune, &[]).await;
    assert!(output.status.success(), "the CronJob's prune: {}", describe(&output));
    let after: Vec<String> = backups(ns).into_iter().map(|(n, _)| n).filter(|n| n.starts_with("linstor-db-")).collect();
    assert_eq!(after.len(), 7, "the newest 7 are kept: {after:?}");
    assert!(after.contains(name), "the run's own backup is kept: {after:?}");

    // The restore Job, with the backup chosen; its linstor.toml (the ConfigMap) says k8s.
    let restore = named(&objects, "Job", "linstor-db-restore");
    let mut restore_args = args_of(restore, "restore");
    restore_args[2] = format!("secret://{ns}/{name}");
    let config = write_config(dir.path(), "[db]\nconnection_url = \"k8s\"\n");
    let config = ["-c", config.to_str().unwrap()];
    let deployments = controller_deployment(&overlay).await;
    assert_refused(&run_as(dir.path(), ns, "linstor-db-unbound", &restore_args, &config).await, "restore, unbound");
    let _ = accounts.delete("linstor-db-unbound", &Default::default()).await;
    let before = name_time(now_ms());
    let output = run_as(dir.path(), ns, "linstor-db-restore", &restore_args, &config).await;
    assert!(output.status.success(), "the restore Job: {}", describe(&output));
    let replaced: Vec<String> = backups(ns)
        .into_iter()
        .filter(|(n, complete)| n.starts_with("linstor-db-before-restore-") && *complete)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(replaced.len(), 1, "the replaced database is backed up: {replaced:?}");
    assert_timed(&replaced[0], "linstor-db-before-restore-", &before);
    let same = run_cli(&["verify", generated.to_str().unwrap(), "k8s", "--kubeconfig", &admin]);
    assert!(same.status.success(), "{}", describe(&same));
    assert_eq!(deployments.get(overlay.deployment).await.unwrap().spec.unwrap().replicas, Some(1), "scaled back");
    let _ = deployments.delete(overlay.deployment, &Default::default()).await;
    delete_backups(ns, "linstor-db-").await;
}

/// The migrate Job of the v1 overlay moves an etcd database (its linstor.toml) to Kubernetes as the
/// Job's ServiceAccount, backing the source up into a timed Secret; the backup CronJob's account is
/// refused.
#[tokio::test]
async fn the_migrate_job_migrates_etcd_to_k8s_with_its_service_account() {
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let overlay = V1;
    let ns = overlay.namespace;
    let (text, objects) = render(&overlay);
    let _applied = Applied::new(text, ns).await;
    let deployments = controller_deployment(&overlay).await;

    // The controller's linstor.toml: the test etcd, under a prefix of its own.
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("deploy-migrate");
    let body = format!("[db]\nconnection_url = \"{}\"\n[db.etcd]\nprefix = \"{prefix}\"\n", Etcd::shared().url());
    let config = write_config(dir.path(), &body);
    let config = ["-c", config.to_str().unwrap()];
    let generated = dir.path().join("generated.json");
    for args in [
        vec!["generate", "--rows", "400", "--to", generated.to_str().unwrap()],
        vec!["import-db", config[0], config[1], generated.to_str().unwrap()],
    ] {
        let output = run_cli(&args);
        assert!(output.status.success(), "{args:?}: {}", describe(&output));
    }

    let migrate = args_of(named(&objects, "Job", "linstor-db-migrate"), "migrate");
    let refused = run_as(dir.path(), ns, "linstor-db-backup", &migrate, &config).await;
    assert_refused(&refused, "migrate as the backup account");
    let admin = KubeApiServer::shared().kubeconfig.display().to_string();
    assert!(!run_cli(&["info", "k8s", "--kubeconfig", &admin]).status.success(), "nothing was migrated");
    // The account may have written its backup of the source before the refusal.
    delete_backups(ns, "linstor-db-").await;

    let before = name_time(now_ms());
    let output = run_as(dir.path(), ns, "linstor-db-migrate", &migrate, &config).await;
    assert!(output.status.success(), "the migrate Job: {}", describe(&output));
    let same = run_cli(&["verify", generated.to_str().unwrap(), "k8s", "--kubeconfig", &admin]);
    assert!(same.status.success(), "{}", describe(&same));
    let source: Vec<String> = backups(ns)
        .into_iter()
        .filter(|(n, complete)| n.starts_with("linstor-db-before-migrate-") && *complete)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(source.len(), 1, "the source is backed up: {source:?}");
    assert_timed(&source[0], "linstor-db-before-migrate-", &before);
    assert_eq!(deployments.get(overlay.deployment).await.unwrap().spec.unwrap().replicas, Some(1), "scaled back");
    let _ = deployments.delete(overlay.deployment, &Default::default()).await;
    delete_backups(ns, "linstor-db-").await;
    reset_cluster().await;
}
