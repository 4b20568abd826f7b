//! The versions LINSTOR's CRDs *serve*, beyond the data versions this tool reads and writes: a CRD of
//! data version X lists older versions too, and the API server returns objects at whichever one a
//! client asks for (`kubectl get` asks for the group's preferred one, the alphabetically first for
//! LINSTOR's version names: `v1-15-0` on CRDs LINSTOR 1.33 wrote, `v1-19-1` on CRDs of 1.34).
//!
//! Where the lists come from (LINBIT/linstor-server):
//! - Every `controller/generated-resources/.../k8s/crd/v<X>/<Kind>.yaml` lists every version from the
//!   table's first up to X, newest first, only X stored (`DatabaseConstantsGenerator`; e.g.
//!   `v1_18_2/Nodes.yaml` lists `v1-18-2`, `v1-17-0`, `v1-15-0`). LINSTOR's k8s migrations apply these
//!   files, so LINSTOR 1.20 – 1.33 (data versions `v1-19-1` … `v1-31-1`) write CRDs serving `v1-15-0`
//!   (`v1-18-2` for `Schedules`, added then; `v1-19-1` for `EbsRemotes`) up to their data version:
//!   `testdata/reference/linstor-written/crds-after-linstor-migrations.yaml` is what 1.33.3 left.
//! - Commit `ebeeec4c7` (2026-02, LINSTOR 1.34) removed `v1-15-0`, `v1-17-0` and `v1-18-2` from every
//!   file, so the `v1-33-1` CRDs serve `v1-19-1` … `v1-33-1` (`testdata/reference/linstor-crds/v1_33_1`).
//! - The schemas of the three old versions equal `v1-19-1`'s for every table, field by field, except
//!   `SatellitesCapacity` at `v1-15-0`, which has no `allocated` and `usable` (compared in the tests
//!   against the 1.33.3 file). `LayerOpenflex*` (dropped in `v1-25-1`) follow the same rule
//!   (`v1_15_0/LayerOpenflexVolumes.yaml`, `v1_18_2/...`).

use std::fmt;

use super::{Column, DataVersion};

/// A version name LINSTOR's CRDs serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServedVersion {
    /// LINSTOR 1.16 – 1.17.
    V1_15_0,
    /// LINSTOR 1.18.
    V1_17_0,
    /// LINSTOR 1.19.
    V1_18_2,
    /// A data version this tool reads and writes.
    Data(DataVersion),
}

impl ServedVersion {
    /// The versions before the data versions, oldest first.
    pub const OLD: [ServedVersion; 3] = [ServedVersion::V1_15_0, ServedVersion::V1_17_0, ServedVersion::V1_18_2];

    /// The version name (`v1-15-0`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServedVersion::V1_15_0 => "v1-15-0",
            ServedVersion::V1_17_0 => "v1-17-0",
            ServedVersion::V1_18_2 => "v1-18-2",
            ServedVersion::Data(v) => v.as_str(),
        }
    }

    /// The served version with this name, if LINSTOR ever had it.
    pub fn parse(name: &str) -> Option<ServedVersion> {
        ServedVersion::OLD
            .into_iter()
            .find(|v| v.as_str() == name)
            .or_else(|| name.parse::<DataVersion>().ok().map(ServedVersion::Data))
    }

    /// The data version, when this is one.
    pub fn data_version(self) -> Option<DataVersion> {
        match self {
            ServedVersion::Data(v) => Some(v),
            _ => None,
        }
    }

    /// The schema version whose OpenAPI types this version's fields have (the old versions type
    /// their fields as `v1-19-1` does).
    pub fn typed_as(self) -> DataVersion {
        self.data_version().unwrap_or(DataVersion::V1_19_1)
    }

    /// The columns of `table` this version's CRD schema has, in column order; `None` when the table
    /// had no CRD at this version.
    pub fn columns(self, table: &str) -> Option<Vec<&'static Column>> {
        let schema_version = self.data_version().unwrap_or(DataVersion::V1_19_1);
        let columns = &schema_version.schema().table(table)?.columns;
        let first = match table {
            "SCHEDULES" => ServedVersion::V1_18_2,
            "EBS_REMOTES" => ServedVersion::Data(DataVersion::V1_19_1),
            _ => ServedVersion::V1_15_0,
        };
        if self < first {
            return None;
        }
        let missing: &[&str] = match (self, table) {
            (ServedVersion::V1_15_0, "SATELLITES_CAPACITY") => &["ALLOCATED", "USABLE"],
            _ => &[],
        };
        Some(columns.iter().filter(|c| !missing.contains(&c.name)).collect())
    }

    /// The versions LINSTOR's CRD of `table` lists when it writes data version `data_version`, newest
    /// first (the storage version first).
    pub fn listed(table: &str, data_version: DataVersion) -> Vec<ServedVersion> {
        let old: &[ServedVersion] = if data_version <= DataVersion::LAST_ETCD { &ServedVersion::OLD } else { &[] };
        let mut listed: Vec<ServedVersion> = DataVersion::ALL
            .iter()
            .filter(|v| **v <= data_version)
            .map(|v| ServedVersion::Data(*v))
            .chain(old.iter().copied())
            .filter(|v| v.columns(table).is_some())
            .collect();
        listed.sort_by_key(|v| std::cmp::Reverse(*v));
        listed
    }
}

impl fmt::Display for ServedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order() {
        for name in ["v1-15-0", "v1-17-0", "v1-18-2", "v1-19-1", "v1-25-1", "v1-27-1", "v1-31-1", "v1-33-1"] {
            assert_eq!(ServedVersion::parse(name).map(ServedVersion::as_str), Some(name));
        }
        assert_eq!(ServedVersion::parse("v1-16-0"), None);
        assert!(ServedVersion::V1_18_2 < ServedVersion::Data(DataVersion::V1_19_1));
    }

    #[test]
    fn listed_versions_follow_linstor_per_release() {
        let names = |t: &str, v: DataVersion| -> Vec<&str> {
            ServedVersion::listed(t, v).into_iter().map(ServedVersion::as_str).collect()
        };
        assert_eq!(
            names("NODES", DataVersion::V1_31_1),
            ["v1-31-1", "v1-27-1", "v1-25-1", "v1-19-1", "v1-18-2", "v1-17-0", "v1-15-0"]
        );
        assert_eq!(names("SCHEDULES", DataVersion::V1_31_1), ["v1-31-1", "v1-27-1", "v1-25-1", "v1-19-1", "v1-18-2"]);
        assert_eq!(names("EBS_REMOTES", DataVersion::V1_31_1), ["v1-31-1", "v1-27-1", "v1-25-1", "v1-19-1"]);
        assert_eq!(names("NODES", DataVersion::V1_19_1), ["v1-19-1", "v1-18-2", "v1-17-0", "v1-15-0"]);
        assert_eq!(
            names("NODES", DataVersion::V1_33_1),
            ["v1-33-1", "v1-31-1", "v1-27-1", "v1-25-1", "v1-19-1"],
            "LINSTOR 1.34 dropped the versions before v1-19-1"
        );
        assert_eq!(names("AUTH_TOKENS", DataVersion::V1_33_1), ["v1-33-1"]);
    }
}
