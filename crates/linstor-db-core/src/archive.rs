//! The backup formats, as data: no I/O here.
//!
//! Our archive is the operator v1 layout (`backup-formats-and-user-needs.md` §1.5), so existing
//! restore procedures keep working: a tar.gz with one `<plural>.internal.linstor.linbit.com.yaml` per
//! CRD (a `---` stream of custom resources with cleaned metadata) and `crds.yaml`, plus our
//! `manifest.json` (versions, rows and SHA-256 of every entry) as the last entry.
//!
//! Readers accept every layout in the field: v1 cleaned streams, v2 and `kubectl get -oyaml` dumps
//! (`kind: List` with full metadata), in a tar.gz, a directory or a single YAML file; and every Secret
//! scheme (§1.7, §2.3, ours).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};
use crate::export::ExportMeta;
use crate::schema::{DataVersion, Release};
use crate::K8S_GROUP;

/// Our manifest entry, written last.
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// The CRD definitions entry (v1 and v2 layouts).
pub const CRDS_ENTRY: &str = "crds.yaml";
/// `format` of our manifest.
pub const FORMAT: &str = "linstor-db-backup";
/// The newest `format_version` of our manifest, which this reader reads; readers refuse newer ones.
/// Backups are written at 1, except those of an interrupted write ([`Manifest::interrupted`]), which
/// are written at 2: a reader of format 1 ignores fields it does not know, and would restore one as
/// a complete database.
pub const FORMAT_VERSION: u32 = 2;
/// `format_version` of a backup of complete data.
const FORMAT_VERSION_COMPLETE: u32 = 1;
/// Plural of LINSTOR's `LinstorVersion` CRD.
pub const LINSTOR_VERSION_PLURAL: &str = "linstorversion";
/// Plural of LINSTOR's `Rollback` CRD.
pub const ROLLBACK_PLURAL: &str = "rollback";

/// The archive entry of the CRD with `plural`: `nodes.internal.linstor.linbit.com.yaml`.
pub fn entry_name(plural: &str) -> String {
    format!("{plural}.{K8S_GROUP}.yaml")
}

/// What our manifest records about the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// linstor-db version that wrote it.
    pub tool_version: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: i64,
    /// Backend the data was read from (`etcd`, `k8s`, `file`).
    pub source: String,
    /// LINSTOR release whose data this is.
    pub linstor_version: String,
    /// Data (CRD) version of the rows.
    pub data_version: String,
    /// Last SQL migration of that release.
    pub sql_version: String,
    /// Last etcd migration of that release (releases up to 1.33.x).
    pub etcd_version: Option<u32>,
    /// Last k8s migration of that release.
    pub k8s_version: u32,
    /// Rows in all tables.
    pub rows: u64,
    /// Every other entry of the archive, in archive order.
    pub entries: Vec<ManifestEntry>,
    /// A backup of an interrupted write (the safety backup a replacing job takes of it): the job whose
    /// write was interrupted. Restoring it leaves the target marked incomplete, as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// The revision of the store every table was read at (etcd's revision, the Kubernetes API's
    /// `resourceVersion`): the backup is the database exactly as it was then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// One archive entry as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Entry name.
    pub name: String,
    /// Custom resources in it.
    pub objects: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

impl Manifest {
    /// A manifest for data described by `meta`; entries are added as they are written.
    pub fn new(meta: &ExportMeta, created_ms: i64) -> Manifest {
        Manifest {
            format: FORMAT.to_owned(),
            format_version: if meta.interrupted.is_some() { FORMAT_VERSION } else { FORMAT_VERSION_COMPLETE },
            tool_version: crate::TOOL_VERSION.to_owned(),
            created_ms,
            source: meta.exported_from.clone(),
            linstor_version: meta.linstor_version.clone(),
            data_version: meta.data_version.to_string(),
            sql_version: meta.sql_version.clone(),
            etcd_version: meta.etcd_version,
            k8s_version: meta.k8s_version,
            rows: 0,
            entries: Vec::new(),
            interrupted: meta.interrupted.clone(),
            revision: meta.revision.clone(),
        }
    }

    /// Parses and checks a manifest read from `what`.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Manifest> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| corrupt(what, format!("{MANIFEST_ENTRY} is not valid: {e}")))?;
        if manifest.format != FORMAT {
            return Err(corrupt(what, format!("{MANIFEST_ENTRY} has format '{}', not '{FORMAT}'", manifest.format)));
        }
        if manifest.format_version > FORMAT_VERSION {
            return Err(Error::TooNew {
                what: what.to_owned(),
                found: format!("backup format {}", manifest.format_version),
                newest: format!("backup format {FORMAT_VERSION}"),
            });
        }
        Ok(manifest)
    }

    /// The export metadata of the backed-up data.
    pub fn meta(&self, what: &str) -> Result<ExportMeta> {
        let data_version: DataVersion = self.data_version.parse()?;
        Ok(ExportMeta {
            linstor_version: self.linstor_version.clone(),
            export_timestamp_ms: self.created_ms,
            exported_from: self.source.clone(),
            data_version,
            sql_version: self.sql_version.clone(),
            etcd_version: self.etcd_version,
            k8s_version: self.k8s_version,
            objects_at: Vec::new(),
            lost_columns: Vec::new(),
            job: None,
            interrupted: self.interrupted.clone(),
            revision: self.revision.clone(),
        })
        .and_then(|meta| meta.check_supported(what).map(|()| meta))
    }
}

/// The release of data whose `LinstorVersion.spec.version` is `stored` (a backup without a manifest).
pub fn release_for_linstor_version(stored: i64, what: &str) -> Result<&'static Release> {
    if stored < 0 {
        return Err(corrupt(
            what,
            format!("LinstorVersion is {stored}: it was taken while an import was running and is incomplete"),
        ));
    }
    u32::try_from(stored).ok().and_then(Release::for_k8s_version).ok_or_else(|| {
        corrupt(
            what,
            format!("LinstorVersion {stored} is not a k8s DB version of LINSTOR 1.24 to 1.34 that this tool knows"),
        )
    })
}

/// Cleans an object for re-creation, the one rule every restore path uses (operator v1's
/// `ToCleanedK8sResourceYAML`): `status` goes; `metadata` keeps only name, namespace, labels and
/// annotations, so uid, resourceVersion, creationTimestamp, managedFields and ownerReferences go.
pub fn clean_object(object: &mut Json) {
    let Some(map) = object.as_object_mut() else { return };
    map.remove("status");
    if let Some(Json::Object(metadata)) = map.get_mut("metadata") {
        let kept: Map<String, Json> = ["name", "namespace", "labels", "annotations"]
            .into_iter()
            .filter_map(|key| metadata.remove(key).map(|value| (key.to_owned(), value)))
            .collect();
        *metadata = kept;
    }
}

/// A custom resource as one YAML document (without its `---` line) that reads the same in YAML 1.1 and
/// 1.2: every string is double-quoted. serde_yaml writes by YAML 1.2, where `no`, `on`, `y` or `1:20`
/// are plain strings, but kubectl reads YAML 1.1 (`sigs.k8s.io/yaml`), where they are booleans and
/// numbers: `kubectl apply -f` of a LINSTOR property `no` would send `false` and be refused.
pub fn custom_resource_yaml(object: &Json) -> String {
    let mut out = String::new();
    match object {
        Json::Object(map) => write_block(&mut out, map, 0),
        other => {
            write_flow(&mut out, other);
            out.push('\n');
        }
    }
    out
}

fn write_block(out: &mut String, map: &Map<String, Json>, indent: usize) {
    for (key, value) in map {
        out.extend(std::iter::repeat_n(' ', indent));
        if plain_key(key) {
            out.push_str(key);
        } else {
            write_flow(out, &Json::String(key.clone()));
        }
        out.push(':');
        match value {
            Json::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_block(out, inner, indent + 2);
            }
            other => {
                out.push(' ');
                write_flow(out, other);
                out.push('\n');
            }
        }
    }
}

/// A key that reads as the same string unquoted in YAML 1.1 and 1.2 (LINSTOR's field names).
fn plain_key(key: &str) -> bool {
    const YAML11_WORDS: [&str; 11] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"];
    key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !YAML11_WORDS.contains(&key.to_ascii_lowercase().as_str())
}

/// A value in flow style: JSON's syntax, with YAML's double-quoted escapes (YAML allows fewer raw
/// characters than JSON: not DEL, the C1 controls or a BOM).
fn write_flow(out: &mut String, value: &Json) {
    match value {
        Json::String(text) => {
            out.push('"');
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    // Not NEL, LS or PS either: YAML 1.1 reads them as line breaks, folded in quotes.
                    ' '..='~'
                    | '\u{a0}'..='\u{2027}'
                    | '\u{202a}'..='\u{d7ff}'
                    | '\u{e000}'..='\u{fefe}'
                    | '\u{ff00}'..='\u{fffd}' => out.push(c),
                    '\u{10000}'.. => out.push(c),
                    c if u32::from(c) <= 0xff => out.push_str(&format!("\\x{:02X}", u32::from(c))),
                    c => out.push_str(&format!("\\u{:04X}", u32::from(c))),
                }
            }
            out.push('"');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(out, item);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(out, &Json::String(key.clone()));
                out.push_str(": ");
                write_flow(out, item);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// How far a backup may expand while it is read: every reader stops at the first cap it reaches, so
/// that a damaged or hostile file (a small gzip of gigabytes of newlines, one huge YAML document) is
/// refused in seconds with bounded memory instead of being unpacked. The caps follow from what LINSTOR
/// can store, with wide margins:
///
/// - the whole database lives in one etcd (LINSTOR's own, or the API server's), whose quota is 2 GiB
///   by default and at most 8 GiB as etcd recommends: [`Limits::DEFAULT`] allows 8 GiB for all
///   entries of a backup and 1 GiB for one entry (one table; LINSTOR's largest table at a million rows
///   is about 250 MB of YAML with kubectl's full metadata);
/// - YAML of LINSTOR data compresses about 5–10:1 (our backups 5:1, LINSTOR's entrypoint backup 7:1);
///   gzip reaches 1000:1 only on runs of one byte, so past the first 16 MiB an archive may expand at
///   most 100:1 over the compressed bytes read so far;
/// - one custom resource is at most 1.5 MiB (the API server's request limit), but `kubectl get -oyaml`
///   writes a whole table as one `kind: List` document: a document may have 256 MiB, a line 8 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed bytes of one entry (or one file of a directory dump).
    pub entry_bytes: u64,
    /// Uncompressed bytes of all entries.
    pub archive_bytes: u64,
    /// Most uncompressed bytes per compressed byte, checked past [`Limits::expansion_after`].
    pub expansion: u64,
    /// Uncompressed bytes read before the expansion is checked.
    pub expansion_after: u64,
    /// Bytes of one YAML document of a `---` stream.
    pub document_bytes: usize,
    /// Bytes of one line of YAML.
    pub line_bytes: usize,
    /// Bytes of `manifest.json`.
    pub manifest_bytes: u64,
}

impl Limits {
    /// The caps every reader uses (see [`Limits`] for why).
    pub const DEFAULT: Limits = Limits {
        entry_bytes: 1 << 30,
        archive_bytes: 8 << 30,
        expansion: 100,
        expansion_after: 16 << 20,
        document_bytes: 256 << 20,
        line_bytes: 8 << 20,
        manifest_bytes: 16 << 20,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// Splits a YAML stream into its documents at `---` lines. Multi-document streams of our own and of
/// operator v1 are read one document at a time this way, so memory stays at one object (at most
/// [`Limits::document_bytes`]).
#[derive(Debug)]
pub struct DocumentSplitter {
    current: String,
    /// Bytes of the current document, blank lines included.
    bytes: usize,
    cap: usize,
}

/// A document of a YAML stream is larger than [`Limits::document_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentTooLarge {
    /// The cap that was reached.
    pub cap: usize,
}

impl Default for DocumentSplitter {
    fn default() -> DocumentSplitter {
        DocumentSplitter::new(Limits::DEFAULT.document_bytes)
    }
}

impl DocumentSplitter {
    /// A splitter refusing documents over `cap` bytes.
    pub fn new(cap: usize) -> DocumentSplitter {
        DocumentSplitter { current: String::new(), bytes: 0, cap }
    }

    /// Feeds one line (with or without its newline); returns a finished document when `line` starts
    /// the next one, and an error as soon as the current document passes the cap.
    pub fn push_line(&mut self, line: &str) -> std::result::Result<Option<String>, DocumentTooLarge> {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") {
            let done = self.take();
            if let Some(rest) = bare.strip_prefix("--- ") {
                self.current.push_str(rest);
                self.current.push('\n');
                self.bytes = self.current.len();
            }
            return Ok(done);
        }
        if bare == "..." {
            return Ok(self.take());
        }
        self.bytes = self.bytes.saturating_add(bare.len() + 1);
        if self.bytes > self.cap {
            return Err(DocumentTooLarge { cap: self.cap });
        }
        // Blank lines before a document's first content are counted but not kept.
        if !(self.current.is_empty() && bare.trim().is_empty()) {
            self.current.push_str(bare);
            self.current.push('\n');
        }
        Ok(None)
    }

    fn take(&mut self) -> Option<String> {
        self.bytes = 0;
        Some(std::mem::take(&mut self.current)).filter(|d| !d.trim().is_empty())
    }

    /// The last document, if any.
    pub fn finish(&mut self) -> Option<String> {
        self.take()
    }
}

/// The objects of a parsed YAML document: its `items` for a `List`, else the document itself.
pub fn objects_of(document: Json) -> Vec<Json> {
    match document {
        Json::Object(mut map) if map.get("kind").and_then(Json::as_str).is_some_and(|k| k.ends_with("List")) => {
            match map.remove("items") {
                Some(Json::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        Json::Null => Vec::new(),
        other => vec![other],
    }
}

/// Suffix of part `index` as GNU `split -d` names them (`00` … `89`, then `9000` … `9899`, then
/// `990000` …), which LINSTOR's chunked v2 backups use and so do ours.
pub fn part_suffix(index: usize) -> String {
    // Each width w (2, 4, 6, …) holds the numbers whose leading (w-2)/2 pairs are "99"… minus the
    // last tenth, which is kept for the next width: 90 of width 2, 900 of width 4, 9000 of width 6.
    let (mut width, mut first, mut count, mut rest) = (2usize, 0usize, 90usize, index);
    while rest >= count {
        rest -= count;
        first = (first + count) * 100;
        width += 2;
        count *= 10;
    }
    format!("{:0width$}", first + rest)
}

/// The Secret schemes backups are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretScheme {
    /// Ours: a marker Secret with the manifest, parts `NAME-00`, … holding the tar.gz.
    LinstorDb,
    /// Piraeus operator v1: `piraeus.linbit.com/linstor-backup`, data `backup.tar.gz`.
    OperatorV1,
    /// LINSTOR 1.22.1 – 1.29.1 entry.sh: `linstor.io/linstor-backup`, data `backup.tar.gz`.
    LinstorV2,
    /// LINSTOR ≥ 1.29.2 entry.sh: `piraeus.io/linstor-backup`, data `backup.tar.gz` or empty with
    /// `piraeus.io/linstor-backup-part` parts.
    PiraeusV2,
    /// An empty Secret that only acknowledges a backup downloaded by hand (§1.10); no data.
    Acknowledgement,
}

/// Secret type of our marker.
pub const SECRET_TYPE: &str = "linstor-db/backup";
/// Secret type of our parts.
pub const SECRET_PART_TYPE: &str = "linstor-db/backup-part";
/// Label on our marker and parts: the backup name.
pub const SECRET_LABEL: &str = "linstor-db/backup";
/// Annotation on our marker: `incomplete` while parts are written, `complete` once read back.
pub const SECRET_STATE_ANNOTATION: &str = "linstor-db/state";
/// Data key of the archive (or a part of it) in every scheme.
pub const SECRET_DATA_KEY: &str = "backup.tar.gz";
/// Part size of our Secrets: well under the 1 MiB limit of a Secret's data.
pub const SECRET_PART_BYTES: usize = 768 * 1024;
/// v1 type.
pub const V1_TYPE: &str = "piraeus.linbit.com/linstor-backup";
/// LINSTOR ≤ 1.29.1 type.
pub const LINSTOR_V2_TYPE: &str = "linstor.io/linstor-backup";
/// LINSTOR ≥ 1.29.2 marker / single type.
pub const PIRAEUS_V2_TYPE: &str = "piraeus.io/linstor-backup";
/// LINSTOR ≥ 1.29.2 part type.
pub const PIRAEUS_V2_PART_TYPE: &str = "piraeus.io/linstor-backup-part";
/// LINSTOR ≥ 1.29.2 label naming the backup a part belongs to.
pub const PIRAEUS_V2_LABEL: &str = "piraeus.io/backup";

/// The scheme of a Secret from its type, name and whether it holds data; `None` for Secrets that are
/// not backups (and for parts, which belong to their marker).
pub fn classify_secret(secret_type: &str, name: &str, has_data: bool) -> Option<SecretScheme> {
    match secret_type {
        SECRET_TYPE => Some(SecretScheme::LinstorDb),
        V1_TYPE if has_data => Some(SecretScheme::OperatorV1),
        LINSTOR_V2_TYPE if has_data => Some(SecretScheme::LinstorV2),
        PIRAEUS_V2_TYPE => Some(SecretScheme::PiraeusV2),
        V1_TYPE | LINSTOR_V2_TYPE => Some(SecretScheme::Acknowledgement),
        _ if !has_data && name.starts_with("linstor-backup-") => Some(SecretScheme::Acknowledgement),
        _ => None,
    }
}

fn corrupt(what: &str, detail: String) -> Error {
    Error::CorruptBackup { what: what.to_owned(), detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn part_suffixes_follow_split_d() {
        assert_eq!(part_suffix(0), "00");
        assert_eq!(part_suffix(89), "89");
        assert_eq!(part_suffix(90), "9000");
        assert_eq!(part_suffix(989), "9899");
        assert_eq!(part_suffix(990), "990000");
    }

    #[test]
    fn cleaning_keeps_what_kubectl_create_accepts() {
        let mut object = json!({
            "apiVersion": "internal.linstor.linbit.com/v1-27-1", "kind": "Nodes",
            "metadata": {"name": "abc", "uid": "u", "resourceVersion": "7", "creationTimestamp": "t",
                         "managedFields": [], "labels": {"a": "b"}, "ownerReferences": []},
            "spec": {"node_name": "A"}, "status": {"x": 1}
        });
        clean_object(&mut object);
        assert_eq!(
            object,
            json!({"apiVersion": "internal.linstor.linbit.com/v1-27-1", "kind": "Nodes",
                   "metadata": {"name": "abc", "labels": {"a": "b"}}, "spec": {"node_name": "A"}})
        );
    }

    #[test]
    fn documents_split_at_markers_only() {
        let mut splitter = DocumentSplitter::default();
        let text = "---\na: 1\nb: |\n  ---\n  x\n---\nc: 2\n";
        let mut docs: Vec<String> = text.lines().filter_map(|l| splitter.push_line(l).unwrap()).collect();
        docs.extend(splitter.finish());
        assert_eq!(docs, vec!["a: 1\nb: |\n  ---\n  x\n".to_owned(), "c: 2\n".to_owned()]);
    }

    /// A document over the cap is refused while it is read, blank lines counted, and the cap starts
    /// again at the next document.
    #[test]
    fn documents_over_the_cap_are_refused_as_they_grow() {
        let mut splitter = DocumentSplitter::new(64);
        for _ in 0..64 {
            assert_eq!(splitter.push_line(""), Ok(None));
        }
        assert_eq!(splitter.push_line(""), Err(DocumentTooLarge { cap: 64 }));
        let mut splitter = DocumentSplitter::new(64);
        assert_eq!(splitter.push_line(&"a".repeat(40)), Ok(None));
        assert_eq!(splitter.push_line("---").unwrap().map(|d| d.len()), Some(41));
        assert_eq!(splitter.push_line(&"b".repeat(40)), Ok(None));
        assert_eq!(splitter.push_line(&"c".repeat(40)), Err(DocumentTooLarge { cap: 64 }));
    }

    /// Strings YAML 1.1 (kubectl) would read as booleans, numbers or null, and characters YAML does not
    /// allow raw, are written double-quoted and escaped, and read back as they were.
    #[test]
    fn custom_resources_read_the_same_in_yaml_1_1_and_1_2() {
        let tricky = [
            "no",
            "yes",
            "on",
            "Off",
            "y",
            "N",
            "~",
            "null",
            "",
            "1:20",
            "0x1F",
            "1_000",
            "2026-12-01",
            "---",
            "a: b",
            "#x",
            "multi\nline",
            "tab\there",
            "q\"uote",
            "back\\slash",
            "del\u{7f}",
            "nel\u{85}",
            "ls\u{2028}",
            "bom\u{feff}",
            "c1\u{9f}",
            "bell\u{7}",
            "emoji \u{1f600}",
            "ümlaut",
        ];
        for value in tricky {
            let object = json!({"apiVersion": "internal.linstor.linbit.com/v1-31-1", "kind": "PropsContainers",
                "metadata": {"name": "abc"}, "spec": {"prop_key": "k", "prop_value": value, "count": 7, "b": false, "y": 1}});
            let yaml = custom_resource_yaml(&object);
            let quoted = serde_json::to_string(value).unwrap();
            assert!(yaml.lines().all(|l| !l.contains("prop_value") || l.starts_with("  prop_value: \"")), "{yaml}");
            // Plain keys and scalars stay plain; a key YAML 1.1 reads as a boolean is quoted.
            assert!(yaml.contains("  count: 7\n  b: false\n  \"y\": 1\n"), "{yaml}");
            let back: Json = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{quoted}: {e}\n{yaml}"));
            assert_eq!(back, object, "{quoted}");
            let mut splitter = DocumentSplitter::default();
            let docs: Vec<String> =
                format!("---\n{yaml}").lines().filter_map(|l| splitter.push_line(l).unwrap()).collect();
            assert!(docs.is_empty() && splitter.finish().is_some(), "{quoted}: one document");
        }
    }

    #[test]
    fn lists_yield_their_items() {
        assert_eq!(objects_of(json!({"kind": "List", "items": [{"a": 1}, {"b": 2}]})).len(), 2);
        assert_eq!(objects_of(json!({"kind": "NodesList", "items": []})).len(), 0);
        assert_eq!(objects_of(json!({"kind": "Nodes"})).len(), 1);
    }

    #[test]
    fn secrets_are_classified_by_scheme() {
        assert_eq!(classify_secret(V1_TYPE, "linstor-backup-9a1a", true), Some(SecretScheme::OperatorV1));
        assert_eq!(classify_secret("Opaque", "linstor-backup-9a1a", false), Some(SecretScheme::Acknowledgement));
        assert_eq!(classify_secret(LINSTOR_V2_TYPE, "linstor-backup-for-x", true), Some(SecretScheme::LinstorV2));
        assert_eq!(classify_secret(PIRAEUS_V2_TYPE, "linstor-backup-for-x", false), Some(SecretScheme::PiraeusV2));
        assert_eq!(classify_secret(PIRAEUS_V2_PART_TYPE, "linstor-backup-for-x-00", true), None);
        assert_eq!(classify_secret("Opaque", "db-password", true), None);
    }
}
