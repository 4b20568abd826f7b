#![no_main]
//! `linstor_db_core::fuzzing::backup_file`; the replay in crates/linstor-db-core/tests/fuzz_corpus.rs runs it on stable.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = linstor_db_core::fuzzing::backup_file(data);
});
