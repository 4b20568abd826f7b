//! Issue 15, items 1 and 4: the binary to ship (`scripts/static.sh`) is static, small, and runs with
//! nothing around it. In an empty root of a private mount namespace that holds only the binary,
//! `/etc/hosts`, `linstor.toml` and a pod's ServiceAccount files, it reads the real etcd by host name
//! and the real API server with the in-cluster credentials, without any kubeconfig.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::*;

/// Builds the binary (cached in target/static; `scripts/test.sh` builds it before the suite).
fn static_binary() -> PathBuf {
    let path = built_by("scripts/static.sh");
    assert!(path.is_file(), "scripts/static.sh printed {}, which is no file", path.display());
    path
}

/// What makes `binary` (a 64-bit little-endian ELF file, as x86_64 Linux writes them) dynamic: whether
/// it names a program interpreter (`PT_INTERP`, the loader) and how many shared libraries its dynamic
/// section needs (`DT_NEEDED`; a static-pie binary has a dynamic section for its own relocation only).
fn dynamic_parts(binary: &[u8]) -> (bool, usize) {
    assert_eq!(&binary[..6], b"\x7fELF\x02\x01", "not a 64-bit little-endian ELF file");
    let word = |at: usize, len: usize| binary[at..at + len].iter().rev().fold(0u64, |v, b| (v << 8) | u64::from(*b));
    let (offset, size, count) = (word(0x20, 8) as usize, word(0x36, 2) as usize, word(0x38, 2) as usize);
    let (mut interpreter, mut needed) = (false, 0);
    for header in (0..count).map(|i| offset + i * size) {
        match word(header, 4) {
            3 => interpreter = true,
            2 => {
                let (start, length) = (word(header + 8, 8) as usize, word(header + 32, 8) as usize);
                needed += (start..start + length).step_by(16).filter(|at| word(*at, 8) == 1).count();
            }
            _ => {}
        }
    }
    (interpreter, needed)
}

/// Runs `binary` (copied to `/linstor-db`) with `args` in `root` as its root directory, in a mount
/// namespace of its own, with only the environment `env`.
fn run_in_root(root: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut command = Command::new("unshare");
    command.args(["--map-root-user", "--mount", "--root"]).arg(root).arg("/linstor-db").args(args);
    command.env_clear().envs(env.iter().copied()).stdin(Stdio::null());
    command.output().expect("run unshare (util-linux)")
}

#[tokio::test]
async fn the_static_binary_runs_alone_against_etcd_by_host_name_and_kubernetes_in_cluster() {
    let binary = static_binary();
    let bytes = std::fs::read(&binary).unwrap();
    assert_eq!(dynamic_parts(&bytes), (false, 0), "a dynamic executable: (loader named, shared libraries needed)");
    // The check tells: the test build of the same program is dynamic.
    let (loader, libraries) = dynamic_parts(&std::fs::read(linstor_db_bin()).unwrap());
    assert!(loader && libraries > 0, "the glibc test build reads as static: ({loader}, {libraries})");
    assert!(bytes.len() < 25 << 20, "{} bytes, over 25 MiB", bytes.len());

    let dir = TempDir::new().unwrap();
    let root = dir.path().join("root");
    for sub in ["etc/linstor", "var/run/secrets/kubernetes.io/serviceaccount", "out"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::copy(&binary, root.join("linstor-db")).unwrap();
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost etcd.linstor-db.test\n").unwrap();

    // etcd, by a host name only the root's /etc/hosts knows.
    let prefix = unique_prefix("static");
    let port = Etcd::shared().endpoint.rsplit(':').next().unwrap().to_owned();
    std::fs::write(
        root.join("etc/linstor/linstor.toml"),
        format!("[db]\nconnection_url = \"etcd://etcd.linstor-db.test:{port}\"\n[db.etcd]\nprefix = \"{prefix}\"\n"),
    )
    .unwrap();
    let generated = dir.path().join("generated.json");
    let config_dir = dir.path().join("host");
    std::fs::create_dir(&config_dir).unwrap();
    let body = format!("[db]\nconnection_url = \"{}\"\n[db.etcd]\nprefix = \"{prefix}\"\n", Etcd::shared().url());
    let config = write_config(&config_dir, &body);
    let host = |args: &[&str]| {
        let output = run_cli(args);
        assert!(output.status.success(), "{args:?}: {}", describe(&output));
    };
    host(&["generate", "--rows", "500", "--to", generated.to_str().unwrap()]);
    host(&["import-db", "-c", config.to_str().unwrap(), generated.to_str().unwrap()]);
    let exported = run_in_root(&root, &[], &["export-db", "/out/etcd.json"]);
    assert!(exported.status.success(), "{}", describe(&exported));
    let ours = run_cli(&["verify", generated.to_str().unwrap(), root.join("out/etcd.json").to_str().unwrap()]);
    assert!(ours.status.success(), "{}", describe(&ours));

    // Kubernetes, with a pod's ServiceAccount files and environment, bound to the reader role.
    let _lock = cluster_lock().await;
    reset_cluster().await;
    let server = KubeApiServer::shared();
    let admin = server.kubeconfig.to_str().unwrap();
    host(&["import-db", "--to", "k8s", "--kubeconfig", admin, generated.to_str().unwrap()]);
    let namespace = format!("linstor-db-static-{}", std::process::id());
    let token = service_account_token(&namespace, "linstor-db-reader").await;
    let kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&server.kubeconfig).unwrap()).unwrap();
    let ca = kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap().to_owned();
    let decoded =
        Command::new("base64").arg("-d").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(ca.as_bytes())?;
            child.wait_with_output()
        });
    let secrets = root.join("var/run/secrets/kubernetes.io/serviceaccount");
    std::fs::write(secrets.join("ca.crt"), decoded.unwrap().stdout).unwrap();
    std::fs::write(secrets.join("token"), &token).unwrap();
    std::fs::write(secrets.join("namespace"), &namespace).unwrap();
    let port = server.server.rsplit(':').next().unwrap().to_owned();
    let pod = [("KUBERNETES_SERVICE_HOST", "127.0.0.1"), ("KUBERNETES_SERVICE_PORT", port.as_str())];
    let exported = run_in_root(&root, &pod, &["export-db", "--from", "k8s", "/out/k8s.json"]);
    assert!(exported.status.success(), "{}", describe(&exported));
    assert!(!String::from_utf8_lossy(&exported.stderr).contains(&token), "the token never reaches the output");
    let same = run_cli(&["verify", generated.to_str().unwrap(), root.join("out/k8s.json").to_str().unwrap()]);
    assert!(same.status.success(), "{}", describe(&same));
    // The reader role cannot write: the refusal names the permission.
    let refused = run_in_root(&root, &pod, &["import-db", "--to", "k8s", "--replace", "/out/k8s.json"]);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("deploy/rbac.yaml"), "{}", describe(&refused));
    delete_service_account(&namespace).await;
}
