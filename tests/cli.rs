//! The `linstor-db` binary: drop-in export-db / import-db with linstor.toml, info, generate, and a
//! clear message plus exit code 2 for every bad input, with nothing written.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use linstor_db_core::backend::file::ExportFileSource;

use crate::util::*;

fn config_for(dir: &Path, prefix: &str) -> String {
    let body = format!("[db]\nconnection_url = \"{}\"\n[db.etcd]\nprefix = \"{prefix}\"\n", Etcd::shared().url());
    write_config(dir, &body).display().to_string()
}

fn ok(args: &[&str]) -> std::process::Output {
    let output = run_cli(args);
    assert!(output.status.success(), "linstor-db {args:?} failed:\n{}", describe(&output));
    output
}

fn fails(args: &[&str], expected: &str) -> String {
    let output = run_cli(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "linstor-db {args:?}:\n{}", describe(&output));
    assert!(stderr.contains(expected), "linstor-db {args:?} should say '{expected}':\n{}", describe(&output));
    stderr
}

#[tokio::test]
async fn generate_import_export_round_trip_with_linstor_toml() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("cli-roundtrip");
    let config = config_for(dir.path(), &prefix);
    let generated = dir.path().join("gen.json");
    let exported = dir.path().join("export.json");
    ok(&["generate", "--rows", "4000", "--seed", "3", "--to", generated.to_str().unwrap()]);
    ok(&["import-db", "-c", &config, generated.to_str().unwrap()]);
    ok(&["export-db", "-c", &config, exported.to_str().unwrap()]);
    let (_, before) = collect(&mut ExportFileSource::new(&generated)).await;
    let (meta, after) = collect(&mut ExportFileSource::new(&exported)).await;
    assert_eq!(meta.exported_from, "etcd");
    assert!(before == after, "export-db after import-db differs from the imported file");
    let mode = std::fs::metadata(&exported).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "exports are owner-only");
    // Byte level: export → import elsewhere → export gives the same file but for the timestamp.
    let prefix2 = unique_prefix("cli-roundtrip-2");
    let dir2 = TempDir::new().unwrap();
    let config2 = config_for(dir2.path(), &prefix2);
    let exported2 = dir.path().join("export2.json");
    ok(&["import-db", "-c", &config2, exported.to_str().unwrap()]);
    ok(&["export-db", "-c", &config2, exported2.to_str().unwrap()]);
    let strip = |p: &Path| {
        let text = std::fs::read_to_string(p).unwrap();
        let start = text.find(",\"exported_from\"").unwrap();
        text[start..].to_owned()
    };
    assert!(strip(&exported) == strip(&exported2), "export JSON is not byte-identical after a round trip");

    let info = ok(&["info", "-c", &config, "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["linstor_version"], "1.33.3");
    assert_eq!(json["etcd_version"], 71);
    let rows = json["rows"].as_u64().unwrap();
    assert_eq!(rows as usize, after.len() + 4, "info counts SEC_ACCESS_TYPES too, which exports leave out");
    let text = ok(&["info", &Etcd::shared().url(), "-c", &config]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("data version v1-31-1"));
}

#[test]
fn config_errors() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.json");
    let out = out.to_str().unwrap();
    fails(
        &["export-db", "-c", "/nonexistent-linstor-config", out],
        "no LINSTOR configuration at /nonexistent-linstor-config/linstor.toml",
    );
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    write_config(&bad, "[db\nconnection_url = ");
    fails(&["export-db", "-c", bad.to_str().unwrap(), out], "error parsing");
    write_config(&bad, "[db]\nconnection_url = \"jdbc:h2:/var/lib/linstor/linstordb\"\n");
    fails(&["export-db", "-c", bad.to_str().unwrap(), out], "linstor-database export-db");
    write_config(&bad, "[db]\nconnection_url = \"k8s\"\n");
    fails(
        &["export-db", "-c", bad.to_str().unwrap(), "--kubeconfig", "/nonexistent/kubeconfig", out],
        "kubeconfig /nonexistent/kubeconfig",
    );
    assert!(!Path::new(out).exists(), "nothing was written");
}

#[test]
fn unreachable_etcd() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.json");
    let port = free_port();
    let url = format!("etcd://127.0.0.1:{port}");
    fails(&["export-db", "--from", &url, out.to_str().unwrap()], "cannot connect to etcd at 127.0.0.1");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no partial file left");
}

#[test]
fn bad_export_files_are_refused_before_anything_is_written() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("cli-badfiles");
    let config = config_for(dir.path(), &prefix);
    let good = dir.path().join("good.json");
    ok(&["generate", "--rows", "3000", "--to", good.to_str().unwrap()]);
    let text = std::fs::read_to_string(&good).unwrap();
    let cases = [
        ("garbage.json", "this is not json".to_owned(), "not a valid LINSTOR database export"),
        ("truncated.json", text[..text.len() * 2 / 3].to_owned(), "truncated"),
        ("unknown-version.json", text.replace("\"v1-31-1\"", "\"v1-15-0\""), "unknown LINSTOR data version 'v1-15-0'"),
        ("newer.json", text.replace("\"1.33.3\"", "\"1.40.0\""), "newer LINSTOR than this tool knows"),
        (
            "bad-row.json",
            text.replacen("\"node_type\":2", "\"node_type\":\"two\"", 1),
            "table NODES, row number 1 of 'data': field node_type: expected an integer",
        ),
        (
            "bad-columns.json",
            text.replacen("\"NODE_TYPE\",\"sql_type\":4", "\"NODE_TYPE\",\"sql_type\":12", 1),
            "column_description of table NODES",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        fails(&["import-db", "-c", &config, path.to_str().unwrap()], expected);
    }
    fails(&["import-db", "-c", &config, dir.path().join("missing.json").to_str().unwrap()], "cannot open");
    let prefix_keys = tokio::runtime::Runtime::new().unwrap().block_on(raw_keys(&prefix));
    assert!(prefix_keys.is_empty(), "a refused import wrote {} keys", prefix_keys.len());
}

#[test]
fn non_empty_target_needs_replace() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("cli-replace");
    let config = config_for(dir.path(), &prefix);
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    ok(&["generate", "--rows", "1000", "--seed", "1", "--to", a.to_str().unwrap()]);
    ok(&["generate", "--rows", "1000", "--seed", "2", "--to", b.to_str().unwrap()]);
    ok(&["import-db", "-c", &config, a.to_str().unwrap()]);
    fails(&["import-db", "-c", &config, b.to_str().unwrap()], "Re-run with --replace");
    ok(&["import-db", "-c", &config, "--replace", b.to_str().unwrap()]);
    let out = dir.path().join("out.json");
    ok(&["export-db", "-c", &config, out.to_str().unwrap()]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_, expected) = rt.block_on(async { collect(&mut ExportFileSource::new(&b)).await });
    let (_, actual) = rt.block_on(async { collect(&mut ExportFileSource::new(&out)).await });
    assert!(expected == actual);
}

#[test]
fn export_into_a_missing_directory_fails_cleanly() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("cli-missing-dir");
    let config = config_for(dir.path(), &prefix);
    let file = dir.path().join("seed.json");
    ok(&["generate", "--rows", "500", "--to", file.to_str().unwrap()]);
    ok(&["import-db", "-c", &config, file.to_str().unwrap()]);
    fails(&["export-db", "-c", &config, "/nonexistent-dir/out.json"], "directory /nonexistent-dir does not exist");
}

#[test]
fn verify_and_diff_compare_stores_logically() {
    let dir = TempDir::new().unwrap();
    let prefix = unique_prefix("cli-verify");
    let config = config_for(dir.path(), &prefix);
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    ok(&["generate", "--rows", "1500", "--seed", "1", "--to", a_s]);
    ok(&["import-db", "-c", &config, a_s]);
    // The file and the etcd store it was imported into hold the same rows.
    let etcd = Etcd::shared().url();
    let same = ok(&["verify", "-c", &config, a_s, &etcd]);
    assert!(String::from_utf8_lossy(&same.stdout).starts_with("equal:"), "{}", describe(&same));

    // One changed value, one removed row: verify exits 1, diff names both.
    let text = std::fs::read_to_string(&a).unwrap();
    let changed = text.replacen("\"node_type\":2", "\"node_type\":3", 1).replacen(
        r#"{"identity_name":"PUBLIC","role_name":"PUBLIC"},"#,
        "",
        1,
    );
    assert_ne!(changed, text);
    std::fs::write(&b, changed).unwrap();
    let output = run_cli(&["verify", a_s, b_s]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let output = run_cli(&["diff", a_s, b_s]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("~ NODES K8S-WORKER-000: NODE_TYPE: 2 -> 3"), "{stdout}");
    assert!(stdout.contains("- SEC_ID_ROLE_MAP PUBLIC:PUBLIC"), "{stdout}");
    let json = run_cli(&["diff", "--output", "json", a_s, b_s]);
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&json.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["equal"], false);
    assert_eq!(lines[2]["differences"], 2);
}

/// backup / restore / migrate / purge through the binary: JSON results, exit codes, messages.
#[tokio::test]
async fn backup_and_restore_commands() {
    let dir = TempDir::new().unwrap();
    let (source_dir, target_dir) = (dir.path().join("source"), dir.path().join("target"));
    std::fs::create_dir_all(&source_dir).unwrap();
    std::fs::create_dir_all(&target_dir).unwrap();
    let source = config_for(&source_dir, &unique_prefix("cli-backup-src"));
    let target = config_for(&target_dir, &unique_prefix("cli-backup-dst"));
    let archive = dir.path().join("db.tar.gz");
    let archive_s = archive.to_str().unwrap();
    ok(&["generate", "--rows", "1500", "--to", &Etcd::shared().url(), "-c", &source]);
    let output = ok(&["backup", "-c", &source, "-o", archive_s, "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["rows"].as_u64().unwrap() > 1000 && report["sha256"].as_str().unwrap().len() == 64, "{report}");

    fails(&["backup", "-c", &source], "backup needs a target");
    ok(&["restore", "-c", &target, "--from", archive_s]);
    fails(&["restore", "-c", &target, "--from", archive_s], "--replace");
    let dry = ok(&["restore", "-c", &target, "--from", archive_s, "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("nothing"), "{}", describe(&dry));
    ok(&["verify", "-c", &source, archive_s, &Etcd::shared().url()]);

    let broken = dir.path().join("broken.tar.gz");
    std::fs::write(&broken, &std::fs::read(&archive).unwrap()[..100]).unwrap();
    fails(&["restore", "-c", &target, "--from", broken.to_str().unwrap(), "--replace"], "not a usable LINSTOR backup");
    fails(&["migrate", "-c", &source, "--to", archive_s], "database store");
    fails(&["purge", "-c", &target, "--backup", broken.to_str().unwrap()], "not a usable LINSTOR backup");
    fails(&["backup", "-c", &source, "-o", "secret://Bad/x"], "not a Kubernetes name");
}

/// A tar.gz whose one entry declares `mebibytes` MiB and holds that many MiB of newlines, about 1 KiB
/// per MiB: one deflated MiB of newlines repeated (after a sync flush a deflate block starts on a byte
/// boundary and refers only to newlines). No gzip trailer: a reader that got that far would fail with
/// another error than the cap asserted on.
fn newline_bomb(path: &Path, name: &str, mebibytes: usize) {
    use flate2::{Compress, Compression, FlushCompress};
    let mut header = tar::Header::new_gnu();
    header.set_path(name).unwrap();
    header.set_size((mebibytes as u64) << 20);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let newlines = vec![b'\n'; 1 << 20];
    let mut compress = Compress::new(Compression::best(), false);
    let mut deflate = |input: &[u8]| {
        let mut out = Vec::with_capacity(input.len() + 4096);
        compress.compress_vec(input, &mut out, FlushCompress::Sync).unwrap();
        out
    };
    let mut bytes = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    bytes.extend(deflate(header.as_bytes()));
    bytes.extend(deflate(&newlines));
    let repeated = deflate(&newlines);
    for _ in 2..mebibytes {
        bytes.extend_from_slice(&repeated);
    }
    std::fs::write(path, bytes).unwrap();
}

/// Issue 14 item 3: a 1 MB backup without a manifest whose one entry expands to 1000 MiB of newlines
/// is refused at the expansion cap, naming the entry and the fix, and the process stays small
/// (GNU time's maximum resident set size; on main it grew with the entry).
#[test]
fn a_newline_bomb_is_refused_with_bounded_memory() {
    let dir = TempDir::new().unwrap();
    let bomb = dir.path().join("bomb.tar.gz");
    newline_bomb(&bomb, "nodes.internal.linstor.linbit.com.yaml", 1000);
    assert!(std::fs::metadata(&bomb).unwrap().len() < 2 << 20);
    let output = std::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(linstor_db_bin())
        .args(["info", bomb.to_str().unwrap()])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("GNU time is installed by scripts/setup.sh");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr.contains("entry nodes.internal.linstor.linbit.com.yaml passes the expansion cap of 100:1")
            && stderr.contains("take a new one with `linstor-db backup`"),
        "{stderr}"
    );
    let rss_kib: u64 = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maximum RSS in GNU time's output:\n{stderr}"));
    assert!(rss_kib < 200 * 1024, "the refused bomb took {rss_kib} KiB of memory");
}

/// Issue 15, item 8: shell completions (bash, zsh, fish) and the man page come from the clap
/// definitions, so they name every subcommand; bash parses its script.
#[test]
fn shell_completions_and_the_man_page_name_every_subcommand() {
    let subcommands = ["export-db", "import-db", "migrate", "restore", "backup", "prune", "verify", "check"];
    let dir = TempDir::new().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let script = String::from_utf8(ok(&["completions", shell]).stdout).unwrap();
        for sub in subcommands {
            assert!(script.contains(sub), "the {shell} completions lack {sub}");
        }
        if shell == "bash" {
            let path = dir.path().join("linstor-db.bash");
            std::fs::write(&path, &script).unwrap();
            let parsed = std::process::Command::new("bash").arg("-n").arg(&path).output().unwrap();
            assert!(parsed.status.success(), "bash -n: {}", describe(&parsed));
        }
    }
    fails(&["completions", "tcsh"], "invalid value 'tcsh'");
    let page = String::from_utf8(ok(&["man"]).stdout).unwrap();
    assert!(page.contains(".TH linstor-db 1"), "{}", &page[..page.len().min(400)]);
    for sub in subcommands.iter().filter(|s| **s != "prune") {
        assert!(page.contains(&format!("linstor\\-db\\-{}", sub.replace('-', "\\-"))), "the man page lacks {sub}");
    }
}

#[test]
fn verify_and_diff_compare_an_upgrade_row_by_row() {
    let dir = TempDir::new().unwrap();
    let (old, new, changed) =
        (dir.path().join("v1-31-1.json"), dir.path().join("v1-33-1.json"), dir.path().join("changed.json"));
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    ok(&["generate", "--rows", "800", "--data-version", "v1-31-1", "--to", &path(&old)]);
    ok(&["generate", "--rows", "800", "--data-version", "v1-33-1", "--to", &path(&new)]);
    let output = ok(&["verify", &path(&old), &path(&new)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("equal: "), "{stdout}");
    assert!(stdout.contains("data versions v1-31-1 / v1-33-1: rows compared as v1-33-1 holds them"), "{stdout}");

    // One row renamed in the upgraded database: diff names it, verify exits 1.
    let text = std::fs::read_to_string(&new).unwrap();
    let node = text.split("\"node_name\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let renamed =
        text.replacen(&format!("\"node_dsp_name\":\"{}\"", node.to_lowercase()), "\"node_dsp_name\":\"renamed\"", 1);
    assert_ne!(renamed, text, "a node's display name to change");
    std::fs::write(&changed, renamed).unwrap();
    let output = run_cli(&["diff", &path(&old), &path(&changed)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stdout.contains(&format!("~ NODES {node}: NODE_DSP_NAME: \"{}\" -> \"renamed\"", node.to_lowercase())),
        "{stdout}"
    );
    assert!(stdout.contains("different: 1 differences"), "{stdout}");
}
