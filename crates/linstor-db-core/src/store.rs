//! Store addresses: where a database is read from or written to. Usable wherever a command takes a
//! source or target: `etcd://HOST:PORT[,HOST:PORT…]`, `k8s`, or the path of an export file.

use std::fmt;
use std::path::PathBuf;

use crate::config::DbConfig;
use crate::error::{Error, Result};
use crate::etcd_layout::normalize_prefix;

/// A parsed store address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAddress {
    /// An etcd cluster (LINSTOR ≤ 1.33.x).
    Etcd {
        /// `host:port` or `http(s)://host:port` endpoints.
        endpoints: Vec<String>,
    },
    /// The Kubernetes API (CRDs in `internal.linstor.linbit.com`).
    K8s,
    /// A file: a LINSTOR export-db JSON, or a backup (tar.gz archive, directory or YAML dump).
    File(PathBuf),
    /// A backup kept in Kubernetes Secrets (`secret://NAMESPACE/NAME`).
    Secret {
        /// Namespace.
        namespace: String,
        /// Name of the backup (the Secret, or the marker of a chunked backup).
        name: String,
    },
}

impl StoreAddress {
    /// The size limits of rows written to this store; a backup or file may later go to either store.
    pub fn size_limits(&self) -> crate::check::SizeLimits {
        match self {
            StoreAddress::Etcd { .. } => crate::check::SizeLimits::ETCD,
            StoreAddress::K8s => crate::check::SizeLimits::KUBERNETES,
            _ => crate::check::SizeLimits::BOTH,
        }
    }

    /// Parses an address given on the command line (or via the C ABI).
    pub fn parse(text: &str) -> Result<StoreAddress> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(invalid(text, "the address is empty"));
        }
        if let Some(address) = StoreAddress::parse_url(trimmed)? {
            return Ok(address);
        }
        if let Some(rest) = trimmed.strip_prefix("secret://") {
            let (namespace, name) = rest.split_once('/').unwrap_or((rest, ""));
            for (what, value) in [("namespace", namespace), ("name", name)] {
                if !is_dns_name(value, 253) {
                    // A placeholder reaching here is one in a source, which names an existing backup.
                    let hint = if value.contains(TIME_PLACEHOLDER) {
                        "; {time} is expanded only where a backup is written (backup -o, --backup-to)"
                    } else {
                        ""
                    };
                    return Err(invalid(
                        text,
                        &format!("the {what} '{value}' is not a Kubernetes name (lower-case letters, digits, '-' and '.'); use secret://NAMESPACE/NAME{hint}"),
                    ));
                }
            }
            return Ok(StoreAddress::Secret { namespace: namespace.to_owned(), name: name.to_owned() });
        }
        if trimmed.contains("://") {
            return Err(invalid(
                text,
                "unknown scheme; use etcd://HOST:PORT, k8s, secret://NAMESPACE/NAME, or a file path",
            ));
        }
        Ok(StoreAddress::File(PathBuf::from(trimmed)))
    }

    /// Parses where a backup goes (`backup -o`, `--backup-to`): as [`StoreAddress::parse`], with each
    /// [`TIME_PLACEHOLDER`] in a `secret://` name replaced by the current UTC time, so that one command
    /// run on a schedule writes a new backup each time.
    pub fn parse_backup_target(text: &str) -> Result<StoreAddress> {
        StoreAddress::parse_backup_target_at(text, crate::export::now_ms())
    }

    /// [`StoreAddress::parse_backup_target`] at `now_ms` (epoch milliseconds).
    pub fn parse_backup_target_at(text: &str, now_ms: i64) -> Result<StoreAddress> {
        match text.trim().strip_prefix("secret://").and_then(|rest| rest.split_once('/')) {
            Some((namespace, name)) if name.contains(TIME_PLACEHOLDER) => {
                let name = name.replace(TIME_PLACEHOLDER, &name_time(now_ms));
                StoreAddress::parse(&format!("secret://{namespace}/{name}"))
            }
            _ => StoreAddress::parse(text),
        }
    }

    /// Reads `connection_url` of `linstor.toml` exactly as `Controller.checkDatabaseConfig` selects
    /// the backend: by its start only.
    pub fn from_connection_url(url: &str) -> Result<StoreAddress> {
        StoreAddress::parse_url(url.trim())?
            .ok_or_else(|| invalid(url, "Database uri not supported (expected etcd://… or k8s)"))
    }

    fn parse_url(url: &str) -> Result<Option<StoreAddress>> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("jdbc") {
            return Err(invalid(
                url,
                "SQL databases are not handled by linstor-db; use LINSTOR's own `linstor-database export-db` on the controller",
            ));
        }
        if lower.starts_with("k8s") {
            return if lower == "k8s" {
                Ok(Some(StoreAddress::K8s))
            } else {
                Err(invalid(url, "Not configured for kubernetes connection! (connection_url must be exactly \"k8s\")"))
            };
        }
        if lower.starts_with("etcd") {
            let rest = if lower.starts_with("etcd://") { &url["etcd://".len()..] } else { &url["etcd".len()..] };
            let endpoints = rest
                .split(',')
                .map(|e| e.trim().trim_end_matches('/'))
                .filter(|e| !e.is_empty())
                .map(|e| etcd_endpoint(e).map_err(|reason| invalid(url, &reason)))
                .collect::<Result<Vec<String>>>()?;
            if endpoints.is_empty() {
                return Err(invalid(url, "no etcd endpoint; use etcd://HOST:PORT[,HOST:PORT]"));
            }
            return Ok(Some(StoreAddress::Etcd { endpoints }));
        }
        Ok(None)
    }
}

impl fmt::Display for StoreAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreAddress::Etcd { endpoints } => write!(f, "etcd://{}", endpoints.join(",")),
            StoreAddress::K8s => f.write_str("k8s"),
            StoreAddress::File(path) => write!(f, "{}", path.display()),
            StoreAddress::Secret { namespace, name } => write!(f, "secret://{namespace}/{name}"),
        }
    }
}

/// In the name of a `secret://` backup target, replaced by the UTC time of the run (`20261202t101500z`).
pub const TIME_PLACEHOLDER: &str = "{time}";

/// `ms` (epoch milliseconds) as [`TIME_PLACEHOLDER`] expands: RFC 3339 UTC without separators,
/// lower-case as a Kubernetes name must be (`20261202t101500z`); such names sort as their times do.
pub fn name_time(ms: i64) -> String {
    crate::k8s_layout::rfc3339_utc(ms)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The port LINSTOR's etcd client uses when an endpoint names none.
pub const DEFAULT_ETCD_PORT: u16 = 2379;

/// One etcd endpoint, `[http(s)://]HOST[:PORT]` (IPv6 hosts in brackets), with the port checked and
/// defaulted to 2379 as LINSTOR does; a bad one is refused rather than left to the client, which
/// would quietly connect to port 80.
fn etcd_endpoint(endpoint: &str) -> std::result::Result<String, String> {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            (Some(scheme), rest)
        }
        Some((scheme, _)) => return Err(format!("endpoint '{endpoint}': unknown scheme '{scheme}' (http or https)")),
        None => (None, endpoint),
    };
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("endpoint '{endpoint}': an IPv6 address needs its closing ']'"))?;
        (
            format!("[{host}]"),
            after.strip_prefix(':').map(str::to_owned).or_else(|| (!after.is_empty()).then(|| after.to_owned())),
        )
    } else {
        match rest.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(format!("endpoint '{endpoint}': write an IPv6 address in brackets, e.g. [::1]:2379"));
            }
            Some((host, port)) => (host.to_owned(), Some(port.to_owned())),
            None => (rest.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" || host.contains('/') {
        return Err(format!("endpoint '{endpoint}' has no host; use HOST:PORT, e.g. 127.0.0.1:2379"));
    }
    let port = match port {
        None => DEFAULT_ETCD_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("endpoint '{endpoint}': '{port}' is not a TCP port (1-65535)")),
        },
    };
    Ok(match scheme {
        Some(scheme) => format!("{scheme}://{host}:{port}"),
        None => format!("{host}:{port}"),
    })
}

/// A DNS-1123 subdomain of at most `max` characters (Secret names, namespaces within that).
pub fn is_dns_name(text: &str, max: usize) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !text.is_empty()
        && text.len() <= max
        && text.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && text.starts_with(alnum)
        && text.ends_with(alnum)
}

/// `text` as one word for a POSIX shell: unchanged when it is plain, else single-quoted, so that a
/// command we print runs as printed.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=,@+-%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn invalid(address: &str, reason: &str) -> Error {
    Error::InvalidStore { address: address.to_owned(), reason: reason.to_owned() }
}

/// How long a store may fail with transient errors, without any request succeeding, before a job
/// gives up: long enough for an etcd leader election or an API server restart, short enough that an
/// unattended job ends with an error rather than hanging.
pub const DEFAULT_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// Everything needed to talk to one etcd store: endpoints from the address, the rest from `linstor.toml`.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdSettings {
    /// Endpoints.
    pub endpoints: Vec<String>,
    /// The prefix as configured (rollback keys use it unnormalised).
    pub prefix_raw: String,
    /// Maximum operations per transaction.
    pub ops_per_transaction: usize,
    /// User and password for etcd auth.
    pub credentials: Option<(String, String)>,
    /// CA file; TLS is used iff set.
    pub ca_certificate: Option<PathBuf>,
    /// Client certificate and PKCS#8 key files (mutual TLS iff both are set).
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Password of the client key, if encrypted.
    pub client_key_password: Option<String>,
    /// How long transient failures (a member down, a leader election) are retried without any
    /// request succeeding.
    pub retry_timeout: std::time::Duration,
}

impl EtcdSettings {
    /// Settings for `endpoints` with the etcd options of `config`.
    pub fn new(endpoints: Vec<String>, config: &DbConfig) -> EtcdSettings {
        EtcdSettings {
            endpoints,
            prefix_raw: config.etcd_prefix_raw.clone(),
            ops_per_transaction: config.etcd_ops_per_transaction,
            credentials: config.user.clone().map(|u| (u, config.password.clone().unwrap_or_default())),
            ca_certificate: config.ca_certificate.clone(),
            client_identity: config.client_certificate.clone().zip(config.client_key_pkcs8_pem.clone()),
            client_key_password: config.client_key_password.clone(),
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
        }
    }

    /// The normalised prefix (ends with `/`).
    pub fn prefix(&self) -> String {
        normalize_prefix(&self.prefix_raw)
    }
}

impl fmt::Debug for EtcdSettings {
    // Hand-written so that the password never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdSettings")
            .field("endpoints", &self.endpoints)
            .field("prefix_raw", &self.prefix_raw)
            .field("ops_per_transaction", &self.ops_per_transaction)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("ca_certificate", &self.ca_certificate)
            .field("client_identity", &self.client_identity)
            .field("retry_timeout", &self.retry_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            StoreAddress::parse("etcd://10.0.0.1:2379,10.0.0.2:2379").unwrap(),
            StoreAddress::Etcd { endpoints: vec!["10.0.0.1:2379".into(), "10.0.0.2:2379".into()] }
        );
        assert_eq!(
            StoreAddress::parse("ETCD://secure.etcd.svc:443/").unwrap(),
            StoreAddress::Etcd { endpoints: vec!["secure.etcd.svc:443".into()] }
        );
        assert_eq!(StoreAddress::parse("k8s").unwrap(), StoreAddress::K8s);
        assert_eq!(StoreAddress::parse("K8S").unwrap(), StoreAddress::K8s);
        assert_eq!(StoreAddress::parse("./db.json").unwrap(), StoreAddress::File("./db.json".into()));
        assert!(StoreAddress::parse("k8s://x").is_err());
        assert!(StoreAddress::parse("etcd://").is_err());
        assert!(StoreAddress::parse("s3://bucket/x").is_err());
        assert_eq!(
            StoreAddress::parse("secret://piraeus/linstor-backup-for-x").unwrap(),
            StoreAddress::Secret { namespace: "piraeus".into(), name: "linstor-backup-for-x".into() }
        );
        assert!(StoreAddress::parse("secret://piraeus").is_err());
        assert!(StoreAddress::parse("secret://piraeus/Bad_Name").is_err());
        let sql = StoreAddress::from_connection_url("jdbc:h2:/var/lib/linstor/linstordb").unwrap_err().to_string();
        assert!(sql.contains("linstor-database export-db"), "{sql}");
        assert!(StoreAddress::from_connection_url("/some/file").is_err());
    }

    #[test]
    fn time_in_backup_targets_is_expanded_as_a_kubernetes_name() {
        // 2026-12-02T10:15:00Z
        let at = 1_796_206_500_000;
        assert_eq!(
            StoreAddress::parse_backup_target_at("secret://piraeus/linstor-db-{time}", at).unwrap(),
            StoreAddress::Secret { namespace: "piraeus".into(), name: "linstor-db-20261202t101500z".into() }
        );
        assert_eq!(
            StoreAddress::parse_backup_target_at(" secret://ns/{time}-a-{time} ", at).unwrap(),
            StoreAddress::Secret { namespace: "ns".into(), name: "20261202t101500z-a-20261202t101500z".into() }
        );
        // Without the placeholder, or in other stores, the address is parsed as given.
        assert_eq!(
            StoreAddress::parse_backup_target_at("secret://ns/fixed", at).unwrap(),
            StoreAddress::parse("secret://ns/fixed").unwrap()
        );
        assert_eq!(
            StoreAddress::parse_backup_target_at("./b-{time}.tar.gz", at).unwrap(),
            StoreAddress::File("./b-{time}.tar.gz".into())
        );
        // Only the name is a time: a namespace stays as written, and is refused.
        assert!(StoreAddress::parse_backup_target_at("secret://{time}/x", at).is_err());
        // Where a backup is read, the placeholder names nothing, and the refusal says so.
        let error = StoreAddress::parse("secret://ns/linstor-db-{time}").unwrap_err().to_string();
        assert!(error.contains("{time} is expanded only where a backup is written"), "{error}");
    }

    #[test]
    fn etcd_ports_are_checked_and_default_to_2379() {
        let endpoints = |text: &str| match StoreAddress::parse(text) {
            Ok(StoreAddress::Etcd { endpoints }) => Ok(endpoints),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(endpoints("etcd://127.0.0.1").unwrap(), ["127.0.0.1:2379"]);
        assert_eq!(endpoints("etcd://a,b:2380").unwrap(), ["a:2379", "b:2380"]);
        assert_eq!(endpoints("etcd://[::1]").unwrap(), ["[::1]:2379"]);
        assert_eq!(endpoints("etcd://[::1]:2381").unwrap(), ["[::1]:2381"]);
        assert_eq!(endpoints("etcd://https://etcd.svc").unwrap(), ["https://etcd.svc:2379"]);
        for (bad, says) in [
            ("etcd://127.0.0.1:99999", "'99999' is not a TCP port"),
            ("etcd://127.0.0.1:0", "'0' is not a TCP port"),
            ("etcd://127.0.0.1:", "'' is not a TCP port"),
            ("etcd://h:x", "'x' is not a TCP port"),
            ("etcd://::1", "in brackets"),
            ("etcd://[::1", "closing ']'"),
            ("etcd://:2379", "has no host"),
            ("etcd://ftp://h", "unknown scheme 'ftp'"),
        ] {
            let error = endpoints(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_quote("/LINSTOR/"), "/LINSTOR/");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn settings_debug_hides_the_password() {
        let config = DbConfig { user: Some("root".into()), password: Some("hunter2".into()), ..DbConfig::default() };
        let s = EtcdSettings::new(vec!["h:1".into()], &config);
        let text = format!("{s:?}");
        assert!(text.contains("root") && !text.contains("hunter2"), "{text}");
    }
}
