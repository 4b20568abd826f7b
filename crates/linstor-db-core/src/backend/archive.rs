//! Backup archives (see [`crate::archive`]) as a [`Target`] and a [`Source`].
//!
//! Writing spools each table's YAML stream to an anonymous temporary file (a tar header needs the
//! size first), hashing as it goes, then appends it to the gzip stream: memory stays at one row.
//! The archive goes to a hidden owner-only file renamed into place only when complete.
//!
//! Reading accepts any backup layout: it unpacks to a private temporary directory, checks our
//! manifest's checksums when there is one, sorts the custom resources of every file into one spool
//! per table, and then streams the tables in schema order.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use async_trait::async_trait;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::file::{check_writable_path, create_partial_file, create_private_file};
use super::{Event, Source, Target};
use crate::archive::{
    clean_object, custom_resource_yaml, entry_name, objects_of, release_for_linstor_version, DocumentSplitter, Limits,
    Manifest, ManifestEntry, CRDS_ENTRY, LINSTOR_VERSION_PLURAL, MANIFEST_ENTRY, ROLLBACK_PLURAL,
};
use crate::error::{Error, Result};
use crate::export::{now_ms, ExportMeta};
use crate::k8s_layout::{
    crd, custom_resource, hex, interrupted_linstor_version_cr, linstor_version_cr, linstor_version_crd, rollback_crd,
};
use crate::row::Row;
use crate::schema::{DataVersion, ServedVersion, Table};
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

/// The in-progress marker a backup of an interrupted write carries on its `LinstorVersion`: it names
/// the job, like the marker the store held.
fn interrupted_marker(job: &str) -> String {
    serde_json::json!({
        "tool": format!("linstor-db {}", crate::TOOL_VERSION),
        "job": job,
        "backup": "a backup of this interrupted write, taken before it was replaced",
    })
    .to_string()
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
            let yaml = custom_resource_yaml(&custom_resource(table, row, version));
            result = spool.write_all(b"---\n").and_then(|()| spool.write_all(yaml.as_bytes()));
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
        let linstor_version = match &meta.interrupted {
            Some(job) => interrupted_linstor_version_cr(&interrupted_marker(job)),
            None => linstor_version_cr(meta.k8s_version + 1),
        };
        self.append_documents(&entry_name(LINSTOR_VERSION_PLURAL), &[linstor_version])?;
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

    async fn mark_incomplete(&mut self, _reason: &str) -> Result<()> {
        // Files are renamed into place only when complete, and no job verifies one after writing.
        Err(Error::Internal(format!(
            "{} is a file, which is never marked as an incomplete import",
            self.path.display()
        )))
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
        let Some(name) = checked_entry_name(&entry, &what)? else { continue };
        if name == MANIFEST_ENTRY {
            manifest = Some(read_manifest(&mut entry, &Limits::DEFAULT, &what)?);
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

/// The file name of a tar entry that holds data, `None` for the entries without data that tar itself
/// writes (directories, global headers); refuses what neither this tool nor LINSTOR's backup
/// procedures ever write: absolute names, names with `..`, links, devices and FIFOs.
fn checked_entry_name<R: Read>(entry: &tar::Entry<'_, R>, what: &str) -> Result<Option<String>> {
    let raw = entry.path_bytes();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let path = Path::new(&shown);
    if shown.starts_with('/')
        || path.components().any(|c| matches!(c, Component::ParentDir | Component::RootDir | Component::Prefix(_)))
    {
        return Err(corrupt(
            what,
            format!("it has an entry named '{shown}', which points outside the archive; backups of linstor-db, the operator and LINSTOR only hold plain file names. Take the backup again, or repack only its YAML files"),
        ));
    }
    let kind = entry.header().entry_type();
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => {}
        tar::EntryType::Directory | tar::EntryType::XGlobalHeader => return Ok(None),
        other => {
            let described = match other {
                tar::EntryType::Symlink => "a symbolic link",
                tar::EntryType::Link => "a hard link",
                tar::EntryType::Char | tar::EntryType::Block => "a device",
                tar::EntryType::Fifo => "a FIFO",
                _ => "not a regular file",
            };
            return Err(corrupt(
                what,
                format!("its entry '{shown}' is {described}; backups of linstor-db, the operator and LINSTOR only hold regular files. Take the backup again, or repack only its YAML files"),
            ));
        }
    }
    Ok(Some(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()))
}

/// Reads `manifest.json`, refusing one over [`Limits::manifest_bytes`].
fn read_manifest(entry: &mut impl Read, limits: &Limits, what: &str) -> Result<Manifest> {
    let mut text = Vec::new();
    entry.take(limits.manifest_bytes + 1).read_to_end(&mut text).map_err(|e| unreadable(what, &e))?;
    if text.len() as u64 > limits.manifest_bytes {
        return Err(too_large(
            what,
            MANIFEST_ENTRY,
            "the manifest cap",
            limits.manifest_bytes,
            "a manifest lists a few dozen entries",
        ));
    }
    Manifest::parse(&text, what)
}

/// The refusal of an entry that passed a cap of [`Limits`].
fn too_large(what: &str, entry: &str, cap: &str, bytes: u64, why: &str) -> Error {
    corrupt(
        what,
        format!("entry {entry} passes {cap} of {bytes} bytes ({why}); reading stopped there. It is damaged or not a LINSTOR backup: restore from another backup, or take a new one with `linstor-db backup`"),
    )
}

/// Counts the bytes read from the compressed file, for the expansion cap.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Copies one entry to `out`, stopping at the first cap of `limits`: the entry's size, the archive's
/// total `unpacked` so far, and the expansion over the `compressed` bytes read so far.
fn copy_capped(
    entry: &mut impl Read,
    out: &mut impl Write,
    name: &str,
    unpacked: &mut u64,
    compressed: &Cell<u64>,
    limits: &Limits,
    what: &str,
) -> Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = entry.read(&mut buffer).map_err(|e| unreadable(what, &e))?;
        if n == 0 {
            return Ok(());
        }
        bytes += n as u64;
        *unpacked += n as u64;
        if bytes > limits.entry_bytes {
            return Err(too_large(
                what,
                name,
                "the cap per entry",
                limits.entry_bytes,
                "more than one LINSTOR table can hold",
            ));
        }
        if *unpacked > limits.archive_bytes {
            return Err(too_large(
                what,
                name,
                "the cap per archive",
                limits.archive_bytes,
                "more than a LINSTOR database can hold",
            ));
        }
        if *unpacked > limits.expansion_after && *unpacked > compressed.get().saturating_mul(limits.expansion) {
            return Err(too_large(
                what,
                name,
                &format!("the expansion cap of {}:1 at", limits.expansion),
                *unpacked,
                &format!(
                    "{} compressed bytes expand to {unpacked}; YAML of LINSTOR data compresses about 5-10:1",
                    compressed.get()
                ),
            ));
        }
        out.write_all(&buffer[..n]).map_err(|e| unreadable(what, &e))?;
    }
}

fn unreadable(what: &str, error: &io::Error) -> Error {
    corrupt(what, format!("the archive cannot be read ({error}); it is truncated or not a tar.gz"))
}

fn corrupt(what: &str, detail: String) -> Error {
    Error::CorruptBackup { what: what.to_owned(), detail }
}

/// Reads any backup: our archives, operator v1 archives, LINSTOR v2 archives, `kubectl get -oyaml`
/// dumps (a tar.gz, a directory of YAML files, or one YAML file), whatever served version their
/// objects are at: each object is read with the schema of its version, and the columns the API server
/// pruned are reported in [`ExportMeta::lost_columns`] (see [`crate::lost`]).
pub struct ArchiveSource {
    path: PathBuf,
    what: String,
    work: Option<tempfile::TempDir>,
    /// Where a downloaded backup lives; removed with the source.
    _download: Option<tempfile::TempDir>,
    /// Data version of the backup (set by `open`).
    data_version: DataVersion,
    tables: std::vec::IntoIter<(&'static Table, Vec<Spool>)>,
    current: Option<Reading>,
    limits: Limits,
}

/// The spooled `spec` lines of one kind at one served version.
struct Spool {
    served: ServedVersion,
    path: PathBuf,
}

/// The table being read: its remaining spools and the open one.
struct Reading {
    table: &'static Table,
    spools: std::vec::IntoIter<Spool>,
    /// The open spool's lines, with the served version's fields when it is not the storage version.
    lines: Option<(Option<Vec<&'static str>>, SpoolLines)>,
}

/// A YAML input of a backup: where it was unpacked (or lies) and its entry name.
type Input = (PathBuf, String);

/// The lines of an open spool.
type SpoolLines = io::Lines<BufReader<File>>;

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
        ArchiveSource {
            path,
            what,
            work: None,
            _download: None,
            data_version: DataVersion::V1_33_1,
            tables: Vec::new().into_iter(),
            current: None,
            limits: Limits::DEFAULT,
        }
    }

    /// The same source reading with other caps than [`Limits::DEFAULT`].
    pub fn with_limits(self, limits: Limits) -> ArchiveSource {
        ArchiveSource { limits, ..self }
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

    /// Unpacks or lists the YAML inputs (path and entry name), with our manifest if present. Every
    /// entry is checked against [`Limits`] while it is unpacked.
    fn inputs(&self, work: &Path) -> Result<(Vec<Input>, Option<Manifest>)> {
        let what = &self.what;
        let limits = &self.limits;
        let mut files: Vec<Input> = Vec::new();
        let mut hashes: Vec<(String, u64, String)> = Vec::new();
        let mut manifest = None;
        if self.path.is_dir() {
            let listing = std::fs::read_dir(&self.path).map_err(|source| Error::File {
                action: "read",
                path: self.path.clone(),
                source,
            })?;
            let root = std::fs::canonicalize(&self.path).map_err(|source| Error::File {
                action: "read",
                path: self.path.clone(),
                source,
            })?;
            let mut unpacked = 0u64;
            for entry in listing {
                let path =
                    entry.map_err(|source| Error::File { action: "read", path: self.path.clone(), source })?.path();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if name != MANIFEST_ENTRY && !name.ends_with(".yaml") && !name.ends_with(".yml") {
                    continue;
                }
                let size = checked_dump_file(&path, &root, &name, limits, what)?;
                unpacked += size;
                if unpacked > limits.archive_bytes {
                    return Err(too_large(
                        what,
                        &name,
                        "the cap per archive",
                        limits.archive_bytes,
                        "more than a LINSTOR database can hold",
                    ));
                }
                let file =
                    File::open(&path).map_err(|source| Error::File { action: "read", path: path.clone(), source })?;
                if name == MANIFEST_ENTRY {
                    manifest = Some(read_manifest(&mut BufReader::new(file), limits, what)?);
                } else {
                    let (bytes, sha) = hash_reader(BufReader::new(file)).map_err(|e| unreadable(what, &e))?;
                    hashes.push((name.clone(), bytes, sha));
                    files.push((path, name));
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
                let compressed = Rc::new(Cell::new(0u64));
                let counting = Counting { inner: file, count: compressed.clone() };
                let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(counting)));
                let entries = archive.entries().map_err(|e| unreadable(what, &e))?;
                let mut unpacked = 0u64;
                for (index, entry) in entries.enumerate() {
                    let mut entry = entry.map_err(|e| unreadable(what, &e))?;
                    let Some(name) = checked_entry_name(&entry, what)? else { continue };
                    // The size the header declares is refused before a byte of it is read.
                    let declared = entry.header().size().map_err(|e| unreadable(what, &e))?;
                    if declared > limits.entry_bytes {
                        return Err(too_large(
                            what,
                            &name,
                            "the cap per entry",
                            limits.entry_bytes,
                            &format!("its tar header says {declared} bytes, more than one LINSTOR table can hold"),
                        ));
                    }
                    if name == MANIFEST_ENTRY {
                        manifest = Some(read_manifest(&mut entry, limits, what)?);
                        continue;
                    }
                    // Entries are stored under an index: names come from the archive and are never trusted as paths.
                    let target = work.join(format!("entry-{index}.yaml"));
                    let out = create_private_file(&target).map_err(|e| unreadable(what, &e))?;
                    let mut hashing = Hashing::new(BufWriter::new(out));
                    copy_capped(&mut entry, &mut hashing, &name, &mut unpacked, &compressed, limits, what)?;
                    let (buffered, bytes, sha) = hashing.finish();
                    buffered.into_inner().map_err(|e| unreadable(what, &e.into_error()))?;
                    hashes.push((name.clone(), bytes, sha));
                    files.push((target, name));
                }
            } else {
                let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let size = file.metadata().map_err(|e| unreadable(what, &e))?.len();
                if size > limits.entry_bytes {
                    return Err(too_large(
                        what,
                        &name,
                        "the cap per file",
                        limits.entry_bytes,
                        "more than one LINSTOR table can hold",
                    ));
                }
                files.push((self.path.clone(), name));
            }
        }
        if let Some(manifest) = &manifest {
            check_entries(manifest, &hashes, what)?;
        }
        Ok((files, manifest))
    }
}

/// Checks one file of a directory dump: a regular file (a symbolic link only to a regular file inside
/// the directory) within the cap per entry; returns its size.
fn checked_dump_file(path: &Path, root: &Path, name: &str, limits: &Limits, what: &str) -> Result<u64> {
    let unreadable_file = |source| Error::File { action: "read", path: path.to_owned(), source };
    let link = std::fs::symlink_metadata(path).map_err(unreadable_file)?;
    if link.file_type().is_symlink() {
        let resolved = std::fs::canonicalize(path).map_err(unreadable_file)?;
        if !resolved.starts_with(root) {
            return Err(corrupt(
                what,
                format!("its file {name} is a symbolic link to {}, outside the directory; a dump is read only from the files in it. Copy the file into the directory instead of linking it", resolved.display()),
            ));
        }
    }
    let metadata = std::fs::metadata(path).map_err(unreadable_file)?;
    if !metadata.is_file() {
        return Err(corrupt(
            what,
            format!("its {name} is not a regular file (a directory, device or FIFO); a dump holds only YAML files. Move it out of the directory"),
        ));
    }
    if metadata.len() > limits.entry_bytes {
        return Err(too_large(
            what,
            name,
            "the cap per file",
            limits.entry_bytes,
            "more than one LINSTOR table can hold",
        ));
    }
    Ok(metadata.len())
}

/// What the scan of all YAML documents found.
#[derive(Default)]
struct Scan {
    /// Per kind and served version: spool file of `spec` JSON lines and the count.
    spools: HashMap<(String, ServedVersion), (BufWriter<File>, PathBuf, u64)>,
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
                let served = ServedVersion::parse(version).ok_or_else(|| {
                    corrupt(
                        what,
                        format!("a {kind} custom resource is at {api_version}, a version no LINSTOR CRD serves"),
                    )
                })?;
                let spec = object
                    .get("spec")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| corrupt(what, format!("a {kind} custom resource has no spec")))?;
                let key = (kind, served);
                if !self.spools.contains_key(&key) {
                    let path = work.join(format!("rows-{}.jsonl", self.spools.len()));
                    let file = create_private_file(&path).map_err(|e| unreadable(what, &e))?;
                    self.spools.insert(key.clone(), (BufWriter::new(file), path, 0));
                }
                if let Some((out, _, count)) = self.spools.get_mut(&key) {
                    serde_json::to_writer(&mut *out, spec).map_err(|e| unreadable(what, &io::Error::other(e)))?;
                    out.write_all(b"\n").map_err(|e| unreadable(what, &e))?;
                    *count += 1;
                }
            }
        }
        Ok(())
    }

    /// Scans the YAML stream of entry `name` at `path`, line by line within [`Limits::line_bytes`]
    /// and document by document within [`Limits::document_bytes`].
    fn file(&mut self, (path, name): &(PathBuf, String), work: &Path, limits: &Limits, what: &str) -> Result<()> {
        let file = File::open(path).map_err(|source| Error::File { action: "open", path: path.to_owned(), source })?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut splitter = DocumentSplitter::new(limits.document_bytes);
        let parse = |document: String, scan: &mut Scan| -> Result<()> {
            let value: Json = serde_yaml::from_str(&document)
                .map_err(|e| corrupt(what, format!("a YAML document of {name} cannot be parsed: {e}")))?;
            objects_of(value).into_iter().try_for_each(|object| scan.object(object, work, what))
        };
        let document_cap = |cap: usize| {
            too_large(
                what,
                name,
                "the cap per YAML document",
                cap as u64,
                "one custom resource has at most 1.5 MiB, one `kubectl get -oyaml` list a whole table",
            )
        };
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut reader)
                .take(limits.line_bytes as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| unreadable(what, &e))?;
            if n == 0 {
                break;
            }
            if line.len() > limits.line_bytes {
                return Err(too_large(
                    what,
                    name,
                    "the cap per line",
                    limits.line_bytes as u64,
                    "one custom resource has at most 1.5 MiB",
                ));
            }
            let text = std::str::from_utf8(&line)
                .map_err(|e| corrupt(what, format!("{name} is not UTF-8 text ({e}); a backup holds YAML")))?;
            if let Some(document) = splitter.push_line(text).map_err(|e| document_cap(e.cap))? {
                parse(document, self)?;
            }
        }
        if let Some(document) = splitter.finish() {
            parse(document, self)?;
        }
        Ok(())
    }

    /// The metadata of a backup without our manifest. The data version is the CRDs' storage version
    /// (`crds.yaml`), which must be the data version of the release `LinstorVersion` names; without
    /// CRDs, that release's. The objects may be at any version those CRDs serve (`kubectl get` returns
    /// them at the preferred one), checked in [`Scan::check_served`].
    fn meta(&self, what: &str) -> Result<ExportMeta> {
        let stored = self.linstor_version.ok_or_else(|| {
            corrupt(what, "it has no LinstorVersion custom resource (linstorversion.internal.linstor.linbit.com.yaml), so its LINSTOR version is unknown".into())
        })?;
        let release = release_for_linstor_version(stored, what)?;
        let storage: Vec<&String> = self.crd_versions.iter().collect();
        match storage.as_slice() {
            [] => {}
            [one] => {
                let Some(ServedVersion::Data(data_version)) = ServedVersion::parse(one) else {
                    return Err(corrupt(
                        what,
                        format!("its CRDs store {one}, a data version of LINSTOR before 1.20 that this tool does not read; start a LINSTOR 1.24 – 1.33 controller on that database once so that it migrates it, then take a new backup"),
                    ));
                };
                if data_version != release.data_version {
                    return Err(corrupt(
                        what,
                        format!(
                            "LinstorVersion {stored} belongs to LINSTOR {} (data version {}) but its CRDs store {data_version}",
                            release.version, release.data_version
                        ),
                    ));
                }
            }
            many => {
                return Err(corrupt(
                    what,
                    format!(
                        "its CRDs store different versions ({}): the database was in the middle of a LINSTOR migration",
                        many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
        }
        Ok(ExportMeta::for_release(release, "k8s", now_ms()))
    }

    /// Checks that every kind's objects are at a version its CRD serves at `meta`'s data version, and
    /// records in `meta` the versions other than the storage one and the columns they lack.
    fn check_served(&self, meta: &mut ExportMeta, what: &str) -> Result<()> {
        let data_version = meta.data_version;
        let schema = data_version.schema();
        let mut keys: Vec<&(String, ServedVersion)> = self.spools.keys().collect();
        keys.sort();
        for key in keys {
            let (kind, served) = key;
            let Some(table) = schema.tables.iter().find(|t| t.kind == *kind) else {
                return Err(corrupt(what, format!("kind {kind} is not a table of data version {data_version}")));
            };
            if !ServedVersion::listed(table.name, data_version).contains(served) {
                return Err(corrupt(
                    what,
                    format!(
                        "its {kind} custom resources are at {served}, a version LINSTOR's CRDs of data version {data_version} do not serve: they belong to another LINSTOR release than its LinstorVersion"
                    ),
                ));
            }
            if *served == ServedVersion::Data(data_version) {
                continue;
            }
            if !meta.objects_at.iter().any(|v| v == served.as_str()) {
                meta.objects_at.push(served.as_str().to_owned());
            }
            let objects = self.spools.get(key).map_or(0, |(_, _, n)| *n);
            meta.lost_columns.extend(crate::lost::lost_columns(table, *served, objects));
        }
        meta.objects_at.sort();
        Ok(())
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
            scan.file(file, work.path(), &self.limits, &self.what)?;
        }
        let mut meta = match &manifest {
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
        scan.check_served(&mut meta, &self.what)?;
        let schema = meta.data_version.schema();
        let mut spools: HashMap<String, Vec<Spool>> = HashMap::new();
        for ((kind, served), (out, path, _)) in scan.spools.drain() {
            out.into_inner().map_err(|e| unreadable(&self.what, &e.into_error()))?;
            spools.entry(kind).or_default().push(Spool { served, path });
        }
        let mut tables = Vec::new();
        for table in &schema.tables {
            let mut of_table = spools.remove(&table.kind).unwrap_or_default();
            of_table.sort_by_key(|spool| std::cmp::Reverse(spool.served));
            tables.push((table, of_table));
        }
        self.tables = tables.into_iter();
        self.data_version = meta.data_version;
        self.work = Some(work);
        Ok(meta)
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        let Some(mut reading) = self.current.take() else {
            let Some((table, spools)) = self.tables.next() else { return Ok(None) };
            self.current = Some(Reading { table, spools: spools.into_iter(), lines: None });
            return Ok(Some(Event::TableStart(table)));
        };
        let table = reading.table;
        loop {
            let Some((served_fields, lines)) = reading.lines.as_mut() else {
                let Some(spool) = reading.spools.next() else { return Ok(Some(Event::TableEnd)) };
                let file = File::open(&spool.path).map_err(|e| unreadable(&self.what, &e))?;
                let fields = (spool.served != ServedVersion::Data(self.data_version)).then(|| {
                    spool.served.columns(table.name).unwrap_or_default().into_iter().map(|c| c.field.as_str()).collect()
                });
                reading.lines = Some((fields, BufReader::new(file).lines()));
                continue;
            };
            let mut rows = Vec::with_capacity(BATCH_ROWS);
            for line in lines.by_ref().take(BATCH_ROWS) {
                let line = line.map_err(|e| unreadable(&self.what, &e))?;
                let spec: serde_json::Map<String, Json> = serde_json::from_str(&line)
                    .map_err(|e| Error::Internal(format!("spool of {}: {e}", table.name)))?;
                rows.push(row_at(table, served_fields.as_deref(), spec)?);
            }
            if rows.is_empty() {
                reading.lines = None;
                continue;
            }
            self.current = Some(reading);
            return Ok(Some(Event::Rows(rows)));
        }
    }
}

/// The row of an object read at a served version with `served_fields` (`None`: the storage version).
/// A field the served version has but the storage schema does not (an object stored long ago at an
/// old version, say `tcp_port` of ResourceConnections) is dropped, as LINSTOR reading at its storage
/// version never sees it; the storage columns the served version lacks read as NULL (reported as
/// lost columns, never filled in).
fn row_at(table: &Table, served_fields: Option<&[&str]>, mut spec: serde_json::Map<String, Json>) -> Result<Row> {
    if let Some(fields) = served_fields {
        spec.retain(|field, _| table.field_index(field).is_some() || !fields.contains(&field.as_str()));
    }
    Row::from_json(table, &spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::file::ExportFileSource;
    use crate::engine::compare::compare;

    fn written(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/reference/linstor-written").join(name)
    }

    /// Every row of `source` by table and formatted key.
    async fn rows_of(source: &mut dyn Source) -> (ExportMeta, std::collections::BTreeMap<(String, String), Row>) {
        let meta = source.open().await.unwrap();
        let mut rows = std::collections::BTreeMap::new();
        let mut table = None;
        while let Some(event) = source.next_event().await.unwrap() {
            match event {
                Event::TableStart(t) => table = Some(t),
                Event::Rows(batch) => {
                    let t = table.unwrap();
                    for row in batch {
                        assert!(rows.insert((t.name.to_owned(), row.formatted_key(t)), row).is_none());
                    }
                }
                Event::TableEnd => table = None,
            }
        }
        (meta, rows)
    }

    /// The backup LINSTOR 1.33.3's entrypoint made with kubectl (objects at v1-19-1 on CRDs storing
    /// v1-27-1) reads as v1-27-1 data, names what v1-19-1 lacks, and equals the rows it was taken from.
    #[tokio::test]
    async fn linstors_entrypoint_backup_reads_and_equals_its_source() {
        let backup = written("v2-entrypoint-backup.tar.gz");
        let (meta, rows) = rows_of(&mut ArchiveSource::new(&backup)).await;
        assert_eq!((meta.data_version, meta.linstor_version.as_str()), (DataVersion::V1_27_1, "1.31.3"));
        assert_eq!(meta.objects_at, ["v1-19-1"]);
        let lost: Vec<String> =
            meta.lost_columns.iter().map(|l| format!("{}.{}@{}", l.kind, l.field, l.served_version)).collect();
        assert_eq!(lost, ["ResourceGroups.x_replicas_on_different@v1-19-1", "ResourceGroups.peer_slots@v1-19-1"]);
        assert_eq!(crate::lost::note(&meta), "objects at v1-19-1, 2 columns lost");
        assert!(rows.len() > 600, "{}", rows.len());

        let report = compare(
            Box::new(ArchiveSource::new(&backup)),
            Box::new(ExportFileSource::new(written("v2-entrypoint-backup.source.json"))),
            |d| panic!("{d:?}"),
        )
        .await
        .unwrap();
        assert!(report.equal() && report.rows_a == report.rows_b && report.rows_a > 600, "{report:?}");
        // The source had no values in the lost columns: nothing was actually lost.
        assert_eq!(report.lost_columns.len(), 2);
        assert!(report.lost_columns.iter().all(|l| l.values_elsewhere == Some(0)), "{:?}", report.lost_columns);
    }

    /// Writes `rows` (of data version `version`) as a kubectl dump with every table's objects at
    /// `served` (or the table's first version when it had no CRD then), fields pruned to that
    /// version's schema as the API server prunes them, plus `crds.yaml` and `LinstorVersion`.
    fn kubectl_dump(
        dir: &Path,
        version: DataVersion,
        served: ServedVersion,
        rows: &std::collections::BTreeMap<(String, String), Row>,
        linstor_version: u32,
    ) {
        let schema = version.schema();
        let crds: Vec<Json> = schema.tables.iter().filter_map(|t| crd(t.name, version)).collect();
        std::fs::write(
            dir.join("crds.yaml"),
            serde_yaml::to_string(&serde_json::json!({"kind": "List", "items": crds})).unwrap(),
        )
        .unwrap();
        for table in &schema.tables {
            let listed = ServedVersion::listed(table.name, version);
            let at = listed.iter().copied().filter(|v| *v >= served).min().unwrap();
            let fields: Vec<&str> = at.columns(table.name).unwrap().iter().map(|c| c.field.as_str()).collect();
            let items: Vec<Json> = rows
                .iter()
                .filter(|((t, _), _)| t == table.name)
                .map(|(_, row)| {
                    let mut cr = custom_resource(table, row, version);
                    cr["apiVersion"] = Json::String(format!("{K8S_GROUP}/{at}"));
                    cr["metadata"]["uid"] = Json::String("u".into());
                    cr["spec"].as_object_mut().unwrap().retain(|f, _| fields.contains(&f.as_str()));
                    cr
                })
                .collect();
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            std::fs::write(dir.join(entry_name(&table.plural)), serde_yaml::to_string(&list).unwrap()).unwrap();
        }
        let version_cr = linstor_version_cr(linstor_version);
        std::fs::write(dir.join(entry_name(LINSTOR_VERSION_PLURAL)), serde_yaml::to_string(&version_cr).unwrap())
            .unwrap();
    }

    /// kubectl dumps of the database LINSTOR 1.33.3 left at every version its CRDs serve: read as
    /// v1-31-1, lost columns named with the rows that had values, everything else equal.
    #[tokio::test]
    async fn kubectl_dumps_at_every_served_version_read_with_their_losses() {
        let export = written("loaded-by-linstor-k8s.export.json");
        let (source_meta, source) = rows_of(&mut ExportFileSource::new(&export)).await;
        let version = source_meta.data_version;
        assert_eq!(version, DataVersion::V1_31_1);
        for served in ServedVersion::listed("NODES", version) {
            let dir = tempfile::tempdir().unwrap();
            kubectl_dump(dir.path(), version, served, &source, source_meta.k8s_version + 1);
            let (meta, rows) = rows_of(&mut ArchiveSource::new(dir.path())).await;
            assert_eq!(meta.data_version, version, "{served}");
            assert_eq!(rows.len(), source.len(), "{served}");
            let mut expected_lost: Vec<String> = Vec::new();
            for table in &version.schema().tables {
                if !source.keys().any(|(t, _)| t == table.name) {
                    continue;
                }
                let at = ServedVersion::listed(table.name, version).into_iter().filter(|v| *v >= served).min().unwrap();
                expected_lost.extend(
                    crate::lost::pruned_columns(table, at).iter().map(|c| format!("{}.{}", table.kind, c.field)),
                );
            }
            let lost: Vec<String> = meta.lost_columns.iter().map(|l| format!("{}.{}", l.kind, l.field)).collect();
            assert_eq!(lost, expected_lost, "{served}");
            if served == ServedVersion::Data(version) {
                assert!(meta.objects_at.is_empty() && lost.is_empty());
                assert!(rows == source);
                continue;
            }
            // Tables without a CRD at `served` (Schedules before v1-18-2) are at their first version.
            assert_eq!(meta.objects_at.first().map(String::as_str), Some(served.as_str()), "{served}");
            for ((table, key), row) in &source {
                let t = version.schema().table(table).unwrap();
                let mut expected = row.clone();
                for lost in meta.lost_columns.iter().filter(|l| l.table == *table) {
                    expected.cells[t.column_index(&lost.column).unwrap()] = None;
                }
                expected.fill_defaults(t);
                assert_eq!(rows.get(&(table.clone(), key.clone())), Some(&expected), "{served} {table} {key}");
            }
            // Against the source, the lost columns are counted where it has values.
            let report =
                compare(Box::new(ArchiveSource::new(dir.path())), Box::new(ExportFileSource::new(&export)), |_| {})
                    .await
                    .unwrap();
            let tcp = report.lost_columns.iter().find(|l| l.field == "tcp_port_list").unwrap();
            assert_eq!((tcp.objects, tcp.values_elsewhere), (292, Some(292)), "{served}");
            assert!(!report.equal(), "{served}: the lost TCP ports are differences");
        }
    }

    /// Objects at a version the storage version's CRDs do not serve, or CRDs storing a version
    /// LINSTOR's LinstorVersion does not belong to, are refused with the reason.
    #[tokio::test]
    async fn objects_at_versions_the_crds_do_not_serve_are_refused() {
        let export = written("loaded-by-linstor-k8s.export.json");
        let (meta, source) = rows_of(&mut ExportFileSource::new(&export)).await;
        let dir = tempfile::tempdir().unwrap();
        // LinstorVersion 28 is LINSTOR 1.31.3 (v1-27-1), but the CRDs store v1-31-1.
        kubectl_dump(dir.path(), meta.data_version, ServedVersion::V1_15_0, &source, 28);
        let err = ArchiveSource::new(dir.path()).open().await.err().unwrap().to_string();
        assert!(
            err.contains("LinstorVersion 28 belongs to LINSTOR 1.31.3") && err.contains("CRDs store v1-31-1"),
            "{err}"
        );
        // Without crds.yaml the data version is LinstorVersion's; v1-31-1 objects are not served by its CRDs.
        kubectl_dump(dir.path(), meta.data_version, ServedVersion::Data(DataVersion::V1_31_1), &source, 28);
        std::fs::remove_file(dir.path().join("crds.yaml")).unwrap();
        let err = ArchiveSource::new(dir.path()).open().await.err().unwrap().to_string();
        assert!(err.contains("at v1-31-1, a version LINSTOR's CRDs of data version v1-27-1 do not serve"), "{err}");
    }

    /// A tar.gz whose one entry `name` declares `declared` bytes and holds `mebibytes` MiB of
    /// newlines, about 1 KiB per MiB: one deflated MiB of newlines repeated (after a sync flush a
    /// deflate block starts on a byte and refers only to newlines). It has no gzip trailer: a reader
    /// that got that far fails with another error than the caps.
    fn newline_bomb(path: &Path, name: &str, declared: u64, mebibytes: usize) {
        use flate2::{Compress, FlushCompress};
        let mut header = tar::Header::new_gnu();
        header.set_path(name).unwrap();
        header.set_size(declared);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let newlines = vec![b'\n'; 1 << 20];
        let mut compress = Compress::new(Compression::best(), false);
        let mut deflate = |input: &[u8]| {
            let mut out = Vec::with_capacity(input.len() + 4096);
            let before = compress.total_in();
            compress.compress_vec(input, &mut out, FlushCompress::Sync).unwrap();
            assert_eq!(compress.total_in() - before, input.len() as u64);
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

    fn open_error(source: ArchiveSource) -> String {
        let mut source = source;
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(source.open()).err().map(|e| e.to_string()).unwrap_or_default()
    }

    /// Issue 14 item 3: a 1 MB backup whose one entry expands to 1000 MiB of newlines is refused at
    /// the expansion cap, after 16 MiB, naming the entry; one whose header declares 2 GiB before a
    /// byte of it is read.
    #[test]
    fn newline_bombs_are_refused_at_the_first_cap() {
        let dir = tempfile::tempdir().unwrap();
        let bomb = dir.path().join("bomb.tar.gz");
        let name = "nodes.internal.linstor.linbit.com.yaml";
        newline_bomb(&bomb, name, 1000 << 20, 1000);
        assert!(std::fs::metadata(&bomb).unwrap().len() < 2 << 20);
        let err = open_error(ArchiveSource::new(&bomb));
        assert!(
            err.contains(&format!("entry {name} passes the expansion cap of 100:1"))
                && err.contains("linstor-db backup"),
            "{err}"
        );
        newline_bomb(&bomb, name, 2 << 30, 4);
        let err = open_error(ArchiveSource::new(&bomb));
        assert!(err.contains("passes the cap per entry of 1073741824 bytes") && err.contains("2147483648"), "{err}");
        // The same caps hold for a directory and a single file: by size, before reading.
        let limits = Limits { entry_bytes: 1 << 20, ..Limits::DEFAULT };
        std::fs::write(dir.path().join(name), vec![b'\n'; 2 << 20]).unwrap();
        let err = open_error(ArchiveSource::new(dir.path().join(name)).with_limits(limits));
        assert!(err.contains(&format!("entry {name} passes the cap per file of 1048576 bytes")), "{err}");
    }

    /// One huge YAML document, and one huge line, are refused at their caps while they are read.
    #[test]
    fn huge_yaml_documents_and_lines_are_refused_at_their_caps() {
        let dir = tempfile::tempdir().unwrap();
        let name = "propscontainers.internal.linstor.linbit.com.yaml";
        let mut document = String::from("apiVersion: v1\nkind: List\nitems:\n");
        while document.len() < 3 << 20 {
            document.push_str("- {apiVersion: internal.linstor.linbit.com/v1-31-1, kind: PropsContainers, spec: {props_instance: /CTRL, prop_key: k, prop_value: v}}\n");
        }
        let archive = dir.path().join("huge.tar.gz");
        write_entries(&archive, &[(name, document.as_bytes())]);
        let limits = Limits { document_bytes: 2 << 20, line_bytes: 1 << 20, ..Limits::DEFAULT };
        let err = open_error(ArchiveSource::new(&archive).with_limits(limits));
        assert!(err.contains(&format!("entry {name} passes the cap per YAML document of 2097152 bytes")), "{err}");
        let line = format!("spec: {{prop_value: {}}}\n", "x".repeat(3 << 20));
        write_entries(&archive, &[(name, line.as_bytes())]);
        let err = open_error(ArchiveSource::new(&archive).with_limits(limits));
        assert!(err.contains(&format!("entry {name} passes the cap per line of 1048576 bytes")), "{err}");
    }

    /// A tar.gz of `entries` (regular files).
    fn write_entries(path: &Path, entries: &[(&str, &[u8])]) {
        let mut builder = tar::Builder::new(GzEncoder::new(File::create(path).unwrap(), Compression::fast()));
        for (name, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            builder.append_data(&mut header, name, *content).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    /// Issue 14 item 12: entries that point outside the archive, links and devices are refused by name,
    /// in backups and in the check after writing one.
    /// A source whose data is an interrupted write of `job`, as a replacing job reads it.
    struct InterruptedWrite(crate::generate::GeneratedSource);

    #[async_trait]
    impl Source for InterruptedWrite {
        fn describe(&self) -> String {
            self.0.describe()
        }

        async fn open(&mut self) -> Result<ExportMeta> {
            let mut meta = self.0.open().await?;
            meta.interrupted = Some("restore of /backups/a.tar.gz".into());
            Ok(meta)
        }

        async fn next_event(&mut self) -> Result<Option<Event>> {
            self.0.next_event().await
        }
    }

    /// A backup of an interrupted write says so where every reader looks: its manifest (at format 2,
    /// which readers of format 1 refuse instead of taking the data for complete) and, for readers
    /// without the manifest, a `LinstorVersion` at the blocking version with the marker.
    #[tokio::test]
    async fn a_backup_of_an_interrupted_write_is_marked_for_every_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("left.tar.gz");
        let plan = crate::generate::Plan::for_rows(200, 3, DataVersion::V1_31_1);
        let mut source = InterruptedWrite(crate::generate::GeneratedSource::new(plan.clone()));
        crate::engine::copy(&mut source, &mut ArchiveTarget::new(&path), &Default::default()).await.unwrap();

        let VerifiedArchive { manifest, .. } = verify_archive(&path).unwrap();
        assert_eq!(
            (manifest.format_version, manifest.interrupted.as_deref()),
            (2, Some("restore of /backups/a.tar.gz"))
        );
        let (meta, rows) = rows_of(&mut ArchiveSource::new(&path)).await;
        assert_eq!(meta.interrupted.as_deref(), Some("restore of /backups/a.tar.gz"));
        let (_, generated) = rows_of(&mut crate::generate::GeneratedSource::new(plan)).await;
        assert!(rows == generated);

        // Without the manifest, the LinstorVersion entry refuses it as an interrupted import.
        let stripped = dir.path().join("no-manifest.tar.gz");
        let mut builder = tar::Builder::new(GzEncoder::new(File::create(&stripped).unwrap(), Compression::fast()));
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(File::open(&path).unwrap()));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if name == MANIFEST_ENTRY {
                continue;
            }
            if name == entry_name(LINSTOR_VERSION_PLURAL) {
                let mut text = String::new();
                io::Read::read_to_string(&mut entry, &mut text).unwrap();
                assert!(text.contains("version: -1") && text.contains("linstor-db/import-in-progress"), "{text}");
                let mut header = tar::Header::new_gnu();
                header.set_size(text.len() as u64);
                header.set_mode(0o600);
                header.set_cksum();
                builder.append_data(&mut header, &name, text.as_bytes()).unwrap();
                continue;
            }
            let mut header = entry.header().clone();
            builder.append_data(&mut header, &name, &mut entry).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        let err = ArchiveSource::new(&stripped).open().await.unwrap_err().to_string();
        assert!(err.contains("taken while an import was running"), "{err}");

        // LINSTOR's export format cannot mark data incomplete: export-db refuses it.
        let export = dir.path().join("left.json");
        let mut target = crate::backend::file::ExportFileTarget::new(export.clone());
        let err =
            crate::engine::copy(&mut ArchiveSource::new(&path), &mut target, &Default::default()).await.unwrap_err();
        assert!(err.to_string().contains("interrupted write") && !export.exists(), "{err}");
    }

    #[test]
    fn archives_with_escaping_names_links_or_devices_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("bad.tar.gz");
        let cases: [(&str, tar::EntryType, &str); 6] = [
            ("../../x", tar::EntryType::Regular, "points outside the archive"),
            ("/abs/path", tar::EntryType::Regular, "points outside the archive"),
            ("a/../../x.yaml", tar::EntryType::Regular, "points outside the archive"),
            ("nodes.yaml", tar::EntryType::Symlink, "is a symbolic link"),
            ("nodes.yaml", tar::EntryType::Link, "is a hard link"),
            ("null", tar::EntryType::Char, "is a device"),
        ];
        for (name, kind, expected) in cases {
            let mut builder = tar::Builder::new(GzEncoder::new(File::create(&archive).unwrap(), Compression::fast()));
            let mut good = tar::Header::new_gnu();
            good.set_size(0);
            good.set_cksum();
            builder.append_data(&mut good, "crds.yaml", io::empty()).unwrap();
            // Written byte by byte: the tar crate refuses to build such names itself.
            let mut header = tar::Header::new_gnu();
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(kind);
            header.set_size(0);
            if kind.is_symlink() || kind.is_hard_link() {
                header.set_link_name("/etc/passwd").unwrap();
            }
            header.set_mode(0o600);
            header.set_cksum();
            builder.append(&header, io::empty()).unwrap();
            builder.into_inner().unwrap().finish().unwrap();
            let err = open_error(ArchiveSource::new(&archive));
            assert!(err.contains(&format!("'{name}'")) && err.contains(expected), "{name}: {err}");
            let err = verify_archive(&archive).unwrap_err().to_string();
            assert!(err.contains(&format!("'{name}'")) && err.contains(expected), "{name}: {err}");
        }
    }

    /// A directory dump reads through symbolic links inside it, and refuses one that points outside.
    #[tokio::test]
    async fn directory_dumps_refuse_links_out_of_the_directory() {
        let export = written("loaded-by-linstor-k8s.export.json");
        let (meta, source) = rows_of(&mut ExportFileSource::new(&export)).await;
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("dump");
        std::fs::create_dir(&dump).unwrap();
        kubectl_dump(&dump, meta.data_version, ServedVersion::Data(meta.data_version), &source, meta.k8s_version + 1);
        let nodes = entry_name("nodes");
        std::fs::create_dir(dump.join("real")).unwrap();
        std::fs::rename(dump.join(&nodes), dump.join("real").join(&nodes)).unwrap();
        std::os::unix::fs::symlink(dump.join("real").join(&nodes), dump.join(&nodes)).unwrap();
        let (_, rows) = rows_of(&mut ArchiveSource::new(&dump)).await;
        assert!(rows == source);
        std::fs::rename(dump.join("real").join(&nodes), dir.path().join(&nodes)).unwrap();
        std::fs::remove_file(dump.join(&nodes)).unwrap();
        std::os::unix::fs::symlink(dir.path().join(&nodes), dump.join(&nodes)).unwrap();
        let err = ArchiveSource::new(&dump).open().await.err().unwrap().to_string();
        assert!(
            err.contains(&format!("its file {nodes} is a symbolic link to")) && err.contains("outside the directory"),
            "{err}"
        );
    }
}
