//! Backups kept in Kubernetes Secrets: ours written in parts, and every scheme in the field read back
//! (operator v1, LINSTOR's entry.sh single and chunked, acknowledgements; see [`crate::archive`]).
//!
//! Ours: a marker Secret `NAME` (type `linstor-db/backup`, data `manifest.json`, annotation
//! `linstor-db/state: incomplete`) is created first, then the parts `NAME-00`, `NAME-01`, … (immutable,
//! owned by the marker so that deleting it deletes them). Every part is read back and checked; only then
//! is the marker set `complete` with the part count and SHA-256 of the whole archive, and made immutable.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::k8s::{api_error, is_status, K8sStore};
use crate::archive::{
    classify_secret, part_suffix, Manifest, SecretScheme, MANIFEST_ENTRY, PIRAEUS_V2_LABEL, PIRAEUS_V2_PART_TYPE,
    SECRET_DATA_KEY, SECRET_LABEL, SECRET_PART_BYTES, SECRET_PART_TYPE, SECRET_STATE_ANNOTATION, SECRET_TYPE,
};
use crate::error::{Error, Result};
use crate::k8s_layout::{hex, sha256_hex};

/// Annotation on our marker: number of parts.
const PARTS_ANNOTATION: &str = "linstor-db/parts";
/// Annotation on our marker: SHA-256 of the whole archive.
const SHA256_ANNOTATION: &str = "linstor-db/sha256";
/// Annotation on our marker: size of the whole archive.
const BYTES_ANNOTATION: &str = "linstor-db/bytes";

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Uploaded {
    /// Parts written.
    pub parts: usize,
    /// Archive size.
    pub bytes: u64,
    /// SHA-256 of the archive.
    pub sha256: String,
}

/// One backup Secret in a namespace, whatever its scheme.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupListing {
    /// Secret name (the marker for chunked backups).
    pub name: String,
    /// `secret://NAMESPACE/NAME`, usable as `--from`.
    pub address: String,
    /// Scheme.
    pub scheme: SecretScheme,
    /// Creation time (RFC 3339), when the API reports it.
    pub created: Option<String>,
    /// Age in seconds.
    pub age_seconds: Option<i64>,
    /// Archive size in bytes (all parts).
    pub bytes: u64,
    /// Parts (1 for a single Secret, 0 for none).
    pub parts: usize,
    /// Whether the backup is complete and readable.
    pub complete: bool,
    /// LINSTOR release of the data, when readable.
    pub linstor_version: Option<String>,
    /// Data version of the data, when readable.
    pub data_version: Option<String>,
    /// Rows, when readable.
    pub rows: Option<u64>,
    /// Why it is incomplete or unreadable, or other remarks.
    pub note: String,
}

/// The Secrets of one namespace.
pub struct SecretStore {
    api: Api<Secret>,
    store: K8sStore,
    namespace: String,
}

impl SecretStore {
    /// Secrets of `namespace` through `store`'s connection.
    pub fn new(store: K8sStore, namespace: &str) -> SecretStore {
        SecretStore { api: Api::namespaced(store.client(), namespace), store, namespace: namespace.to_owned() }
    }

    fn address(&self, name: &str) -> String {
        address(&self.namespace, name)
    }

    async fn get(&self, name: &str) -> Result<Option<Secret>> {
        let resource = format!("secret {}/{name}", self.namespace);
        match self.store.retry("get", &resource, || self.api.get_opt(name)).await {
            Ok(secret) => Ok(secret),
            Err(Error::K8s { source, .. }) if is_status(&source, 404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, secret: &Secret) -> Result<Secret> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let resource = format!("secret {}/{name}", self.namespace);
        match self.api.create(&PostParams::default(), secret).await {
            Ok(created) => Ok(created),
            Err(e) if is_status(&e, 409) => Err(self.exists(&name)),
            Err(e) => Err(api_error("create", &resource, e)),
        }
    }

    fn exists(&self, name: &str) -> Error {
        Error::BackupExists { what: self.address(name), namespace: self.namespace.clone(), name: name.to_owned() }
    }

    /// The command that deletes backup `name`: its marker and every part carry the label
    /// `linstor-db/backup=NAME`, which nothing else carries (other backups have other values, and
    /// LINSTOR's own backups use `piraeus.io/backup`).
    pub fn delete_command(&self, name: &str) -> String {
        delete_command(&self.namespace, name)
    }

    /// Deletes Secret `name`; one already gone is fine.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let resource = format!("secret {}/{name}", self.namespace);
        let params = DeleteParams::default();
        match self.store.retry("delete", &resource, || self.api.delete(name, &params)).await {
            Ok(_) => Ok(()),
            Err(Error::K8s { source, .. }) if is_status(&source, 404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every Secret of the namespace, page by page.
    pub async fn list_all(&self) -> Result<Vec<Secret>> {
        let resource = format!("secrets in {}", self.namespace);
        let mut secrets = Vec::new();
        let mut params = ListParams::default().limit(500);
        loop {
            let page = self.store.retry("list", &resource, || self.api.list(&params)).await?;
            secrets.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
        Ok(secrets)
    }

    /// Refuses a backup name that is taken, or that Secrets of an interrupted backup of that name are
    /// left of: its marker, parts by label (`linstor-db/backup=NAME`) or by name (`NAME-00`, …).
    /// Checked before the work and again before the first Secret is created, so a refused backup
    /// creates nothing.
    pub async fn ensure_absent(&self, name: &str) -> Result<()> {
        let secrets = self.list_all().await?;
        let is_part_name = |n: &str| {
            n.strip_prefix(name).and_then(|rest| rest.strip_prefix('-')).is_some_and(|suffix| {
                !suffix.is_empty() && suffix.len() % 2 == 0 && suffix.bytes().all(|b| b.is_ascii_digit())
            })
        };
        let mut found = Vec::new();
        for secret in &secrets {
            let secret_name = secret.metadata.name.as_deref().unwrap_or_default();
            let labelled = label_of(secret) == Some(name);
            if secret_name == name {
                let ours = secret.type_.as_deref() == Some(SECRET_TYPE);
                let state = secret.metadata.annotations.as_ref().and_then(|a| a.get(SECRET_STATE_ANNOTATION));
                if !ours || state.is_some_and(|s| s == "complete") {
                    return Err(self.exists(name));
                }
                if labelled {
                    found.push(format!("marker {name} (marked incomplete)"));
                } else {
                    found.push(format!(
                        "marker {name} (marked incomplete, without the label: kubectl delete secret -n {} {name})",
                        self.namespace
                    ));
                }
            } else if labelled {
                found.push(format!("part {secret_name}"));
            } else if is_part_name(secret_name) {
                return Err(Error::InvalidStore {
                    address: self.address(name),
                    reason: format!(
                        "Secret {secret_name} exists and is not part of a backup {name}, but the parts of backup {name} are named {name}-00, {name}-01, …; choose another backup name"
                    ),
                });
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        Err(Error::BackupLeftovers {
            what: self.address(name),
            found: found.join(", "),
            namespace: self.namespace.clone(),
            name: name.to_owned(),
        })
    }

    /// Stores the archive at `archive` as backup `name` with `manifest`.
    pub async fn upload(&self, name: &str, archive: &Path, manifest: &Manifest) -> Result<Uploaded> {
        self.ensure_absent(name).await?;
        let labels = BTreeMap::from([(SECRET_LABEL.to_owned(), name.to_owned())]);
        let manifest_json = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Internal(e.to_string()))?;
        let marker = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(labels.clone()),
                annotations: Some(BTreeMap::from([(SECRET_STATE_ANNOTATION.to_owned(), "incomplete".to_owned())])),
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.to_owned()),
            data: Some(BTreeMap::from([(MANIFEST_ENTRY.to_owned(), ByteString(manifest_json))])),
            ..Secret::default()
        };
        let marker = self.create(&marker).await?;
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "Secret".into(),
            name: name.to_owned(),
            uid: marker.metadata.uid.clone().unwrap_or_default(),
            ..OwnerReference::default()
        };
        let mut file =
            File::open(archive).map_err(|source| Error::File { action: "open", path: archive.to_owned(), source })?;
        let mut whole = Sha256::new();
        let mut expected = Vec::new();
        let mut bytes = 0u64;
        loop {
            let mut chunk = Vec::with_capacity(SECRET_PART_BYTES);
            (&mut file).take(SECRET_PART_BYTES as u64).read_to_end(&mut chunk).map_err(|source| Error::File {
                action: "read",
                path: archive.to_owned(),
                source,
            })?;
            if chunk.is_empty() && !expected.is_empty() {
                break;
            }
            whole.update(&chunk);
            bytes += chunk.len() as u64;
            let part_name = format!("{name}-{}", part_suffix(expected.len()));
            expected.push((part_name.clone(), sha256_hex(&chunk)));
            let last = chunk.len() < SECRET_PART_BYTES;
            let part = Secret {
                metadata: ObjectMeta {
                    name: Some(part_name),
                    labels: Some(labels.clone()),
                    owner_references: Some(vec![owner.clone()]),
                    ..ObjectMeta::default()
                },
                type_: Some(SECRET_PART_TYPE.to_owned()),
                immutable: Some(true),
                data: Some(BTreeMap::from([(SECRET_DATA_KEY.to_owned(), ByteString(chunk))])),
                ..Secret::default()
            };
            self.create(&part).await?;
            if last {
                break;
            }
        }
        // Read back every part before the backup is called complete.
        for (part_name, sha) in &expected {
            let data = self.get(part_name).await?.and_then(|s| s.data).and_then(|mut d| d.remove(SECRET_DATA_KEY));
            let found = data.map(|d| sha256_hex(&d.0));
            if found.as_deref() != Some(sha.as_str()) {
                return Err(Error::CorruptBackup {
                    what: self.address(name),
                    detail: format!("part {part_name} did not read back as written; the backup stays marked incomplete. Delete it ({}) and retry", self.delete_command(name)),
                });
            }
        }
        let sha256 = hex(&whole.finalize());
        let patch = json!({
            "metadata": {"annotations": {
                SECRET_STATE_ANNOTATION: "complete",
                PARTS_ANNOTATION: expected.len().to_string(),
                SHA256_ANNOTATION: sha256,
                BYTES_ANNOTATION: bytes.to_string(),
            }},
            "immutable": true,
        });
        let resource = format!("secret {}/{name}", self.namespace);
        let params = PatchParams::default();
        let merge = Patch::Merge(&patch);
        self.store.retry("patch", &resource, || self.api.patch(name, &params, &merge)).await?;
        Ok(Uploaded { parts: expected.len(), bytes, sha256 })
    }

    /// Reassembles backup `name` (any scheme) into `dest`, checking what can be checked.
    pub async fn download(&self, name: &str, dest: &Path) -> Result<SecretScheme> {
        let what = self.address(name);
        let corrupt = |detail: String| Error::CorruptBackup { what: what.clone(), detail };
        let Some(secret) = self.get(name).await? else {
            return Err(Error::InvalidStore {
                address: what.clone(),
                reason: format!(
                    "there is no Secret {name} in namespace {}; `linstor-db backup list {}` shows the backups there",
                    self.namespace, self.namespace
                ),
            });
        };
        let secret_type = secret.type_.clone().unwrap_or_default();
        let single = secret.data.as_ref().and_then(|d| d.get(SECRET_DATA_KEY)).filter(|d| !d.0.is_empty());
        let scheme = classify_secret(&secret_type, name, single.is_some())
            .ok_or_else(|| corrupt(format!("Secret of type '{secret_type}' is not a backup")))?;
        let mut out = super::file::create_private_file(dest).map_err(|source| Error::File {
            action: "create",
            path: dest.to_owned(),
            source,
        })?;
        let mut write = |bytes: &[u8]| {
            out.write_all(bytes).map_err(|source| Error::File { action: "write", path: dest.to_owned(), source })
        };
        match scheme {
            SecretScheme::LinstorDb => {
                let annotations = secret.metadata.annotations.clone().unwrap_or_default();
                let state = annotations.get(SECRET_STATE_ANNOTATION).map_or("", String::as_str);
                if state != "complete" {
                    return Err(corrupt(format!("it is marked '{state}': the backup that wrote it was interrupted. Delete it ({}) and take a new one", self.delete_command(name))));
                }
                let parts: usize = annotations.get(PARTS_ANNOTATION).and_then(|p| p.parse().ok()).unwrap_or(0);
                let mut whole = Sha256::new();
                for index in 0..parts {
                    let data = self
                        .part(name, index)
                        .await?
                        .ok_or_else(|| corrupt(format!("part {name}-{} is missing", part_suffix(index))))?;
                    whole.update(&data);
                    write(&data)?;
                }
                let sha = hex(&whole.finalize());
                if annotations.get(SHA256_ANNOTATION) != Some(&sha) {
                    return Err(corrupt(format!(
                        "its parts add up to SHA-256 {sha}, not the recorded one: a part was altered"
                    )));
                }
            }
            SecretScheme::OperatorV1 | SecretScheme::LinstorV2 | SecretScheme::PiraeusV2 if single.is_some() => {
                write(&single.map(|d| d.0.clone()).unwrap_or_default())?;
            }
            SecretScheme::PiraeusV2 => {
                let mut found = 0;
                while let Some(data) = self.part(name, found).await? {
                    write(&data)?;
                    found += 1;
                }
                let labelled = self.list_parts(name).await?;
                if found == 0 {
                    return Err(corrupt("the marker has no parts: that backup was downloaded by hand from the migration container (kubectl cp), not stored in Secrets".into()));
                }
                if labelled.len() > found {
                    return Err(corrupt(format!(
                        "part {name}-{} is missing but later parts exist ({} labelled parts)",
                        part_suffix(found),
                        labelled.len()
                    )));
                }
            }
            SecretScheme::OperatorV1 | SecretScheme::LinstorV2 | SecretScheme::Acknowledgement => {
                return Err(corrupt(
                    "it holds no data: it only acknowledges a backup that was downloaded by hand".into(),
                ));
            }
        }
        out.sync_all().map_err(|source| Error::File { action: "write", path: dest.to_owned(), source })?;
        Ok(scheme)
    }

    /// Data of part `index` of `name`, if that Secret exists.
    async fn part(&self, name: &str, index: usize) -> Result<Option<Vec<u8>>> {
        let part = self.get(&format!("{name}-{}", part_suffix(index))).await?;
        Ok(part.and_then(|s| s.data).and_then(|mut d| d.remove(SECRET_DATA_KEY)).map(|d| d.0))
    }

    /// Names of LINSTOR v2 parts labelled as belonging to `name`.
    async fn list_parts(&self, name: &str) -> Result<Vec<String>> {
        let params = ListParams::default().labels(&format!("{PIRAEUS_V2_LABEL}={name}"));
        let resource = format!("secrets in {}", self.namespace);
        let list = self.store.retry("list", &resource, || self.api.list(&params)).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|s| s.type_.as_deref() == Some(PIRAEUS_V2_PART_TYPE))
            .filter_map(|s| s.metadata.name)
            .collect())
    }
}

/// The backups among `secrets` (all Secrets of `namespace`), newest first, with what their parts and
/// annotations say (counts, sizes, SHA-256, gaps, orphans): `backup list` without the API call, so
/// that the fuzzers run it on Secrets as anyone allowed to create them in the namespace can shape them.
pub fn backup_listings(namespace: &str, secrets: &[Secret], now: k8s_openapi::jiff::Timestamp) -> Vec<BackupListing> {
    let size = |s: &Secret| s.data.as_ref().and_then(|d| d.get(SECRET_DATA_KEY)).map_or(0, |d| d.0.len() as u64);
    let mut listings = Vec::new();
    for secret in secrets {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let secret_type = secret.type_.clone().unwrap_or_default();
        let Some(scheme) = classify_secret(&secret_type, &name, size(secret) > 0) else { continue };
        let created = secret.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let mut listing = BackupListing {
            address: address(namespace, &name),
            name: name.clone(),
            scheme,
            created: created.map(|t| t.to_string()),
            age_seconds: created.map(|t| now.as_second() - t.as_second()),
            bytes: size(secret),
            parts: usize::from(size(secret) > 0),
            complete: size(secret) > 0,
            linstor_version: None,
            data_version: None,
            rows: None,
            note: String::new(),
        };
        match scheme {
            SecretScheme::LinstorDb => {
                let annotations = secret.metadata.annotations.clone().unwrap_or_default();
                listing.complete = annotations.get(SECRET_STATE_ANNOTATION).is_some_and(|s| s == "complete");
                listing.parts = annotations.get(PARTS_ANNOTATION).and_then(|p| p.parse().ok()).unwrap_or(0);
                listing.bytes = annotations.get(BYTES_ANNOTATION).and_then(|p| p.parse().ok()).unwrap_or(0);
                let parts: Vec<&Secret> = secrets
                    .iter()
                    .filter(|s| s.type_.as_deref() == Some(SECRET_PART_TYPE) && label_of(s) == Some(name.as_str()))
                    .collect();
                let manifest = secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(MANIFEST_ENTRY))
                    .and_then(|m| Manifest::parse(&m.0, &name).ok());
                if let Some(m) = manifest {
                    listing.linstor_version = Some(m.linstor_version);
                    listing.data_version = Some(m.data_version);
                    listing.rows = Some(m.rows);
                }
                if !listing.complete {
                    listing.parts = parts.len();
                    listing.bytes = parts.iter().map(|p| size(p)).sum();
                    listing.note = format!(
                        "incomplete: the backup that wrote it was interrupted; delete it ({})",
                        delete_command(namespace, &name)
                    );
                } else if let Some(problem) =
                    check_parts(&name, &parts, listing.parts, listing.bytes, annotations.get(SHA256_ANNOTATION))
                {
                    listing.complete = false;
                    listing.note = format!(
                        "{problem}: restore from another backup, and delete this one ({})",
                        delete_command(namespace, &name)
                    );
                }
            }
            SecretScheme::PiraeusV2 if listing.parts == 0 => {
                let parts: Vec<&Secret> = secrets
                    .iter()
                    .filter(|s| s.type_.as_deref() == Some(PIRAEUS_V2_PART_TYPE))
                    .filter(|s| s.metadata.labels.as_ref().and_then(|l| l.get(PIRAEUS_V2_LABEL)) == Some(&name))
                    .collect();
                let contiguous = (0..parts.len()).all(|i| {
                    let part_name = format!("{name}-{}", part_suffix(i));
                    parts.iter().any(|p| p.metadata.name.as_deref() == Some(part_name.as_str()))
                });
                listing.parts = parts.len();
                listing.bytes = parts.iter().map(|p| size(p)).sum();
                listing.complete = !parts.is_empty() && contiguous;
                listing.note = match (parts.is_empty(), contiguous) {
                    (true, _) => "marker only: the archive was downloaded by hand, not stored".into(),
                    (false, false) => "parts are missing".into(),
                    (false, true) => String::new(),
                };
            }
            SecretScheme::Acknowledgement => listing.note = "acknowledgement only, no data".into(),
            _ => {}
        }
        listings.push(listing);
    }
    // Parts whose marker is gone (deleted by name while the parts stayed).
    let mut orphans: BTreeMap<&str, Vec<&Secret>> = BTreeMap::new();
    for part in secrets.iter().filter(|s| s.type_.as_deref() == Some(SECRET_PART_TYPE)) {
        if let Some(owner) = label_of(part).filter(|o| !listings.iter().any(|l| l.name == *o)) {
            orphans.entry(owner).or_default().push(part);
        }
    }
    for (owner, parts) in orphans {
        let created = parts.iter().filter_map(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0)).min();
        listings.push(BackupListing {
            name: owner.to_owned(),
            address: address(namespace, owner),
            scheme: SecretScheme::LinstorDb,
            created: created.map(|t| t.to_string()),
            age_seconds: created.map(|t| now.as_second() - t.as_second()),
            bytes: parts.iter().map(|p| size(p)).sum(),
            parts: parts.len(),
            complete: false,
            linstor_version: None,
            data_version: None,
            rows: None,
            note: format!(
                "parts without their marker, left by a backup that did not finish; delete them ({})",
                delete_command(namespace, owner)
            ),
        });
    }
    listings.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
    listings
}

/// What `backup prune` does with one backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PruneChoice {
    /// The backup's name (its marker, or its one Secret).
    pub name: String,
    /// `secret://NAMESPACE/NAME`.
    pub address: String,
    /// Scheme.
    pub scheme: SecretScheme,
    /// Age in seconds, when the API reports the creation time.
    pub age_seconds: Option<i64>,
    /// Deleted (in a dry run: would be).
    pub delete: bool,
    /// Why it is kept or deleted.
    pub reason: String,
    /// The Secrets that make up the backup, the marker first: what a deletion removes, in order.
    pub secrets: Vec<String>,
}

/// Which backups of `listings` (newest first, as [`backup_listings`] orders them, each checked
/// readable) `backup prune` deletes: complete ones beyond the `keep` newest complete ones and, with
/// `older_than_s`, only those at least that old. It never deletes the newest complete backup (`keep`
/// is at least 1), an incomplete one (it may still be written; `backup list` names the command that
/// deletes it) or one whose age is unknown. `secrets` are the namespace's Secrets, for the parts.
pub fn prune_plan(
    listings: &[BackupListing],
    secrets: &[Secret],
    keep: usize,
    older_than_s: Option<i64>,
) -> Vec<PruneChoice> {
    let keep = keep.max(1);
    let mut complete_seen = 0;
    let mut choices = Vec::new();
    for listing in listings {
        let (delete, reason) = match listing.scheme {
            SecretScheme::Acknowledgement => (false, "not a backup: it acknowledges one downloaded by hand".to_owned()),
            _ if !listing.complete => (false, format!("incomplete or unreadable, so not counted: {}", listing.note)),
            _ => {
                complete_seen += 1;
                match (listing.age_seconds, older_than_s) {
                    _ if complete_seen <= keep => (false, format!("one of the {keep} newest complete backups")),
                    (None, _) => (false, "its creation time is unknown".to_owned()),
                    (Some(age), Some(limit)) if age < limit => (false, format!("younger than {limit} s")),
                    _ => (true, format!("older than the {keep} newest complete backups")),
                }
            }
        };
        choices.push(PruneChoice {
            name: listing.name.clone(),
            address: listing.address.clone(),
            scheme: listing.scheme,
            age_seconds: listing.age_seconds,
            delete,
            reason,
            secrets: backup_secrets(listing, secrets),
        });
    }
    choices
}

/// The Secrets backup `listing` consists of, the marker first: ours carry its label, Piraeus v2
/// parts theirs; the other schemes are one Secret.
fn backup_secrets(listing: &BackupListing, secrets: &[Secret]) -> Vec<String> {
    let part_of = |secret: &Secret| match listing.scheme {
        SecretScheme::LinstorDb => label_of(secret) == Some(listing.name.as_str()),
        SecretScheme::PiraeusV2 => {
            secret.type_.as_deref() == Some(PIRAEUS_V2_PART_TYPE)
                && secret.metadata.labels.as_ref().and_then(|l| l.get(PIRAEUS_V2_LABEL)) == Some(&listing.name)
        }
        _ => false,
    };
    let mut names = vec![listing.name.clone()];
    let mut parts: Vec<String> = secrets
        .iter()
        .filter(|s| part_of(s))
        .filter_map(|s| s.metadata.name.clone())
        .filter(|n| *n != listing.name)
        .collect();
    parts.sort();
    names.extend(parts);
    names
}

fn address(namespace: &str, name: &str) -> String {
    format!("secret://{namespace}/{name}")
}

fn delete_command(namespace: &str, name: &str) -> String {
    format!("kubectl delete secret -n {namespace} -l {SECRET_LABEL}={name}")
}

/// The backup a Secret of ours belongs to: its `linstor-db/backup` label.
fn label_of(secret: &Secret) -> Option<&str> {
    secret.metadata.labels.as_ref().and_then(|l| l.get(SECRET_LABEL)).map(String::as_str)
}

/// What is wrong with the `parts` of complete backup `name` against what its marker records (part
/// count, bytes, SHA-256 of the whole), or `None` when they add up.
fn check_parts(name: &str, parts: &[&Secret], recorded: usize, bytes: u64, sha256: Option<&String>) -> Option<String> {
    let mut whole = Sha256::new();
    let mut found = 0u64;
    for index in 0..recorded {
        let part_name = format!("{name}-{}", part_suffix(index));
        let data = parts
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(part_name.as_str()))
            .and_then(|p| p.data.as_ref())
            .and_then(|d| d.get(SECRET_DATA_KEY));
        let Some(data) = data else {
            return Some(format!("part {part_name} of {recorded} is missing"));
        };
        whole.update(&data.0);
        found += data.0.len() as u64;
    }
    if parts.len() != recorded {
        return Some(format!("{} parts are labelled as its own but the marker records {recorded}", parts.len()));
    }
    let sha = hex(&whole.finalize());
    if found != bytes || sha256 != Some(&sha) {
        return Some(format!(
            "its parts add up to {found} bytes with SHA-256 {sha}, not the recorded {bytes} bytes: a part was altered"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(name: &str, scheme: SecretScheme, age: Option<i64>, complete: bool) -> BackupListing {
        BackupListing {
            name: name.into(),
            address: address("ns", name),
            scheme,
            created: None,
            age_seconds: age,
            bytes: 1,
            parts: 1,
            complete,
            linstor_version: None,
            data_version: None,
            rows: None,
            note: String::new(),
        }
    }

    fn secret(name: &str, type_: &str, labels: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
                ..ObjectMeta::default()
            },
            type_: Some(type_.into()),
            ..Secret::default()
        }
    }

    /// The newest complete backups are kept; incomplete, unreadable, acknowledgement and undated ones
    /// are neither counted nor deleted; `older_than` spares young ones; a deletion names every Secret
    /// of the backup, the marker first.
    #[test]
    fn prune_keeps_the_newest_complete_backups_and_deletes_whole_backups() {
        let hour = 3600;
        let listings = [
            listing("writing", SecretScheme::LinstorDb, Some(10), false),
            listing("newest", SecretScheme::LinstorDb, Some(hour), true),
            listing("ack", SecretScheme::Acknowledgement, Some(2 * hour), true),
            listing("v2", SecretScheme::PiraeusV2, Some(3 * hour), true),
            listing("undated", SecretScheme::OperatorV1, None, true),
            listing("old", SecretScheme::LinstorDb, Some(30 * hour), true),
        ];
        let secrets = [
            secret("old", SECRET_TYPE, &[(SECRET_LABEL, "old")]),
            secret("old-01", SECRET_PART_TYPE, &[(SECRET_LABEL, "old")]),
            secret("old-00", SECRET_PART_TYPE, &[(SECRET_LABEL, "old")]),
            secret("older", SECRET_TYPE, &[(SECRET_LABEL, "older")]),
            secret("v2", "piraeus.io/linstor-backup", &[]),
            secret("v2-00", PIRAEUS_V2_PART_TYPE, &[(PIRAEUS_V2_LABEL, "v2")]),
            secret("other-00", PIRAEUS_V2_PART_TYPE, &[(PIRAEUS_V2_LABEL, "other")]),
        ];
        let deleted = |keep, older_than| -> Vec<(String, Vec<String>)> {
            prune_plan(&listings, &secrets, keep, older_than)
                .into_iter()
                .filter(|c| c.delete)
                .map(|c| (c.name, c.secrets))
                .collect()
        };
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            deleted(1, None),
            vec![("v2".to_owned(), names(&["v2", "v2-00"])), ("old".to_owned(), names(&["old", "old-00", "old-01"]))]
        );
        assert_eq!(deleted(2, None), vec![("old".to_owned(), names(&["old", "old-00", "old-01"]))]);
        assert_eq!(deleted(1, Some(24 * hour)), vec![("old".to_owned(), names(&["old", "old-00", "old-01"]))]);
        assert!(deleted(4, None).is_empty());
        // keep 0 is treated as 1: the newest complete backup stays.
        assert_eq!(deleted(0, None).len(), 2);
        let plan = prune_plan(&listings, &secrets, 1, None);
        let reason = |name: &str| plan.iter().find(|c| c.name == name).map(|c| c.reason.clone()).unwrap_or_default();
        assert!(reason("writing").starts_with("incomplete"), "{}", reason("writing"));
        assert!(reason("undated").contains("unknown"), "{}", reason("undated"));
        assert!(reason("ack").starts_with("not a backup"), "{}", reason("ack"));
    }
}
