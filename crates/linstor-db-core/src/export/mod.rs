//! LINSTOR's `linstor-database export-db` JSON format (`linstor-db-format.md` §5.3), read and written
//! as a stream: neither side holds more than one row at a time.

mod reader;
mod writer;

pub use reader::{read_export, read_meta, Flow, ReadEvent};
pub use writer::ExportWriter;

use crate::error::{Error, Result};
use crate::schema::{DataVersion, LinstorVersion, Release, RELEASES};

/// Milliseconds since the epoch, as `export_timestamp_ms` holds them.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The top-level fields of an export, in the order LINSTOR writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportMeta {
    /// Version of the LINSTOR release whose data this is (`1.33.3`).
    pub linstor_version: String,
    /// Export time, epoch milliseconds.
    pub export_timestamp_ms: i64,
    /// `etcd`, `k8s` or `sql/<type>`.
    pub exported_from: String,
    /// Data (CRD) version of the rows.
    pub data_version: DataVersion,
    /// Last SQL migration of the release.
    pub sql_version: String,
    /// Last etcd migration of the release; only releases up to 1.33.x write it.
    pub etcd_version: Option<u32>,
    /// Last k8s migration of the release.
    pub k8s_version: u32,
    /// Backups only (not part of the export format): the served versions other than the storage
    /// version that the backup's objects are at (`kubectl get` reads at the preferred version).
    pub objects_at: Vec<String>,
    /// Backups only: the columns the API server pruned from objects read at those versions.
    pub lost_columns: Vec<crate::lost::LostColumn>,
    /// Writes only (not part of the export format): the job writing this data (`restore of
    /// backup.tar.gz`), kept in the target's in-progress marker, so that only a run of the same job
    /// finishes an interrupted write without `--replace`.
    pub job: Option<String>,
    /// Backups of an interrupted write only (not part of the export format): the job whose write
    /// was interrupted. A restore of such a backup leaves the target marked incomplete again, so
    /// that it gives back exactly what was there.
    pub interrupted: Option<String>,
    /// Reads of a store only (not part of the export format): the revision every table was read at
    /// (etcd's revision; the Kubernetes API's `resourceVersion`, which is its etcd's revision).
    pub revision: Option<String>,
}

impl ExportMeta {
    /// The metadata LINSTOR `release` writes when exporting from `exported_from` at `now_ms`.
    pub fn for_release(release: &Release, exported_from: &str, now_ms: i64) -> ExportMeta {
        ExportMeta {
            linstor_version: release.version.to_owned(),
            export_timestamp_ms: now_ms,
            exported_from: exported_from.to_owned(),
            data_version: release.data_version,
            sql_version: release.sql_version.to_owned(),
            etcd_version: release.etcd_last,
            k8s_version: release.k8s_last,
            objects_at: Vec::new(),
            lost_columns: Vec::new(),
            job: None,
            interrupted: None,
            revision: None,
        }
    }

    /// Refuses metadata from a LINSTOR newer than this tool knows, as LINSTOR's import refuses an
    /// export from a newer LINSTOR than the one running.
    pub fn check_supported(&self, what: &str) -> Result<()> {
        let newest = Release::newest();
        let too_new = |found: String, newest: String| Error::TooNew { what: what.to_owned(), found, newest };
        let Some(version) = LinstorVersion::parse(&self.linstor_version) else {
            return Err(Error::CorruptExport {
                path: what.into(),
                detail: format!("could not parse linstor version: {}", self.linstor_version),
            });
        };
        if version.is_newer_than_known() {
            return Err(too_new(format!("LINSTOR {}", self.linstor_version), format!("LINSTOR {}", newest.version)));
        }
        if self.k8s_version > newest.k8s_last {
            return Err(too_new(
                format!("k8s_version {}", self.k8s_version),
                format!("k8s_version {}", newest.k8s_last),
            ));
        }
        let etcd_max = RELEASES.iter().filter_map(|r| r.etcd_last).max().unwrap_or(0);
        if let Some(etcd) = self.etcd_version.filter(|v| *v > etcd_max) {
            return Err(too_new(format!("etcd_version {etcd}"), format!("etcd_version {etcd_max}")));
        }
        Ok(())
    }

    /// The release these numbers belong to, when it is one this tool knows.
    pub fn release(&self) -> Option<&'static Release> {
        RELEASES.iter().rev().find(|r| {
            r.k8s_last == self.k8s_version
                && r.data_version == self.data_version
                && (self.etcd_version.is_none() || r.etcd_last == self.etcd_version)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_newer_exports() {
        let mut meta = ExportMeta::for_release(Release::newest(), "k8s", 0);
        assert!(meta.check_supported("f").is_ok());
        meta.linstor_version = "1.35.0".into();
        let err = meta.check_supported("f").unwrap_err().to_string();
        assert!(err.contains("newer LINSTOR") && err.contains("1.35.0"), "{err}");
        let mut meta = ExportMeta::for_release(Release::newest(), "k8s", 0);
        meta.k8s_version = 99;
        assert!(meta.check_supported("f").is_err());
        meta.k8s_version = 34;
        meta.linstor_version = "nonsense".into();
        assert!(meta.check_supported("f").unwrap_err().to_string().contains("could not parse linstor version"));
    }

    /// A second `tables` array is refused (it would bring its tables past the check that each appears
    /// once); unknown top-level fields are skipped.
    #[test]
    fn tables_twice_are_refused_and_unknown_fields_skipped() {
        let head = r#"{"linstor_version":"1.33.3","data_version":"v1-31-1","k8s_version":29,"comment":{"a":[1,"x"]}"#;
        let read = |text: String| {
            let mut metas = 0;
            read_export(text.as_bytes(), std::path::Path::new("f"), |event| {
                metas += usize::from(matches!(event, ReadEvent::Meta(_)));
                Ok(Flow::Continue)
            })
            .map(|()| metas)
        };
        assert_eq!(read(format!(r#"{head},"tables":[]}}"#)).unwrap(), 1);
        let err = read(format!(r#"{head},"tables":[],"tables":[]}}"#)).unwrap_err().to_string();
        assert!(err.contains("'tables' appears twice"), "{err}");
    }

    #[test]
    fn release_lookup() {
        let r = Release::for_etcd_version(72).unwrap();
        let meta = ExportMeta::for_release(r, "etcd", 0);
        assert_eq!(meta.release().map(|r| r.version), Some("1.33.3"));
        assert_eq!(meta.etcd_version, Some(71));
    }
}
