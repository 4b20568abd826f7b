//! Backup archives (see [`crate::archive`]) as a [`Target`] and a [`Source`].
//!
//! Writing spools each table's YAML stream to an anonymous temporary file (a tar header needs the
//! size first), hashing as it goes, then appends it to the gzip stream: memory stays at one row.
//! The archive goes to a hidden owner-only file renamed into place only when complete.
//!
//! Reading accepts any backup layout: it unpacks to a private temporary directory, checks our
//! manifest's checksums when there is one, sorts the custom resources of every file into one spool
//! per table, and then streams the tables in schema order.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::file::{check_writable_path, create_partial_file, create_private_file};
use super::{Event, Source, Target};
use crate::archive::{
    clean_object, entry_name, objects_of, release_for_linstor_version, DocumentSplitter, Manifest, ManifestEntry,
    CRDS_ENTRY, LINSTOR_VERSION_PLURAL, MANIFEST_ENTRY, ROLLBACK_PLURAL,
};
use crate::error::{Error, Result};
use crate::export::{now_ms, ExportMeta};
use crate::k8s_layout::{crd, custom_resource, hex, linstor_version_cr, linstor_version_crd, rollback_crd};
use crate::row::Row;
use crate::schema::{DataVersion, Table};
use crate::K8S_GROUP;

/// Rows per emitted batch.
const BATCH_ROWS: usize = 1024;

/// A writer or reader that counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing { inner, hasher: Sha256::new(), bytes: 0 }
    }

    fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 and size of everything `reader` yields.
pub fn hash_reader(mut reader: impl Read) -> io::Result<(u64, String)> {
    let mut hasher = Hashing::new(io::sink());
    io::copy(&mut reader, &mut hasher)?;
    let (_, bytes, sha) = hasher.finish();
    Ok((bytes, sha))
}

/// Writes a backup archive.
pub struct ArchiveTarget {
    path: PathBuf,
    partial: Option<PathBuf>,
    builder: Option<tar::Builder<GzEncoder<BufWriter<File>>>>,
    manifest: Option<Manifest>,
    version: DataVersion,
    table: Option<(Hashing<BufWriter<File>>, u64)>,
}

impl ArchiveTarget {
    /// A target writing the archive `path`.
    pub fn new(path: impl Into<PathBuf>) -> ArchiveTarget {
        ArchiveTarget {
            path: path.into(),
            partial: None,
            builder: None,
            manifest: None,
            version: DataVersion::V1_33_1,
            table: None,
        }
    }

    fn io_error(&self, source: io::Error) -> Error {
        Error::File { action: "write", path: self.path.clone(), source }
    }

    /// Appends one entry and records it in the manifest.
    fn append(
        &mut self,
        name: &str,
        content: &mut (impl Read + Seek),
        bytes: u64,
        sha256: String,
        objects: u64,
    ) -> Result<()> {
        let (Some(builder), Some(manifest)) = (self.builder.as_mut(), self.manifest.as_mut()) else {
            return Err(Error::Internal("archive written before begin".into()));
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes);
        header.set_mode(0o600);
        header.set_mtime(u64::try_from(manifest.created_ms / 1000).unwrap_or(0));
        header.set_entry_type(tar::EntryType::Regular);
        let result = content.seek(SeekFrom::Start(0)).and_then(|_| builder.append_data(&mut header, name, content));
        manifest.entries.push(ManifestEntry { name: name.to_owned(), objects, bytes, sha256 });
        result.map_err(|e| self.io_error(e))
    }

    /// Appends a YAML stream of `objects`.
    fn append_documents(&mut self, name: &str, objects: &[Json]) -> Result<()> {
        let mut spool = Hashing::new(BufWriter::new(tempfile::tempfile().map_err(|e| self.io_error(e))?));
        for object in objects {
            write_document(&mut spool, object).map_err(|e| self.io_error(e))?;
        }
        self.append_spool(name, spool, objects.len() as u64)
    }

    fn append_spool(&mut self, name: &str, spool: Hashing<BufWriter<File>>, objects: u64) -> Result<()> {
        let (buffered, bytes, sha) = spool.finish();
        let mut file = buffered.into_inner().map_err(|e| self.io_error(e.into_error()))?;
        self.append(name, &mut file, bytes, sha, objects)
    }
}

fn write_document(out: &mut impl Write, object: &Json) -> io::Result<()> {
    let yaml = serde_yaml::to_string(object).map_err(io::Error::other)?;
    out.write_all(b"---\n")?;
    out.write_all(yaml.as_bytes())
}

#[async_trait]
impl Target for ArchiveTarget {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn preflight(&mut self, _meta: &ExportMeta, _replace: bool) -> Result<()> {
        check_writable_path(&self.path)
    }

    async fn begin(&mut self, meta: &ExportMeta) -> Result<()> {
        let (partial, file) = create_partial_file(&self.path)?;
        self.partial = Some(partial);
        let gzip = GzEncoder::new(BufWriter::with_capacity(256 * 1024, file), Compression::default());
        self.builder = Some(tar::Builder::new(gzip));
        self.manifest = Some(Manifest::new(meta, now_ms()));
        self.version = meta.data_version;
        Ok(())
    }

    async fn begin_table(&mut self, _table: &'static Table) -> Result<()> {
        let spool = tempfile::tempfile().map_err(|e| self.io_error(e))?;
        self.table = Some((Hashing::new(BufWriter::with_capacity(256 * 1024, spool)), 0));
        Ok(())
    }

    async fn write_rows(&mut self, table: &'static Table, rows: Vec<Row>) -> Result<u64> {
        let version = self.version;
        let Some((spool, objects)) = self.table.as_mut() else {
            return Err(Error::Internal("rows before a table".into()));
        };
        let mut result = Ok(());
        for row in &rows {
            result = write_document(spool, &custom_resource(table, row, version));
            if result.is_err() {
                break;
            }
        }
        *objects += rows.len() as u64;
        result.map_err(|e| self.io_error(e))?;
        Ok(rows.len() as u64)
    }

    async fn end_table(&mut self, table: &'static Table) -> Result<bool> {
        let (spool, objects) = self.table.take().ok_or_else(|| Error::Internal("table end before start".into()))?;
        self.append_spool(&entry_name(&table.plural), spool, objects)?;
        if let Some(manifest) = self.manifest.as_mut() {
            manifest.rows += objects;
        }
        Ok(true)
    }

    async fn commit(&mut self, meta: &ExportMeta) -> Result<()> {
        self.append_documents(&entry_name(LINSTOR_VERSION_PLURAL), &[linstor_version_cr(meta.k8s_version + 1)])?;
        self.append_documents(&entry_name(ROLLBACK_PLURAL), &[])?;
        let mut crds: Vec<Json> =
            meta.data_version.schema().tables.iter().filter_map(|t| crd(t.name, meta.data_version)).collect();
        crds.push(linstor_version_crd());
        crds.push(rollback_crd());
        self.append_documents(CRDS_ENTRY, &crds)?;
        let manifest = self.manifest.take().ok_or_else(|| Error::Internal("commit before begin".into()))?;
        let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
        text.push(b'\n');
        let (bytes, sha) = hash_reader(&text[..]).map_err(|e| self.io_error(e))?;
        self.manifest = Some(manifest);
        self.append(MANIFEST_ENTRY, &mut io::Cursor::new(text), bytes, sha, 0)?;
        let builder = self.builder.take().ok_or_else(|| Error::Internal("commit before begin".into()))?;
        let file = builder
            .into_inner()
            .and_then(GzEncoder::finish)
            .and_then(|buffered| buffered.into_inner().map_err(io::IntoInnerError::into_error))
            .and_then(|file| file.sync_all())
            .map_err(|e| self.io_error(e))?;
        let () = file;
        let partial = self.partial.take().ok_or_else(|| Error::Internal("no partial file".into()))?;
        std::fs::rename(&partial, &self.path).map_err(|e| self.io_error(e))
    }

    fn recovery(&self) -> String {
        format!(
            "No backup was written to {}: the partial file was removed. Run the same command again.",
            self.path.display()
        )
    }
}

impl Drop for ArchiveTarget {
    fn drop(&mut self) {
        // A backup that did not commit leaves nothing behind.
        if let Some(partial) = self.partial.take() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// An archive checked against its manifest, with the size and SHA-256 of the whole file.
#[derive(Debug, Clone)]
pub struct VerifiedArchive {
    /// Its manifest.
    pub manifest: Manifest,
    /// Size of the file.
    pub bytes: u64,
    /// SHA-256 of the file.
    pub sha256: String,
}

/// Reads an archive we wrote and checks every entry against its manifest (the check after writing:
/// a truncated or altered archive is never reported as a backup); the file is hashed in the same pass.
pub fn verify_archive(path: &Path) -> Result<VerifiedArchive> {
    let what = path.display().to_string();
    let file = File::open(path).map_err(|source| Error::File { action: "open", path: path.to_owned(), source })?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(Hashing::new(file))));
    let mut seen: Vec<(String, u64, String)> = Vec::new();
    let mut manifest = None;
    let entries = archive.entries().map_err(|e| unreadable(&what, &e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| unreadable(&what, &e))?;
        let name = entry_file_name(&entry).map_err(|e| unreadable(&what, &e))?;
        if name == MANIFEST_ENTRY {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(|e| unreadable(&what, &e))?;
            manifest = Some(Manifest::parse(&text, &what)?);
        } else {
            let (bytes, sha) = hash_reader(&mut entry).map_err(|e| unreadable(&what, &e))?;
            seen.push((name, bytes, sha));
        }
    }
    let manifest = manifest.ok_or_else(|| corrupt(&what, format!("it has no {MANIFEST_ENTRY}")))?;
    check_entries(&manifest, &seen, &what)?;
    // The tar reader stops at its end marker: read the rest so that the whole file is hashed.
    let mut decoder = archive.into_inner();
    io::copy(&mut decoder, &mut io::sink()).map_err(|e| unreadable(&what, &e))?;
    let mut file = decoder.into_inner().into_inner();
    io::copy(&mut file, &mut io::sink()).map_err(|e| unreadable(&what, &e))?;
    let (_, bytes, sha256) = file.finish();
    Ok(VerifiedArchive { manifest, bytes, sha256 })
}

fn check_entries(manifest: &Manifest, seen: &[(String, u64, String)], what: &str) -> Result<()> {
    for expected in manifest.entries.iter().filter(|e| e.name != MANIFEST_ENTRY) {
        match seen.iter().find(|(name, _, _)| *name == expected.name) {
            None => return Err(corrupt(what, format!("entry {} listed in the manifest is missing", expected.name))),
            Some((_, bytes, sha)) if *bytes != expected.bytes || *sha != expected.sha256 => {
                return Err(corrupt(
                    what,
                    format!(
                        "entry {} has SHA-256 {sha} ({bytes} bytes) but the manifest says {} ({} bytes): the archive was altered or damaged",
                        expected.name, expected.sha256, expected.bytes
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn entry_file_name<R: Read>(entry: &tar::Entry<'_, R>) -> io::Result<String> {
    let path = entry.path()?;
    Ok(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

fn unreadable(what: &str, error: &io::Error) -> Error {
    corrupt(what, format!("the archive cannot be read ({error}); it is truncated or not a tar.gz"))
}

fn corrupt(what: &str, detail: String) -> Error {
    Error::CorruptBackup { what: what.to_owned(), detail }
}

/// Reads any backup: our archives, operator v1 archives, LINSTOR v2 archives, `kubectl get -oyaml`
/// dumps (a tar.gz, a directory of YAML files, or one YAML file).
pub struct ArchiveSource {
    path: PathBuf,
    what: String,
    work: Option<tempfile::TempDir>,
    /// Where a downloaded backup lives; removed with the source.
    _download: Option<tempfile::TempDir>,
    tables: std::vec::IntoIter<(&'static Table, Option<PathBuf>)>,
    current: Option<(&'static Table, Option<io::Lines<BufReader<File>>>)>,
}

impl ArchiveSource {
    /// A source over the backup at `path` (nothing is read until [`Source::open`]).
    pub fn new(path: impl Into<PathBuf>) -> ArchiveSource {
        let path = path.into();
        ArchiveSource::described(path.clone(), path.display().to_string())
    }

    /// A source over `path`, which was downloaded into `download` from `what` (a Secret).
    pub fn downloaded(download: tempfile::TempDir, path: PathBuf, what: String) -> ArchiveSource {
        ArchiveSource { _download: Some(download), ..ArchiveSource::described(path, what) }
    }

    fn described(path: PathBuf, what: String) -> ArchiveSource {
        ArchiveSource { path, what, work: None, _download: None, tables: Vec::new().into_iter(), current: None }
    }

    /// True when `path` looks like a backup rather than an export-db JSON file.
    pub fn recognizes(path: &Path) -> bool {
        if path.is_dir() {
            return true;
        }
        let mut head = [0u8; 64];
        let Ok(n) = File::open(path).and_then(|mut f| f.read(&mut head)) else { return false };
        let head = &head[..n];
        head.starts_with(&[0x1f, 0x8b]) || head.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{')
    }

    /// Unpacks or lists the YAML inputs, with our manifest if present.
    fn inputs(&self, work: &Path) -> Result<(Vec<PathBuf>, Option<Manifest>)> {
        let what = &self.what;
        let mut files: Vec<PathBuf> = Vec::new();
        let mut hashes: Vec<(String, u64, String)> = Vec::new();
        let mut manifest = None;
        if self.path.is_dir() {
            let listing = std::fs::read_dir(&self.path).map_err(|source| Error::File {
                action: "read",
                path: self.path.clone(),
                source,
            })?;
            for entry in listing {
                let path =
                    entry.map_err(|source| Error::File { action: "read", path: self.path.clone(), source })?.path();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if name == MANIFEST_ENTRY {
                    let text = std::fs::read(&path).map_err(|source| Error::File {
                        action: "read",
                        path: path.clone(),
                        source,
                    })?;
                    manifest = Some(Manifest::parse(&text, what)?);
                } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                    let file = File::open(&path).map_err(|source| Error::File {
                        action: "read",
                        path: path.clone(),
                        source,
                    })?;
                    let (bytes, sha) = hash_reader(BufReader::new(file)).map_err(|e| unreadable(what, &e))?;
                    hashes.push((name, bytes, sha));
                    files.push(path);
                }
            }
        } else {
            let mut file = File::open(&self.path).map_err(|source| Error::File {
                action: "open",
                path: self.path.clone(),
                source,
            })?;
            let mut magic = [0u8; 2];
            let n = file.read(&mut magic).map_err(|e| unreadable(what, &e))?;
            file.seek(SeekFrom::Start(0)).map_err(|e| unreadable(what, &e))?;
            if n == 2 && magic == [0x1f, 0x8b] {
                let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
                let entries = archive.entries().map_err(|e| unreadable(what, &e))?;
                for (index, entry) in entries.enumerate() {
                    let mut entry = entry.map_err(|e| unreadable(what, &e))?;
                    if entry.header().entry_type() != tar::EntryType::Regular {
                        continue;
                    }
                    let name = entry_file_name(&entry).map_err(|e| unreadable(what, &e))?;
                    if name == MANIFEST_ENTRY {
                        let mut text = Vec::new();
                        entry.read_to_end(&mut text).map_err(|e| unreadable(what, &e))?;
                        manifest = Some(Manifest::parse(&text, what)?);
                        continue;
                    }
                    // Entries are stored under an index: names come from the archive and are never trusted as paths.
                    let target = work.join(format!("entry-{index}.yaml"));
                    let out = create_private_file(&target).map_err(|e| unreadable(what, &e))?;
                    let mut hashing = Hashing::new(BufWriter::new(out));
                    io::copy(&mut entry, &mut hashing).map_err(|e| unreadable(what, &e))?;
                    let (buffered, bytes, sha) = hashing.finish();
                    buffered.into_inner().map_err(|e| unreadable(what, &e.into_error()))?;
                    hashes.push((name, bytes, sha));
                    files.push(target);
                }
            } else {
                files.push(self.path.clone());
            }
        }
        if let Some(manifest) = &manifest {
            check_entries(manifest, &hashes, what)?;
        }
        Ok((files, manifest))
    }
}

/// What the scan of all YAML documents found.
#[derive(Default)]
struct Scan {
    /// Per kind: spool file of `spec` JSON lines and the count.
    spools: HashMap<String, (BufWriter<File>, PathBuf, u64)>,
    /// Versions named by the data CRs' apiVersion.
    cr_versions: BTreeSet<String>,
    /// Storage versions of the table CRDs.
    crd_versions: BTreeSet<String>,
    linstor_version: Option<i64>,
    rollbacks: u64,
}

impl Scan {
    fn object(&mut self, mut object: Json, work: &Path, what: &str) -> Result<()> {
        clean_object(&mut object);
        let kind = object.get("kind").and_then(Json::as_str).unwrap_or_default().to_owned();
        let api_version = object.get("apiVersion").and_then(Json::as_str).unwrap_or_default().to_owned();
        if kind == "CustomResourceDefinition" {
            let spec = &object["spec"];
            let plural = spec.pointer("/names/plural").and_then(Json::as_str).unwrap_or_default();
            if spec["group"] == K8S_GROUP && plural != LINSTOR_VERSION_PLURAL && plural != ROLLBACK_PLURAL {
                let stored = spec["versions"].as_array().into_iter().flatten().find(|v| v["storage"] == true);
                if let Some(name) = stored.and_then(|v| v["name"].as_str()) {
                    self.crd_versions.insert(name.to_owned());
                }
            }
            return Ok(());
        }
        let Some(version) = api_version.strip_prefix(&format!("{K8S_GROUP}/")) else { return Ok(()) };
        match kind.as_str() {
            "LinstorVersion" => {
                self.linstor_version = object.pointer("/spec/version").and_then(Json::as_i64);
            }
            "Rollback" => self.rollbacks += 1,
            _ => {
                self.cr_versions.insert(version.to_owned());
                let spec = object
                    .get("spec")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| corrupt(what, format!("a {kind} custom resource has no spec")))?;
                if !self.spools.contains_key(&kind) {
                    let path = work.join(format!("rows-{}.jsonl", self.spools.len()));
                    let file = create_private_file(&path).map_err(|e| unreadable(what, &e))?;
                    self.spools.insert(kind.clone(), (BufWriter::new(file), path, 0));
                }
                if let Some((out, _, count)) = self.spools.get_mut(&kind) {
                    serde_json::to_writer(&mut *out, spec).map_err(|e| unreadable(what, &io::Error::other(e)))?;
                    out.write_all(b"\n").map_err(|e| unreadable(what, &e))?;
                    *count += 1;
                }
            }
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, work: &Path, what: &str) -> Result<()> {
        let file = File::open(path).map_err(|source| Error::File { action: "open", path: path.to_owned(), source })?;
        let mut splitter = DocumentSplitter::default();
        let parse = |document: String, scan: &mut Scan| -> Result<()> {
            let value: Json = serde_yaml::from_str(&document)
                .map_err(|e| corrupt(what, format!("a YAML document cannot be parsed: {e}")))?;
            objects_of(value).into_iter().try_for_each(|object| scan.object(object, work, what))
        };
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| unreadable(what, &e))?;
            if let Some(document) = splitter.push_line(&line) {
                parse(document, self)?;
            }
        }
        if let Some(document) = splitter.finish() {
            parse(document, self)?;
        }
        Ok(())
    }

    /// The metadata of a backup without our manifest: data version from the custom resources (or,
    /// for an empty database, the CRDs), release from `LinstorVersion`.
    fn meta(&self, what: &str) -> Result<ExportMeta> {
        let versions = if self.cr_versions.is_empty() { &self.crd_versions } else { &self.cr_versions };
        let mut data_versions = versions.iter().map(|v| v.parse::<DataVersion>()).collect::<Result<Vec<_>>>()?;
        data_versions.sort();
        let Some(data_version) = data_versions.last().copied() else {
            return Err(corrupt(what, format!("it holds no custom resources or CRDs of {K8S_GROUP}")));
        };
        if !self.cr_versions.is_empty() && data_versions.len() > 1 {
            return Err(corrupt(
                what,
                format!(
                    "its custom resources mix data versions ({})",
                    versions.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let stored = self.linstor_version.ok_or_else(|| {
            corrupt(what, "it has no LinstorVersion custom resource (linstorversion.internal.linstor.linbit.com.yaml), so its LINSTOR version is unknown".into())
        })?;
        let release = release_for_linstor_version(stored, what)?;
        if release.data_version != data_version {
            return Err(corrupt(
                what,
                format!(
                    "LinstorVersion {stored} belongs to LINSTOR {} (data version {}) but the custom resources are {data_version}",
                    release.version, release.data_version
                ),
            ));
        }
        Ok(ExportMeta::for_release(release, "k8s", now_ms()))
    }
}

#[async_trait]
impl Source for ArchiveSource {
    fn describe(&self) -> String {
        self.what.clone()
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        let work = tempfile::Builder::new().prefix("linstor-db-backup-").tempdir().map_err(|source| Error::File {
            action: "create",
            path: std::env::temp_dir(),
            source,
        })?;
        let (files, manifest) = self.inputs(work.path())?;
        let mut scan = Scan::default();
        for file in &files {
            scan.file(file, work.path(), &self.what)?;
        }
        let meta = match &manifest {
            Some(manifest) => manifest.meta(&self.what)?,
            None => scan.meta(&self.what)?,
        };
        if scan.rollbacks > 0 {
            return Err(corrupt(
                &self.what,
                format!("it holds {} LINSTOR Rollback resources: it was taken while the controller was in the middle of a transaction. Take a new backup with the controller stopped", scan.rollbacks),
            ));
        }
        let total: u64 = scan.spools.values().map(|(_, _, n)| n).sum();
        if let Some(manifest) = manifest.as_ref().filter(|m| m.rows != total) {
            return Err(corrupt(&self.what, format!("it holds {total} rows but its manifest says {}", manifest.rows)));
        }
        let schema = meta.data_version.schema();
        if let Some(unknown) = scan.spools.keys().find(|kind| !schema.tables.iter().any(|t| t.kind == **kind)) {
            return Err(corrupt(
                &self.what,
                format!("kind {unknown} is not a table of data version {}", meta.data_version),
            ));
        }
        let mut tables = Vec::new();
        for table in &schema.tables {
            let spool = match scan.spools.remove(&table.kind) {
                Some((out, path, _)) => {
                    out.into_inner().map_err(|e| unreadable(&self.what, &e.into_error()))?;
                    Some(path)
                }
                None => None,
            };
            tables.push((table, spool));
        }
        self.tables = tables.into_iter();
        self.work = Some(work);
        Ok(meta)
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        match self.current.take() {
            None => {
                let Some((table, spool)) = self.tables.next() else { return Ok(None) };
                let lines = match spool {
                    Some(path) => {
                        Some(BufReader::new(File::open(&path).map_err(|e| unreadable(&self.what, &e))?).lines())
                    }
                    None => None,
                };
                self.current = Some((table, lines));
                Ok(Some(Event::TableStart(table)))
            }
            Some((_, None)) => Ok(Some(Event::TableEnd)),
            Some((table, Some(mut lines))) => {
                let mut rows = Vec::with_capacity(BATCH_ROWS);
                for line in lines.by_ref().take(BATCH_ROWS) {
                    let line = line.map_err(|e| unreadable(&self.what, &e))?;
                    let spec: serde_json::Map<String, Json> = serde_json::from_str(&line)
                        .map_err(|e| Error::Internal(format!("spool of {}: {e}", table.name)))?;
                    rows.push(Row::from_json(table, &spec)?);
                }
                if rows.is_empty() {
                    return Ok(Some(Event::TableEnd));
                }
                self.current = Some((table, Some(lines)));
                Ok(Some(Event::Rows(rows)))
            }
        }
    }
}
