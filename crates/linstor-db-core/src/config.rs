//! `linstor.toml`, read the way the LINSTOR controller reads it (`linstor-db-format.md` §1).
//! Only the `[db]` tables matter here; every other table is ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::etcd_layout::{DEFAULT_OPS_PER_TRANSACTION, DEFAULT_PREFIX};

/// LINSTOR's default configuration directory.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/linstor";
/// The configuration file name inside the directory.
pub const CONFIG_FILE: &str = "linstor.toml";
/// LINSTOR's default `connection_url` (an H2 file: SQL, which this tool does not handle).
pub const DEFAULT_CONNECTION_URL: &str = "jdbc:h2:/var/lib/linstor/linstordb";

/// The `[db]` settings of `linstor.toml`, with LINSTOR's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// `connection_url`: `etcd://…`, `k8s` or `jdbc:…`.
    pub connection_url: String,
    /// etcd user (`user`).
    pub user: Option<String>,
    /// etcd password (`password`). Never printed.
    pub password: Option<String>,
    /// CA certificate PEM file; setting it switches etcd to TLS.
    pub ca_certificate: Option<PathBuf>,
    /// Client certificate PEM file (mutual TLS, with the key).
    pub client_certificate: Option<PathBuf>,
    /// Client key, PKCS#8 PEM (`client_key_pkcs8_pem`, or the legacy `client_key_pcks8_pem`).
    pub client_key_pkcs8_pem: Option<PathBuf>,
    /// Password of an encrypted client key.
    pub client_key_password: Option<String>,
    /// `[db.etcd] prefix` exactly as configured (LINSTOR uses the raw value for its rollback keys).
    pub etcd_prefix_raw: String,
    /// `[db.etcd] ops_per_transaction`.
    pub etcd_ops_per_transaction: usize,
    /// `[db.k8s] request_retries`: LINSTOR's; linstor-db retries until its retry timeout instead.
    pub k8s_request_retries: u32,
    /// `[db.k8s] max_rollback_entries`.
    pub k8s_max_rollback_entries: u32,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            connection_url: DEFAULT_CONNECTION_URL.to_owned(),
            user: None,
            password: None,
            ca_certificate: None,
            client_certificate: None,
            client_key_pkcs8_pem: None,
            client_key_password: None,
            etcd_prefix_raw: DEFAULT_PREFIX.to_owned(),
            etcd_ops_per_transaction: DEFAULT_OPS_PER_TRANSACTION,
            k8s_request_retries: 3,
            k8s_max_rollback_entries: 100,
        }
    }
}

#[derive(Deserialize, Default)]
struct TomlFile {
    #[serde(default)]
    db: TomlDb,
}

#[derive(Deserialize, Default)]
struct TomlDb {
    connection_url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    ca_certificate: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_key_pkcs8_pem: Option<PathBuf>,
    /// The misspelled key of LINSTOR 1.2.1, still accepted as a fallback.
    client_key_pcks8_pem: Option<PathBuf>,
    client_key_password: Option<String>,
    #[serde(default)]
    etcd: TomlEtcd,
    #[serde(default)]
    k8s: TomlK8s,
}

#[derive(Deserialize, Default)]
struct TomlEtcd {
    prefix: Option<String>,
    ops_per_transaction: Option<i64>,
}

#[derive(Deserialize, Default)]
struct TomlK8s {
    request_retries: Option<i64>,
    max_rollback_entries: Option<i64>,
}

impl DbConfig {
    /// Reads `<dir>/linstor.toml`.
    pub fn load(dir: &Path) -> Result<DbConfig> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::ConfigMissing { path: path.clone() }
            } else {
                Error::ConfigUnreadable { path: path.clone(), source }
            }
        })?;
        DbConfig::parse(&text, &path)
    }

    /// Parses the text of a `linstor.toml`; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<DbConfig> {
        let parse_error = |message: String| Error::ConfigParse { path: path.to_owned(), message };
        let file: TomlFile = toml::from_str(text).map_err(|e| parse_error(e.message().to_owned()))?;
        let db = file.db;
        let defaults = DbConfig::default();
        let positive = |key: &str, value: Option<i64>, default: u64| -> Result<u64> {
            match value {
                None => Ok(default),
                Some(v) if v > 0 => Ok(v.unsigned_abs()),
                Some(v) => Err(parse_error(format!("{key} must be a positive number, found {v}"))),
            }
        };
        let ops = positive(
            "[db.etcd] ops_per_transaction",
            db.etcd.ops_per_transaction,
            defaults.etcd_ops_per_transaction as u64,
        )?;
        let retries = positive(
            "[db.k8s] request_retries",
            db.k8s.request_retries.map(|v| v.max(1)),
            defaults.k8s_request_retries.into(),
        )?;
        let rollback = positive(
            "[db.k8s] max_rollback_entries",
            db.k8s.max_rollback_entries,
            defaults.k8s_max_rollback_entries.into(),
        )?;
        Ok(DbConfig {
            connection_url: db.connection_url.map(|u| u.trim().to_owned()).unwrap_or(defaults.connection_url),
            user: db.user,
            password: db.password,
            ca_certificate: db.ca_certificate,
            client_certificate: db.client_certificate,
            client_key_pkcs8_pem: db.client_key_pkcs8_pem.or(db.client_key_pcks8_pem),
            client_key_password: db.client_key_password,
            etcd_prefix_raw: db.etcd.prefix.unwrap_or(defaults.etcd_prefix_raw),
            etcd_ops_per_transaction: usize::try_from(ops).unwrap_or(usize::MAX),
            k8s_request_retries: u32::try_from(retries).unwrap_or(u32::MAX),
            k8s_max_rollback_entries: u32::try_from(rollback).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DbConfig> {
        DbConfig::parse(text, Path::new("/etc/linstor/linstor.toml"))
    }

    #[test]
    fn operator_v1_config_with_tls() {
        let c = parse(
            r#"
[db]
  connection_url = "etcd://secure.etcd.svc:443/"
  ca_certificate = "/etc/linstor/certs/ca.crt"
  client_certificate = "/etc/linstor/certs/tls.crt"
  client_key_pkcs8_pem = "/etc/linstor/certs/tls.key"
[http]
  port = 3370
"#,
        )
        .unwrap();
        assert_eq!(c.connection_url, "etcd://secure.etcd.svc:443/");
        assert_eq!(c.ca_certificate.as_deref(), Some(Path::new("/etc/linstor/certs/ca.crt")));
        assert_eq!(c.client_key_pkcs8_pem.as_deref(), Some(Path::new("/etc/linstor/certs/tls.key")));
        assert_eq!(c.etcd_prefix_raw, "/LINSTOR/");
        assert_eq!(c.etcd_ops_per_transaction, 128);
    }

    #[test]
    fn etcd_and_k8s_tables_and_legacy_key_name() {
        let c = parse(
            "[db]\nconnection_url = \"k8s\"\nclient_key_pcks8_pem = \"/k\"\n[db.etcd]\nprefix = \"/foo\"\nops_per_transaction = 64\n[db.k8s]\nrequest_retries = 5\nmax_rollback_entries = 50\n",
        )
        .unwrap();
        assert_eq!(c.client_key_pkcs8_pem.as_deref(), Some(Path::new("/k")));
        assert_eq!((c.etcd_prefix_raw.as_str(), c.etcd_ops_per_transaction), ("/foo", 64));
        assert_eq!((c.k8s_request_retries, c.k8s_max_rollback_entries), (5, 50));
    }

    #[test]
    fn defaults_and_errors() {
        assert_eq!(parse("").unwrap().connection_url, DEFAULT_CONNECTION_URL);
        let err = parse("[db\nconnection_url=").unwrap_err().to_string();
        assert!(err.starts_with("error parsing '/etc/linstor/linstor.toml'"), "{err}");
        assert!(parse("[db.etcd]\nops_per_transaction = 0\n").is_err());
        assert!(parse("[db]\nconnection_url = 5\n").is_err());
        let missing = DbConfig::load(Path::new("/nonexistent-dir")).unwrap_err().to_string();
        assert!(missing.contains("-c DIR"), "{missing}");
    }
}
