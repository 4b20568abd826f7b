//! The bad-input corpus (`tests/bad-inputs/`, indexed by `expected.tsv`): every file is refused by
//! the real binary with exit code 2 and a message naming the problem, and none needs a server.

use std::path::{Path, PathBuf};

use crate::util::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bad-inputs")
}

/// `(file, command, exit, expected)` rows of `expected.tsv`.
fn index() -> Vec<(String, String, i32, String)> {
    let text = std::fs::read_to_string(corpus().join("expected.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, '\t').collect();
            assert_eq!(fields.len(), 4, "expected.tsv: '{line}' needs 4 tab-separated fields");
            (fields[0].to_owned(), fields[1].to_owned(), fields[2].parse().unwrap(), fields[3].to_owned())
        })
        .collect()
}

/// Runs `args` and checks the exit code and that stderr names the problem; returns a failure text.
fn refused(what: &str, args: &[&str], exit: i32, expected: &str) -> Option<String> {
    let output = run_cli(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code() != Some(exit) || !stderr.contains(expected))
        .then(|| format!("{what}: linstor-db {args:?} should exit {exit} saying '{expected}':\n{}", describe(&output)))
}

#[test]
fn every_bad_input_is_refused_with_its_reason() {
    let rows = index();
    let mut failures = Vec::new();
    for (file, command, exit, expected) in &rows {
        let path = corpus().join(file);
        assert!(path.is_file(), "expected.tsv names {file}, which is not in tests/bad-inputs");
        let path_s = path.to_str().unwrap();
        match command.as_str() {
            "info" | "check" => failures.extend(refused(file, &[command, path_s], *exit, expected)),
            "verify" => failures.extend(refused(file, &["verify", path_s, path_s], *exit, expected)),
            // Nothing listens on port 9: the file is refused before any connection is tried.
            "restore" => failures.extend(refused(
                file,
                &["restore", "--from", path_s, "--to", "etcd://127.0.0.1:9", "--dry-run"],
                *exit,
                expected,
            )),
            "config" => {
                let dir = TempDir::new().unwrap();
                std::fs::copy(&path, dir.path().join("linstor.toml")).unwrap();
                failures.extend(refused(file, &["-c", dir.path().to_str().unwrap(), "info"], *exit, expected));
            }
            "stores" => {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines() {
                    let (address, expected) = line.split_once('\t').unwrap();
                    failures.extend(refused(&format!("{file}: '{address}'"), &["info", address], *exit, expected));
                }
            }
            other => panic!("expected.tsv: unknown command '{other}' for {file}"),
        }
    }
    // Every file of the corpus is in the index, so none sits there untested.
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name == "expected.tsv" || rows.iter().any(|(file, ..)| *file == name),
            "tests/bad-inputs/{name} is not listed in expected.tsv"
        );
    }
    assert!(failures.is_empty(), "{} bad inputs not refused as expected:\n{}", failures.len(), failures.join("\n\n"));
}
