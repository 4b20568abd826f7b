//! One entry per parser a user can feed, for the `cargo fuzz` targets in `fuzz/` and the replay of
//! their corpora in `tests/fuzz_corpus.rs`: both call these functions, so the replay on stable Rust
//! runs exactly the code the fuzzers ran. Each takes the raw input and returns the parser's verdict;
//! a fuzz target only cares that it returns (no panic, no unbounded memory or time).
//!
//! Not a stable API.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;

use crate::archive::{objects_of, Manifest};
use crate::check::Checker;
use crate::config::DbConfig;
use crate::error::{Error, Result};
use crate::etcd_layout::{normalize_prefix, table_prefix, RowAssembler, DB_VERSION_KEY, DEFAULT_PREFIX};
use crate::export::{read_export, Flow, ReadEvent};
use crate::k8s_layout::{cr_name, row_of_object};
use crate::row::Row;
use crate::schema::{DataVersion, Release, ServedVersion, Table};
use crate::store::{EtcdSettings, StoreAddress};
use crate::K8S_GROUP;

/// Every row through LINSTOR's load-time rules too: `check` and the pre-write check see the same rows.
fn check_rows(version: DataVersion, rows: &[(&'static Table, Row)]) {
    let mut checker = Checker::new(version);
    for (table, row) in rows {
        checker.row(table, row);
    }
    let _ = checker.finish();
}

/// An export-db JSON file, as `ExportFileSource` and `info`/`check` on a file read it: the metadata
/// (and whether this tool supports it) and every row, through the rules of `check`.
pub fn export_json(data: &[u8]) -> Result<()> {
    let mut checker: Option<Checker> = None;
    let mut table: Option<&'static Table> = None;
    read_export(data, Path::new("fuzz.json"), |event| {
        match event {
            ReadEvent::Meta(meta) => {
                meta.check_supported("fuzz.json")?;
                checker = Some(Checker::new(meta.data_version));
            }
            ReadEvent::TableStart(t) => table = Some(t),
            ReadEvent::Row(row) => {
                if let (Some(checker), Some(t)) = (checker.as_mut(), table) {
                    let _ = cr_name(t, &row);
                    checker.row(t, &row);
                }
            }
            ReadEvent::TableEnd => table = None,
        }
        Ok(Flow::Continue)
    })?;
    if let Some(checker) = checker {
        let _ = checker.finish();
    }
    Ok(())
}

/// Our backup's `manifest.json` (in an archive, or in the marker Secret of a Secret backup).
pub fn manifest(data: &[u8]) -> Result<()> {
    Manifest::parse(data, "fuzz")?.meta("fuzz").map(|_| ())
}

/// etcd keys and values as `key<TAB>value` lines (`testdata/reference/linstor-written/*.keys.tsv`),
/// under LINSTOR's default prefix: `DBHISTORY/version` picks the release (as `EtcdSource` does),
/// then each table's keys, in etcd's byte order, go through the row assembler and the rules.
pub fn etcd_keys(data: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(data);
    let mut keys: BTreeMap<&str, &str> = BTreeMap::new();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('\t') {
            keys.insert(key, value);
        }
    }
    let version_key = format!("{DEFAULT_PREFIX}{DB_VERSION_KEY}");
    let release = match keys.get(version_key.as_str()) {
        Some(stored) => stored.trim().parse().ok().and_then(Release::for_etcd_version).ok_or_else(|| {
            Error::NotLinstor { store: "fuzz".into(), detail: format!("{DB_VERSION_KEY} is '{stored}'") }
        })?,
        None => Release::newest(),
    };
    let version = release.data_version;
    let mut rows = Vec::new();
    let mut result = Ok(());
    for table in &version.schema().tables {
        let start = table_prefix(DEFAULT_PREFIX, table);
        let mut assembler = RowAssembler::new(DEFAULT_PREFIX, table);
        let mut done = Vec::new();
        let mut fed = keys.range(start.as_str()..).take_while(|(k, _)| k.starts_with(&start));
        let outcome = fed
            .try_for_each(|(key, value)| assembler.push(key, value, &mut done))
            .and_then(|()| assembler.finish(&mut done));
        rows.extend(done.into_iter().map(|row| (table, row)));
        if result.is_ok() {
            result = outcome;
        }
    }
    check_rows(version, &rows);
    result
}

/// Custom resources as the API server returns them (JSON: one object, or a `List`): each object's
/// table by its `kind`, read at the data version its `apiVersion` names (else the newest) as
/// `K8sSource` reads a page, then through the rules.
pub fn custom_resources(data: &[u8]) -> Result<()> {
    let document: Json = serde_json::from_slice(data)
        .map_err(|e| Error::CorruptBackup { what: "fuzz".into(), detail: e.to_string() })?;
    let mut version = None;
    let mut rows = Vec::new();
    let mut result = Ok(());
    for object in objects_of(document) {
        let at = object
            .get("apiVersion")
            .and_then(Json::as_str)
            .and_then(|a| a.strip_prefix(&format!("{K8S_GROUP}/")))
            .and_then(ServedVersion::parse)
            .and_then(ServedVersion::data_version)
            .unwrap_or(DataVersion::V1_33_1);
        let version = *version.get_or_insert(at);
        let kind = object.get("kind").and_then(Json::as_str).unwrap_or_default();
        let Some(table) = version.schema().tables.iter().find(|t| t.kind == kind) else { continue };
        let name = object.pointer("/metadata/name").and_then(Json::as_str).unwrap_or_default();
        match row_of_object(table, name, &object) {
            Ok(row) => rows.push((table, row)),
            Err(e) if result.is_ok() => result = Err(e),
            Err(_) => {}
        }
    }
    check_rows(version.unwrap_or(DataVersion::V1_33_1), &rows);
    result
}

/// `linstor.toml`, then its `connection_url` as the store it selects and its etcd settings.
pub fn linstor_toml(data: &[u8]) -> Result<()> {
    let path = Path::new("/etc/linstor/linstor.toml");
    // `DbConfig::load` reads the file as UTF-8 text and refuses anything else.
    let text =
        std::str::from_utf8(data).map_err(|e| Error::ConfigParse { path: path.into(), message: e.to_string() })?;
    let config = DbConfig::parse(text, path)?;
    if let StoreAddress::Etcd { endpoints } = StoreAddress::from_connection_url(&config.connection_url)? {
        let settings = EtcdSettings::new(endpoints, &config);
        let _ = (normalize_prefix(&settings.prefix_raw), format!("{settings:?}"));
    }
    Ok(())
}

/// A store address as given on the command line (or through the C ABI), and the same text as a
/// `connection_url`.
pub fn store_address(data: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(data);
    let _ = StoreAddress::from_connection_url(&text);
    StoreAddress::parse(&text).map(|address| {
        let _ = address.to_string();
    })
}

/// A backup file, any format `ArchiveSource` reads (a tar.gz of ours, the operator's or LINSTOR's,
/// or a single YAML file: a `---` stream or a `kubectl get -oyaml` dump), opened and read to its last
/// row as `restore` and `info` read it, written to a file under `$TMPDIR` first.
#[cfg(feature = "runtime")]
pub fn backup_file(data: &[u8]) -> Result<()> {
    use crate::backend::archive::ArchiveSource;
    use crate::backend::{Event, Source};

    let io = |source| Error::File { action: "write", path: std::env::temp_dir(), source };
    let dir = tempfile::Builder::new().prefix("linstor-db-fuzz-").tempdir().map_err(io)?;
    let path = dir.path().join("backup");
    std::fs::write(&path, data).map_err(io)?;
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(io)?;
    runtime.block_on(async {
        let mut source = ArchiveSource::new(&path);
        let meta = source.open().await?;
        let mut checker = Checker::new(meta.data_version);
        let mut table = None;
        while let Some(event) = source.next_event().await? {
            match event {
                Event::TableStart(t) => table = Some(t),
                Event::Rows(rows) => {
                    for row in &rows {
                        if let Some(t) = table {
                            checker.row(t, row);
                        }
                    }
                }
                Event::TableEnd => table = None,
            }
        }
        let _ = checker.finish();
        Ok(())
    })
}

/// A tar archive, gzipped here before [`backup_file`] reads it: the fuzzer mutates the tar headers
/// and entries rather than deflate bits, which almost never survive decompression.
#[cfg(feature = "runtime")]
pub fn backup_tar(data: &[u8]) -> Result<()> {
    use std::io::Write;

    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let compressed = gzip.write_all(data).and_then(|()| gzip.finish());
    backup_file(&compressed.map_err(|source| Error::File { action: "write", path: "fuzz.tar.gz".into(), source })?)
}

/// Secrets as `kubectl get secrets -o yaml` (or the API, in JSON) shows them: `backup list` over them,
/// which classifies every scheme, parses our markers' manifests and annotations, and checks the parts
/// of each backup (count, bytes, SHA-256, gaps, orphans) as the restore of `secret://` relies on.
#[cfg(feature = "k8s")]
pub fn secret_list(data: &[u8]) -> Result<()> {
    use k8s_openapi::api::core::v1::Secret;

    let corrupt = |detail: String| Error::CorruptBackup { what: "fuzz".into(), detail };
    let text = std::str::from_utf8(data).map_err(|e| corrupt(e.to_string()))?;
    let document: Json = serde_yaml::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    // What the API server would not return as a Secret is not one.
    let secrets: Vec<Secret> =
        objects_of(document).into_iter().filter_map(|o| serde_json::from_value(o).ok()).collect();
    let listings = crate::backend::secret::backup_listings("fuzz", &secrets, k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    match listings.iter().find(|l| !l.complete && !l.note.is_empty()) {
        Some(l) => Err(corrupt(l.note.clone())),
        None => Ok(()),
    }
}

/// A fuzz entry.
pub type Entry = fn(&[u8]) -> Result<()>;

/// The entries by target name, for the replay of the corpora (`fuzz/corpus/<target>/`).
pub const TARGETS: &[(&str, Entry)] = &[
    ("export_json", export_json),
    ("manifest", manifest),
    ("etcd_keys", etcd_keys),
    ("custom_resources", custom_resources),
    ("linstor_toml", linstor_toml),
    ("store_address", store_address),
    #[cfg(feature = "runtime")]
    ("backup_gzip", backup_file),
    #[cfg(feature = "runtime")]
    ("backup_yaml", backup_file),
    #[cfg(feature = "runtime")]
    ("backup_tar", backup_tar),
    #[cfg(feature = "k8s")]
    ("secret_list", secret_list),
];
