//! Which LINSTOR release stores which data version, etcd migration and k8s migration
//! (`linstor-db-format.md` §6; numbers read from every release tag of linstor-server).

use super::DataVersion;

/// The database-relevant facts of one LINSTOR release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// Release version as `linstor_version` in exports (`1.33.3`).
    pub version: &'static str,
    /// CRD / export data version of the release.
    pub data_version: DataVersion,
    /// Last etcd migration the release knows; `None` from 1.34 on (etcd removed).
    /// The etcd key `DBHISTORY/version` holds this number + 1.
    pub etcd_last: Option<u32>,
    /// Last k8s migration the release knows; `LinstorVersion.spec.version` holds this number + 1.
    pub k8s_last: u32,
    /// Last SQL migration of the release (`sql_version` in exports).
    pub sql_version: &'static str,
}

const fn r(
    version: &'static str,
    data_version: DataVersion,
    etcd_last: Option<u32>,
    k8s_last: u32,
    sql_version: &'static str,
) -> Release {
    Release { version, data_version, etcd_last, k8s_last, sql_version }
}

use DataVersion::*;

/// Every release with the export tool (1.24.0 on), oldest first. Releases with identical numbers
/// are listed once, by their newest patch version.
pub const RELEASES: &[Release] = &[
    r("1.25.1", V1_19_1, Some(60), 17, "2023.07.26.09.00"),
    r("1.26.2", V1_25_1, Some(61), 19, "2023.11.29.09.00"),
    r("1.27.0", V1_25_1, Some(61), 20, "2023.11.29.09.00"),
    r("1.27.1", V1_25_1, Some(62), 21, "2024.04.19.10.00"),
    r("1.29.2", V1_27_1, Some(62), 22, "2024.04.19.10.00"),
    r("1.30.1", V1_27_1, Some(63), 23, "2024.10.24.10.00"),
    r("1.30.3", V1_27_1, Some(64), 24, "2024.12.18.10.00"),
    r("1.30.4", V1_27_1, Some(65), 25, "2025.01.29.10.00"),
    r("1.31.3", V1_27_1, Some(68), 27, "2025.03.18.08.00"),
    r("1.32.3", V1_31_1, Some(69), 28, "2025.05.27.08.00"),
    r("1.33.1", V1_31_1, Some(70), 29, "2025.10.28.08.00"),
    r("1.33.3", V1_31_1, Some(71), 30, "2025.12.31.23.59"),
    r("1.34.0-rc.1", V1_33_1, None, 34, "2026.04.08.09.00"),
];

impl Release {
    /// The newest release this tool knows.
    pub fn newest() -> &'static Release {
        &RELEASES[RELEASES.len() - 1]
    }

    /// The newest release whose etcd database is at `DBHISTORY/version` = `stored`.
    /// Releases sharing one etcd number differ only in additive nullable columns, so the newest reads all.
    pub fn for_etcd_version(stored: u32) -> Option<&'static Release> {
        RELEASES.iter().rev().find(|r| r.etcd_last.map(|l| l + 1) == Some(stored))
    }

    /// The newest release whose k8s database is at `LinstorVersion.spec.version` = `stored`.
    pub fn for_k8s_version(stored: u32) -> Option<&'static Release> {
        RELEASES.iter().rev().find(|r| r.k8s_last + 1 == stored)
    }

    /// The newest release writing `data_version` whose etcd number reads back as that data version
    /// (etcd 63 is both 1.27.1 with v1-25-1 and 1.28 with v1-27-1; it reads as the newer). Used as
    /// the profile of generated databases.
    pub fn newest_with(data_version: DataVersion) -> &'static Release {
        RELEASES
            .iter()
            .rev()
            .find(|r| {
                r.data_version == data_version
                    && r.etcd_last.is_none_or(|last| {
                        Release::for_etcd_version(last + 1).map(|x| x.data_version) == Some(data_version)
                    })
            })
            .unwrap_or_else(|| Release::newest())
    }
}

/// Major, minor, patch and optional commit count of a LINSTOR version string, parsed like
/// `DbExportImportHelper` does: the first match of `(\d+)\.(\d+)\.(\d+)(?:-(\d+))?` anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinstorVersion {
    /// Major, minor, patch.
    pub numbers: [u64; 3],
    /// The `-N` commit count, kept as text because LINSTOR compares it as a string.
    pub commits: Option<String>,
}

impl LinstorVersion {
    /// Parses a version string; `None` when no `X.Y.Z` appears in it.
    pub fn parse(text: &str) -> Option<LinstorVersion> {
        let bytes = text.as_bytes();
        let digits_at = |mut i: usize| {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            (i > start).then_some((start, i))
        };
        for start in 0..bytes.len() {
            if start > 0 && bytes[start - 1].is_ascii_digit() {
                continue;
            }
            let mut numbers = [0u64; 3];
            let mut pos = start;
            let mut ok = true;
            for (n, slot) in numbers.iter_mut().enumerate() {
                if n > 0 {
                    if bytes.get(pos) != Some(&b'.') {
                        ok = false;
                        break;
                    }
                    pos += 1;
                }
                match digits_at(pos) {
                    Some((s, e)) => {
                        *slot = text[s..e].parse().ok()?;
                        pos = e;
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                continue;
            }
            let commits = (bytes.get(pos) == Some(&b'-'))
                .then(|| digits_at(pos + 1))
                .flatten()
                .map(|(s, e)| text[s..e].to_owned());
            return Some(LinstorVersion { numbers, commits });
        }
        None
    }

    /// True when the version is newer than every release this tool knows.
    pub fn is_newer_than_known(&self) -> bool {
        LinstorVersion::parse(Release::newest().version).is_some_and(|newest| self.is_newer_than(&newest))
    }

    /// LINSTOR's "importer must not be older than exporter" rule (commit counts compared as strings).
    pub fn is_newer_than(&self, other: &LinstorVersion) -> bool {
        match self.numbers.cmp(&other.numbers) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => match (&self.commits, &other.commits) {
                (Some(a), Some(b)) => a > b,
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_versions_map_to_releases() {
        assert_eq!(Release::for_etcd_version(72).map(|r| r.version), Some("1.33.3"));
        assert_eq!(Release::for_etcd_version(71).map(|r| r.version), Some("1.33.1"));
        assert_eq!(Release::for_etcd_version(70).map(|r| r.data_version), Some(DataVersion::V1_31_1));
        assert_eq!(Release::for_etcd_version(69).map(|r| r.data_version), Some(DataVersion::V1_27_1));
        assert_eq!(Release::for_etcd_version(63).map(|r| r.version), Some("1.29.2"));
        assert_eq!(Release::for_etcd_version(61).map(|r| r.data_version), Some(DataVersion::V1_19_1));
        assert_eq!(Release::for_etcd_version(35), None);
        assert_eq!(Release::for_etcd_version(73), None);
    }

    #[test]
    fn generated_profiles_read_back_as_their_data_version() {
        for v in DataVersion::ALL {
            let r = Release::newest_with(v);
            assert_eq!(r.data_version, v);
            if let Some(last) = r.etcd_last {
                assert_eq!(Release::for_etcd_version(last + 1).map(|x| x.data_version), Some(v));
            }
        }
        assert_eq!(Release::newest_with(DataVersion::V1_25_1).version, "1.27.0");
    }

    #[test]
    fn k8s_versions_map_to_releases() {
        assert_eq!(Release::for_k8s_version(35).map(|r| r.version), Some("1.34.0-rc.1"));
        assert_eq!(Release::for_k8s_version(31).map(|r| r.version), Some("1.33.3"));
        assert_eq!(Release::for_k8s_version(29).map(|r| r.version), Some("1.32.3"));
        assert_eq!(Release::for_k8s_version(18).map(|r| r.data_version), Some(DataVersion::V1_19_1));
    }

    #[test]
    fn version_parsing_follows_linstor() {
        let v = LinstorVersion::parse("1.33.1-9-c95a9b2d9").unwrap();
        assert_eq!(v.numbers, [1, 33, 1]);
        assert_eq!(v.commits.as_deref(), Some("9"));
        assert_eq!(LinstorVersion::parse("1.34.0-rc.1").unwrap().commits, None);
        assert_eq!(LinstorVersion::parse("v10.2.30").unwrap().numbers, [10, 2, 30]);
        assert!(LinstorVersion::parse("garbage").is_none());
        let a = LinstorVersion::parse("1.33.1-9").unwrap();
        let b = LinstorVersion::parse("1.33.1-10").unwrap();
        assert!(a.is_newer_than(&b), "LINSTOR compares commit counts as strings");
        assert!(LinstorVersion::parse("1.34.0").unwrap().is_newer_than(&LinstorVersion::parse("1.33.3").unwrap()));
    }
}
