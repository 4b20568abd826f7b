//! The programs the benchmark runs, and their versions for the report.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::measure::{Cmd, GNU_TIME};

/// etcdctl's own limit per command is 5 s; a 1M-row `get --prefix` takes longer.
pub const ETCDCTL_TIMEOUT: &str = "--command-timeout=30m";

/// Paths of every program involved.
#[derive(Debug, Clone)]
pub struct Tools {
    /// Our binary (release build).
    pub linstor_db: String,
    /// tools/bench-raw.
    pub bench_raw: String,
    /// kubectl v1.34.4 built by tools/kubectl/build.sh.
    pub kubectl: String,
    /// etcd server.
    pub etcd: String,
    /// etcdctl (Debian etcd-client).
    pub etcdctl: String,
    /// tools/kube-apiserver/start.sh.
    pub kube_start: PathBuf,
    /// tools/kube-apiserver/stop.sh.
    pub kube_stop: PathBuf,
}

impl Tools {
    /// Checks that every program exists.
    pub fn check(&self) -> Result<()> {
        for path in [&self.linstor_db, &self.bench_raw, &self.kubectl, &self.etcd, &self.etcdctl, GNU_TIME] {
            if !is_executable(Path::new(path)) && which(path).is_none() {
                bail!("{path} not found or not executable (scripts/bench.sh builds and installs everything)");
            }
        }
        for script in [&self.kube_start, &self.kube_stop] {
            if !script.is_file() {
                bail!("{} not found", script.display());
            }
        }
        Ok(())
    }

    /// Version of every program, and the kube-apiserver's as the binary reports it.
    pub fn versions(&self) -> BTreeMap<String, String> {
        let first_line = |cmd: Cmd| cmd.output().ok().and_then(|out| out.lines().next().map(str::to_owned));
        let mut versions = BTreeMap::new();
        let mut put = |name: &str, value: Option<String>| {
            versions.insert(name.to_owned(), value.unwrap_or_else(|| "unknown".into()));
        };
        put("linstor-db", first_line(Cmd::new(&self.linstor_db, &["--version"])));
        put(
            "linstor-db git",
            first_line(Cmd::new("git", &["describe", "--always", "--dirty", "--tags"])).or_else(|| Some("n/a".into())),
        );
        put("etcd", first_line(Cmd::new(&self.etcd, &["--version"])));
        put("etcdctl", first_line(Cmd::new(&self.etcdctl, &["version"]).env("ETCDCTL_API", "3")));
        put(
            "kubectl",
            Cmd::new(&self.kubectl, &["version", "--client", "-o", "json"])
                .output()
                .ok()
                .and_then(|out| serde_json::from_str::<serde_json::Value>(&out).ok())
                .and_then(|json| json["clientVersion"]["gitVersion"].as_str().map(str::to_owned)),
        );
        put(
            "kube-apiserver",
            Cmd::new("bash", &[&self.kube_start.with_file_name("build.sh").display().to_string()])
                .output()
                .ok()
                .and_then(|path| first_line(Cmd::new(path.trim(), &["--version"]))),
        );
        put("go (bench-raw, kubectl, kube-apiserver)", first_line(Cmd::new("go", &["version"])));
        put("rustc", first_line(Cmd::new("rustc", &["--version"])));
        put("GNU time", first_line(Cmd::new(GNU_TIME, &["--version"])));
        versions
    }
}

/// CPU, cores, memory, kernel and OS.
pub fn machine() -> BTreeMap<String, String> {
    let mut machine = BTreeMap::new();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, v)| v.trim().to_owned());
    machine.insert("cpu".into(), cpu);
    machine.insert("cores".into(), std::thread::available_parallelism().map_or(0, |n| n.get()).to_string());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or("unknown".to_owned(), |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0));
    machine.insert("memory".into(), memory);
    let kernel = Cmd::new("uname", &["-srm"]).output().map(|s| s.trim().to_owned()).unwrap_or_default();
    machine.insert("kernel".into(), kernel);
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned()))
        })
        .unwrap_or_default();
    machine.insert("os".into(), os);
    machine
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return None;
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| is_executable(p)))
}
