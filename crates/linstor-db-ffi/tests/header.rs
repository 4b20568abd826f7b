//! The checked-in C header must be exactly what cbindgen generates from the sources, so that C, Go
//! and Python callers never compile against a stale contract. Set LINSTOR_DB_UPDATE_HEADER=1 to
//! rewrite it instead of failing.

use std::path::Path;

#[test]
fn checked_in_header_matches_the_generated_one() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen cannot generate the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");

    let path = crate_dir.join("include/linstor_db.h");
    if std::env::var_os("LINSTOR_DB_UPDATE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let first_difference = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "{} is stale (first difference at line {}): regenerate it with \
             LINSTOR_DB_UPDATE_HEADER=1 cargo test -p linstor-db-ffi --test header, and commit it",
            path.display(),
            first_difference + 1
        );
    }
}
