//! Replays every committed fuzz input through the entry the fuzzer ran (`linstor_db_core::fuzzing`),
//! on stable Rust: the seeds (`fuzz/seeds/<target>/`), what fuzzing grew (`fuzz/corpus/<target>/`)
//! and the inputs that once crashed a target, fixed since (`fuzz/regressions/<target>/`). A panic
//! fails the test; long fuzz runs are `scripts/fuzz.sh`.

// A test may unwrap: a panic is how it fails.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use linstor_db_core::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(listing) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = listing.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Every directory under `fuzz/<kind>/` is a target with an entry: a renamed target cannot leave its
/// inputs unreplayed.
fn assert_known_targets(kind: &str) {
    let Ok(listing) = std::fs::read_dir(fuzz_dir().join(kind)) else { return };
    for entry in listing {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(TARGETS.iter().any(|(t, _)| *t == name), "fuzz/{kind}/{name} is not a fuzz target");
    }
}

/// The seeds are real inputs (LINSTOR's files, the tool's own output, valid configs and addresses):
/// each is accepted, except those named `refused-*`, which are refused with an error.
#[test]
fn seeds_are_read_as_their_names_say() {
    assert_known_targets("seeds");
    for (target, entry) in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target} has no seeds");
        for path in seeds {
            let data = std::fs::read(&path).unwrap();
            let refused = path.file_name().unwrap().to_string_lossy().starts_with("refused-");
            let outcome = entry(&data);
            assert_eq!(outcome.is_err(), refused, "{target} on {}: {outcome:?}", path.display());
        }
    }
}

/// Everything fuzzing kept and every fixed crash runs through its entry without a panic.
#[test]
fn corpora_and_regressions_replay_without_panics() {
    assert_known_targets("corpus");
    assert_known_targets("regressions");
    let mut replayed = 0;
    for (target, entry) in TARGETS {
        for path in inputs("corpus", target).into_iter().chain(inputs("regressions", target)) {
            let data = std::fs::read(&path).unwrap();
            // Only a panic fails: most fuzz inputs are refused, which is the point.
            let _ = entry(&data);
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz inputs");
}
