//! Throwaway servers on loopback: an etcd per store (fresh for every write), and a real kube-apiserver
//! with its own etcd through `tools/kube-apiserver/start.sh` (fresh for every write as well).

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::measure::Cmd;
use crate::tools::{Tools, ETCDCTL_TIMEOUT};

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// An etcd on loopback with its own data directory, stopped and deleted on drop.
pub struct Etcd {
    child: Child,
    dir: PathBuf,
    /// `127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Etcd {
    /// Starts an etcd with an empty data directory `dir` and waits until it answers.
    pub fn start(tools: &Tools, dir: &Path) -> Result<Etcd> {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        fs::create_dir_all(dir)?;
        let (client, peer) = (free_port()?, free_port()?);
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = fs::File::create(dir.with_extension("log"))?;
        let child = Command::new(&tools.etcd)
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            // Room for the 1M-row database (about 3.5M keys) and its revision history.
            .arg("--quota-backend-bytes=8589934592")
            .arg("--log-level=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting etcd")?;
        let etcd = Etcd { child, dir: dir.to_owned(), endpoint: format!("127.0.0.1:{client}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if etcd.key_count(tools, "/").is_ok() {
                return Ok(etcd);
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd at {} did not answer within 30 s (log: {})",
                    etcd.endpoint,
                    dir.with_extension("log").display()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// The PID, for CPU accounting.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `etcd://127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("etcd://{}", self.endpoint)
    }

    /// Number of keys under `prefix`.
    pub fn key_count(&self, tools: &Tools, prefix: &str) -> Result<u64> {
        let out =
            Cmd::new(&tools.etcdctl, &["--endpoints", &self.endpoint, ETCDCTL_TIMEOUT, "get", "--prefix", prefix])
                .args(&["--keys-only", "--limit=1", "-w", "json"])
                .env("ETCDCTL_API", "3")
                .output()?;
        let json: serde_json::Value = serde_json::from_str(&out).context("etcdctl -w json output")?;
        Ok(json["count"].as_u64().unwrap_or(0))
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(self.dir.with_extension("log"));
    }
}

/// A kube-apiserver (with its own etcd) from `tools/kube-apiserver/start.sh`, stopped on drop.
pub struct ApiServer {
    stop_script: PathBuf,
    /// The state directory.
    pub dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl ApiServer {
    /// Starts one and waits for `/readyz`.
    pub fn start(tools: &Tools) -> Result<ApiServer> {
        let output = Command::new("bash")
            .arg(&tools.kube_start)
            .arg("--watch-pid")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("running tools/kube-apiserver/start.sh")?;
        if !output.status.success() {
            bail!("start.sh failed: {}", crate::measure::tail(&String::from_utf8_lossy(&output.stderr)));
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let text = fs::read_to_string(dir.join("env")).with_context(|| format!("reading {}/env", dir.display()))?;
        let env = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<BTreeMap<_, _>>();
        Ok(ApiServer { stop_script: tools.kube_stop.clone(), dir, env })
    }

    fn var(&self, key: &str) -> &str {
        self.env.get(key).map_or("", String::as_str)
    }

    /// The admin kubeconfig (client certificate).
    pub fn kubeconfig(&self) -> &str {
        self.var("KUBE_TEST_ADMIN_KUBECONFIG")
    }

    /// Connection flags of bench-raw.
    pub fn raw_flags(&self) -> Vec<String> {
        [
            ("-server", "KUBE_TEST_SERVER"),
            ("-ca", "KUBE_TEST_CA_FILE"),
            ("-cert", "KUBE_TEST_ADMIN_CERT_FILE"),
            ("-key", "KUBE_TEST_ADMIN_KEY_FILE"),
        ]
        .iter()
        .flat_map(|(flag, key)| [(*flag).to_owned(), self.var(key).to_owned()])
        .collect()
    }

    /// PIDs of the API server and its etcd, for CPU accounting.
    pub fn pids(&self) -> Vec<u32> {
        ["KUBE_TEST_APISERVER_PID", "KUBE_TEST_ETCD_PID"].iter().filter_map(|k| self.var(k).parse().ok()).collect()
    }

    /// Custom resources of the LINSTOR group, counted by bench-raw.
    pub fn object_count(&self, tools: &Tools) -> Result<u64> {
        let mut cmd = Cmd::new(&tools.bench_raw, &["k8s-count"]);
        for flag in self.raw_flags() {
            cmd = cmd.arg(flag);
        }
        let out = cmd.output()?;
        let json: serde_json::Value = serde_json::from_str(&out).context("bench-raw k8s-count output")?;
        json["objects"].as_u64().context("bench-raw k8s-count printed no object count")
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.stop_script)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
