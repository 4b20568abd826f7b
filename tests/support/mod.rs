//! Test support: real servers started on loopback, per-test temp dirs and prefixes, the CLI binary.
//!
//! One etcd serves the whole test process; every test gets its own key prefix. A watchdog shell
//! kills etcd when the test process exits, so nothing is left running.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

/// Where the ports servers are started on come from: from 10000 to just below the kernel's ephemeral
/// range. A port of that range (what binding port 0 gives) can be taken by any outgoing connection
/// of the tests between the pick and the server's bind ("bind: address already in use").
const PORTS_FROM: u16 = 10_000;

/// A free TCP port on 127.0.0.1 for a server, never handed out twice in this process.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let span = u64::from(ephemeral_low.saturating_sub(PORTS_FROM).max(1));
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for attempt in 0..1000u64 {
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        random.write_u64(attempt);
        let port = PORTS_FROM + (random.finish() % span) as u16;
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no free loopback port from {PORTS_FROM} to {ephemeral_low}");
}

/// The `etcd` binary: `$LINSTOR_DB_ETCD`, else `etcd` on PATH. Missing is a test failure, not a skip.
pub fn etcd_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LINSTOR_DB_ETCD") {
        return PathBuf::from(path);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let candidate = dir.join("etcd");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("etcd is not installed: these tests need a real etcd. Run `bash scripts/setup.sh` (installs Debian's etcd-server) or set LINSTOR_DB_ETCD");
}

/// A running etcd on loopback.
pub struct Etcd {
    pub endpoint: String,
    /// The etcd process, for fault tests that signal it.
    pub pid: u32,
    _dir: TempDir,
    /// The watchdog shell; it ends with the test process.
    _watchdog: std::process::Child,
}

/// Starts `etcd` with `args` under a watchdog shell that stops it when the test process exits;
/// returns the watchdog and etcd's PID. The log goes to `dir/etcd.log`.
fn spawn_etcd(args: &[String], dir: &Path) -> (std::process::Child, u32) {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let pid_file = dir.join("etcd.pid");
    let script = format!(
        "'{etcd}' {args} >'{log}' 2>&1 & e=$!; echo $e >'{pid_file}'; while kill -0 {parent} 2>/dev/null && kill -0 $e 2>/dev/null; do sleep 0.3; done; kill $e 2>/dev/null; wait $e 2>/dev/null",
        etcd = etcd_binary().display(),
        args = quoted.join(" "),
        log = dir.join("etcd.log").display(),
        pid_file = pid_file.display(),
        parent = std::process::id(),
    );
    let watchdog = Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run bash to start etcd");
    (watchdog, wait_pid(&pid_file))
}

/// The PID the watchdog shell wrote to `pid_file`.
fn wait_pid(pid_file: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = std::fs::read_to_string(pid_file).ok().and_then(|t| t.trim().parse().ok()) {
            return pid;
        }
        assert!(Instant::now() < deadline, "etcd was not started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until something listens on `endpoint`.
fn wait_listening(endpoint: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(endpoint).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("etcd did not start on {endpoint}:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`) to the process `pid`, which a test started.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Etcd {
    /// Starts etcd with extra flags; it stops when the test process exits.
    pub fn start(extra: &[&str], scheme: &str) -> Etcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let client = free_port();
        let peer = free_port();
        let endpoint = format!("127.0.0.1:{client}");
        let mut args = vec![
            format!("--data-dir={}", dir.path().join("data").display()),
            format!("--listen-client-urls={scheme}://{endpoint}"),
            format!("--advertise-client-urls={scheme}://{endpoint}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
            "--log-level=error".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let (watchdog, pid) = spawn_etcd(&args, dir.path());
        wait_listening(&endpoint, &dir.path().join("etcd.log"));
        Etcd { endpoint, pid, _dir: dir, _watchdog: watchdog }
    }

    /// The etcd shared by all tests of this process.
    pub fn shared() -> &'static Etcd {
        static SHARED: OnceLock<Etcd> = OnceLock::new();
        SHARED.get_or_init(|| Etcd::start(&[], "http"))
    }

    /// `etcd://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("etcd://{}", self.endpoint)
    }
}

/// An etcd cluster of its own on loopback, for fault tests; each member stops when the test
/// process exits (or when a test kills it).
pub struct EtcdCluster {
    /// The members, in order.
    pub members: Vec<Etcd>,
}

impl EtcdCluster {
    /// Starts `size` members and waits until they elected a leader.
    pub fn start(size: usize) -> EtcdCluster {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("linstor-db-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let starting: Vec<(String, TempDir, std::process::Child, u32)> = ports
            .iter()
            .enumerate()
            .map(|(i, (client, peer))| {
                let dir = tempfile::tempdir().expect("temp dir");
                let endpoint = format!("127.0.0.1:{client}");
                let args = vec![
                    format!("--name=m{i}"),
                    format!("--data-dir={}", dir.path().join("data").display()),
                    format!("--listen-client-urls=http://{endpoint}"),
                    format!("--advertise-client-urls=http://{endpoint}"),
                    format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                    format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                    format!("--initial-cluster={initial}"),
                    format!("--initial-cluster-token={token}"),
                    "--initial-cluster-state=new".to_owned(),
                    "--log-level=error".to_owned(),
                ];
                let (watchdog, pid) = spawn_etcd(&args, dir.path());
                (endpoint, dir, watchdog, pid)
            })
            .collect();
        let members: Vec<Etcd> = starting
            .into_iter()
            .map(|(endpoint, dir, watchdog, pid)| {
                wait_listening(&endpoint, &dir.path().join("etcd.log"));
                Etcd { endpoint, pid, _dir: dir, _watchdog: watchdog }
            })
            .collect();
        let cluster = EtcdCluster { members };
        let deadline = Instant::now() + Duration::from_secs(60);
        while cluster.leader_of(&cluster.endpoints()).is_none() {
            assert!(Instant::now() < deadline, "the etcd cluster elected no leader within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// Every member's endpoint.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.endpoint.clone()).collect()
    }

    /// `etcd://A,B,C` with these endpoints, in this order.
    pub fn url_of(endpoints: &[String]) -> String {
        format!("etcd://{}", endpoints.join(","))
    }

    /// The index of the leader as the members among `endpoints` see it, once they agree on one.
    pub fn leader_of(&self, endpoints: &[String]) -> Option<usize> {
        let output = Command::new("etcdctl")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .args(["endpoint", "status", "-w", "json", "--command-timeout=2s"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("run etcdctl (Debian package etcd-client)");
        let statuses: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).ok()?;
        let id = |status: &serde_json::Value, field: &str| status.pointer(field).and_then(serde_json::Value::as_u64);
        let leaders: Vec<u64> = statuses.iter().filter_map(|s| id(s, "/Status/leader")).collect();
        let leader = *leaders.first()?;
        if leader == 0 || leaders.len() != endpoints.len() || leaders.iter().any(|l| *l != leader) {
            return None;
        }
        let endpoint = statuses.iter().find(|s| id(s, "/Status/header/member_id") == Some(leader))?;
        let endpoint = endpoint.get("Endpoint")?.as_str()?;
        self.members.iter().position(|m| m.endpoint == endpoint)
    }
}

/// A key prefix no other test uses: `/t<N>-<name>/`.
pub fn unique_prefix(name: &str) -> String {
    format!("/t{}-{name}/", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Writes `<dir>/linstor.toml` with the given body and returns the directory.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    std::fs::write(dir.join("linstor.toml"), body).expect("write linstor.toml");
    dir.to_owned()
}

/// The `linstor-db` binary, built once per test process so that it is never stale (cargo builds a
/// package's binaries for tests only when that package itself has integration tests).
pub fn linstor_db_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/integration-… → target/<profile>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target dir").to_owned();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "linstor-db-cli", "--bin", "linstor-db"]);
        if release {
            build.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            build.arg("--target-dir").arg(target_dir);
        }
        let status = build.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("run cargo build");
        assert!(status.success(), "building linstor-db failed");
        profile_dir.join("linstor-db")
    })
    .clone()
}

/// `linstor-db` with `args`, without inherited LINSTOR variables and with no ambient Kubernetes
/// configuration (a test names its API server with --kubeconfig), not started yet.
pub fn cli_command(args: &[&str]) -> Command {
    let mut command = Command::new(linstor_db_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("LINSTOR") {
            command.env_remove(key);
        }
    }
    command.env("KUBECONFIG", "/nonexistent/kubeconfig");
    command.args(args).stdin(Stdio::null());
    command
}

/// Runs `linstor-db` with `args` to its end.
pub fn run_cli(args: &[&str]) -> Output {
    cli_command(args).output().expect("run linstor-db")
}

/// Starts `linstor-db` with `args`; stdout and stderr are piped.
pub fn spawn_cli(args: &[&str]) -> std::process::Child {
    cli_command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start linstor-db")
}

/// Stdout and stderr of a finished command, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// kubectl: `$KUBECTL`, else `kubectl` on PATH, else the pinned upstream build of
/// `tools/kubectl/build.sh` (built and cached on first use).
pub fn kubectl_binary() -> PathBuf {
    static KUBECTL: OnceLock<PathBuf> = OnceLock::new();
    KUBECTL
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("KUBECTL") {
                return PathBuf::from(path);
            }
            let on_path = std::env::var_os("PATH")
                .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("kubectl")).find(|p| p.is_file()));
            on_path.unwrap_or_else(|| built_by("tools/kubectl/build.sh"))
        })
        .clone()
}

/// Runs a build script of the repository (`scripts/static.sh`) and returns the path it prints.
pub fn built_by(script: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(script);
    let output =
        Command::new("bash").arg(&script).stdin(Stdio::null()).stderr(Stdio::inherit()).output().expect("run bash");
    assert!(output.status.success(), "{} failed (see stderr above)", script.display());
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// A real kube-apiserver (built from the upstream Go modules by `tools/kube-apiserver/build.sh`) with
/// its own etcd, on loopback, started once per test process by `tools/kube-apiserver/start.sh`; its
/// watchdog stops it when the test process exits.
pub struct KubeApiServer {
    /// Admin kubeconfig (client certificate, group system:masters).
    pub kubeconfig: PathBuf,
    /// Kubeconfig of a user without any permission (token auth), for RBAC tests.
    pub user_kubeconfig: PathBuf,
    /// The user's name, for RoleBindings.
    pub user: String,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
}

impl KubeApiServer {
    /// The API server shared by all tests of this process.
    pub fn shared() -> &'static KubeApiServer {
        static SHARED: OnceLock<KubeApiServer> = OnceLock::new();
        SHARED.get_or_init(|| KubeApiServer::start(&[]).0)
    }

    /// A server of its own for a heavy test (with `extra_args`), stopped when the guard drops, so that
    /// neither its objects nor its memory outlive the test.
    pub fn private(extra_args: &[&str]) -> PrivateKubeApiServer {
        let (server, dir) = KubeApiServer::start(extra_args);
        PrivateKubeApiServer { server, dir }
    }

    fn start(extra_args: &[&str]) -> (KubeApiServer, PathBuf) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/kube-apiserver/start.sh");
        let mut command = Command::new("bash");
        command.arg(&script).arg("--watch-pid").arg(std::process::id().to_string());
        if !extra_args.is_empty() {
            let inherited = std::env::var("KUBE_APISERVER_EXTRA_ARGS").unwrap_or_default();
            command.env("KUBE_APISERVER_EXTRA_ARGS", format!("{inherited} {}", extra_args.join(" ")));
        }
        let output =
            command.stdin(Stdio::null()).stderr(Stdio::inherit()).output().expect("run tools/kube-apiserver/start.sh");
        assert!(output.status.success(), "the test kube-apiserver did not start (see stderr above)");
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let env = std::fs::read_to_string(dir.join("env")).expect("start.sh writes an env file");
        let value = |key: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key} missing in {}", dir.join("env").display()))
                .to_owned()
        };
        let server = KubeApiServer {
            kubeconfig: PathBuf::from(value("KUBE_TEST_ADMIN_KUBECONFIG")),
            user_kubeconfig: PathBuf::from(value("KUBE_TEST_USER_KUBECONFIG")),
            user: value("KUBE_TEST_USER"),
            server: value("KUBE_TEST_SERVER"),
        };
        (server, dir)
    }
}

/// An API server owned by one test; dropping it stops the server and its etcd (by PID, via
/// `tools/kube-apiserver/stop.sh`).
pub struct PrivateKubeApiServer {
    /// The server.
    pub server: KubeApiServer,
    dir: PathBuf,
}

impl PrivateKubeApiServer {
    /// The PID of the kube-apiserver (`apiserver`) or of its etcd (`etcd`), for fault tests.
    pub fn pid(&self, which: &str) -> u32 {
        let key = match which {
            "apiserver" => "KUBE_TEST_APISERVER_PID",
            "etcd" => "KUBE_TEST_ETCD_PID",
            other => panic!("no process {other}"),
        };
        self.env(key).trim().parse().expect("a PID in the env file")
    }

    /// The value of `key` in the env file `start.sh` wrote (`KUBE_TEST_ETCD_URL`, …).
    pub fn env(&self, key: &str) -> String {
        let env = std::fs::read_to_string(self.dir.join("env")).expect("start.sh writes an env file");
        env.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
            .unwrap_or_else(|| panic!("{key} missing in the env file"))
    }
}

impl Drop for PrivateKubeApiServer {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/kube-apiserver/stop.sh");
        let _ = Command::new("bash").arg(script).arg(&self.dir).stdin(Stdio::null()).output();
    }
}

/// Serialises tests that use the cluster: CRDs are cluster-wide.
pub async fn cluster_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
