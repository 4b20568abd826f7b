//! LINSTOR's database schema for every data version this tool knows (`v1-19-1` … `v1-33-1`).
//!
//! Pure data: tables, columns, `java.sql.Types` codes, primary keys and the CRD kind / plural each
//! table has on Kubernetes. See `linstor-db-format.md` §4 and Appendix A.

mod served;
mod tables;
pub mod upgrade;
mod versions;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

pub use served::ServedVersion;
pub use versions::{LinstorVersion, Release, RELEASES};

use crate::error::{Error, Result};

/// A LINSTOR CRD / export data version (`GenCrdCurrent.VERSION` of a release line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataVersion {
    /// LINSTOR 1.20 – 1.25.
    V1_19_1,
    /// LINSTOR 1.26 – 1.27.
    V1_25_1,
    /// LINSTOR 1.28 – 1.31.
    V1_27_1,
    /// LINSTOR 1.32 – 1.33.x, the last releases with the etcd backend.
    V1_31_1,
    /// LINSTOR 1.34.
    V1_33_1,
}

impl DataVersion {
    /// Every known data version, oldest first.
    pub const ALL: [DataVersion; 5] =
        [DataVersion::V1_19_1, DataVersion::V1_25_1, DataVersion::V1_27_1, DataVersion::V1_31_1, DataVersion::V1_33_1];

    /// The newest data version the etcd backend ever stored (LINSTOR 1.33.x).
    pub const LAST_ETCD: DataVersion = DataVersion::V1_31_1;

    /// The name as LINSTOR writes it (`v1-31-1`), also the CRD version name.
    pub fn as_str(self) -> &'static str {
        match self {
            DataVersion::V1_19_1 => "v1-19-1",
            DataVersion::V1_25_1 => "v1-25-1",
            DataVersion::V1_27_1 => "v1-27-1",
            DataVersion::V1_31_1 => "v1-31-1",
            DataVersion::V1_33_1 => "v1-33-1",
        }
    }

    /// The schema (tables and columns) of this data version.
    pub fn schema(self) -> &'static Schema {
        static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| DataVersion::ALL.iter().map(|v| Schema::build(*v)).collect());
        &all[self as usize]
    }
}

impl fmt::Display for DataVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DataVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| Error::UnknownDataVersion { found: s.to_owned() })
    }
}

/// A column's SQL type; the number is the `java.sql.Types` code written in export files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlType {
    /// `CHAR` (1)
    Char,
    /// `VARCHAR` (12)
    Varchar,
    /// `CLOB` (2005)
    Clob,
    /// `BLOB` (2004), stored as standard Base64 everywhere.
    Blob,
    /// `BIGINT` (-5)
    Bigint,
    /// `INTEGER` (4)
    Integer,
    /// `SMALLINT` (5)
    Smallint,
    /// `BOOLEAN` (16)
    Boolean,
    /// `TIMESTAMP` (93), epoch milliseconds.
    Timestamp,
    /// `DATE` (91), epoch milliseconds; only in data versions up to `v1-31-1`.
    Date,
}

/// How a column's value is represented in rows (and in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A string (text, or Base64 for blobs).
    Text,
    /// A signed integer (integers, timestamps and dates as epoch ms).
    Int,
    /// A boolean.
    Bool,
}

impl SqlType {
    /// The `java.sql.Types` code.
    pub fn code(self) -> i32 {
        match self {
            SqlType::Char => 1,
            SqlType::Varchar => 12,
            SqlType::Clob => 2005,
            SqlType::Blob => 2004,
            SqlType::Bigint => -5,
            SqlType::Integer => 4,
            SqlType::Smallint => 5,
            SqlType::Boolean => 16,
            SqlType::Timestamp => 93,
            SqlType::Date => 91,
        }
    }

    /// The value representation of this type.
    pub fn kind(self) -> ValueKind {
        match self {
            SqlType::Char | SqlType::Varchar | SqlType::Clob | SqlType::Blob => ValueKind::Text,
            SqlType::Bigint | SqlType::Integer | SqlType::Smallint | SqlType::Timestamp | SqlType::Date => {
                ValueKind::Int
            }
            SqlType::Boolean => ValueKind::Bool,
        }
    }

    /// The inclusive range of values a column of this type can hold.
    pub fn int_range(self) -> Option<(i64, i64)> {
        match self {
            SqlType::Integer => Some((i32::MIN.into(), i32::MAX.into())),
            SqlType::Smallint => Some((i16::MIN.into(), i16::MAX.into())),
            SqlType::Bigint | SqlType::Timestamp | SqlType::Date => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Upper-case SQL name (`NODE_DSP_NAME`); also the etcd key suffix.
    pub name: &'static str,
    /// Lower-case name (`node_dsp_name`): the CR spec field and the export-JSON row key.
    pub field: String,
    /// SQL type.
    pub sql_type: SqlType,
    /// Part of the primary key.
    pub primary_key: bool,
    /// May be NULL.
    pub nullable: bool,
}

/// One table of a data version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Upper-case SQL name (`NODE_NET_INTERFACES`); also the etcd key segment.
    pub name: &'static str,
    /// CRD kind (`NodeNetInterfaces`).
    pub kind: String,
    /// CRD plural and singular (`nodenetinterfaces`).
    pub plural: String,
    /// Columns in LINSTOR's order (export order, CR field order).
    pub columns: Vec<Column>,
}

impl Table {
    /// Index of the column with this upper-case name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Index of the column with this lower-case field name.
    pub fn field_index(&self, field: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.field == field)
    }

    /// Indexes of the primary-key columns in column order (LINSTOR's key order).
    pub fn pk_indexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.columns.iter().enumerate().filter(|(_, c)| c.primary_key).map(|(i, _)| i)
    }

    /// True when every column is part of the primary key (`SEC_ID_ROLE_MAP`).
    pub fn all_columns_primary(&self) -> bool {
        self.columns.iter().all(|c| c.primary_key)
    }

    /// True when the table has no primary key (`TRACKING_DATE`).
    pub fn has_primary_key(&self) -> bool {
        self.columns.iter().any(|c| c.primary_key)
    }

    /// The columns that identify a row: the primary key, or every column when there is none.
    pub fn identity_indexes(&self) -> Vec<usize> {
        if self.has_primary_key() {
            self.pk_indexes().collect()
        } else {
            (0..self.columns.len()).collect()
        }
    }

    /// The CRD name, `<plural>.internal.linstor.linbit.com`.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, crate::K8S_GROUP)
    }
}

/// The tables of one data version, in LINSTOR's `ALL_TABLES` order.
#[derive(Debug)]
pub struct Schema {
    /// The data version.
    pub version: DataVersion,
    /// Tables in export/import order.
    pub tables: Vec<Table>,
}

impl Schema {
    fn build(version: DataVersion) -> Schema {
        let tables = tables::TABLES
            .iter()
            .filter(|t| t.since <= version && version <= t.until)
            .map(|t| Table {
                name: t.name,
                kind: kind_of(t.name),
                plural: t.name.replace('_', "").to_lowercase(),
                columns: t
                    .columns
                    .iter()
                    .filter(|c| c.since <= version && version <= c.until)
                    .map(|c| Column {
                        name: c.name,
                        field: c.name.to_lowercase(),
                        sql_type: c.sql_type,
                        primary_key: c.primary_key,
                        nullable: c.nullable,
                    })
                    .collect(),
            })
            .collect();
        Schema { version, tables }
    }

    /// The table with this upper-case name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The table with this name, or an error naming the data version.
    pub fn require_table(&self, name: &str) -> Result<&Table> {
        self.table(name).ok_or_else(|| Error::UnknownTable { table: name.to_owned(), data_version: self.version })
    }
}

/// `NODE_NET_INTERFACES` → `NodeNetInterfaces`, `S3_REMOTES` → `S3Remotes`.
fn kind_of(table: &str) -> String {
    table
        .split('_')
        .map(|word| {
            let lower = word.to_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The `SEC_ACCESS_TYPES` rows every fresh LINSTOR database gets from its init migration. The table is
/// never exported, so an import into an empty store adds them.
pub const DEFAULT_ACCESS_TYPES: [(&str, i64); 4] = [("CONTROL", 15), ("CHANGE", 7), ("USE", 3), ("VIEW", 1)];

/// Tables LINSTOR's `export-db` never writes (no DB driver).
pub const NEVER_EXPORTED: &[&str] = &["SEC_ACCESS_TYPES"];

/// Tables LINSTOR exports only when its space-tracking module is loaded; we write them when they hold rows.
pub const SPACE_TRACKING: &[&str] = &["SATELLITES_CAPACITY", "SPACE_HISTORY", "TRACKING_DATE"];

/// Static definition of a table across data versions (see `tables.rs`).
struct TableDef {
    name: &'static str,
    since: DataVersion,
    until: DataVersion,
    columns: &'static [ColumnDef],
}

/// Static definition of a column across data versions.
struct ColumnDef {
    name: &'static str,
    sql_type: SqlType,
    primary_key: bool,
    nullable: bool,
    since: DataVersion,
    until: DataVersion,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_counts_per_version_match_linstor() {
        let counts: Vec<usize> = DataVersion::ALL.iter().map(|v| v.schema().tables.len()).collect();
        assert_eq!(counts, vec![45, 43, 43, 43, 44]);
    }

    #[test]
    fn current_order_starts_like_all_tables() {
        let names: Vec<&str> = DataVersion::V1_33_1.schema().tables.iter().map(|t| t.name).take(8).collect();
        assert_eq!(
            names,
            [
                "AUTH_TOKENS",
                "EBS_REMOTES",
                "FILES",
                "KEY_VALUE_STORE",
                "NODES",
                "RESOURCE_DEFINITIONS",
                "RESOURCES",
                "LAYER_RESOURCE_IDS"
            ]
        );
        let last = DataVersion::V1_33_1.schema().tables.last().map(|t| t.name);
        assert_eq!(last, Some("VOLUME_GROUPS"));
    }

    #[test]
    fn kinds_and_plurals() {
        let s = DataVersion::V1_33_1.schema();
        let t = s.table("NODE_NET_INTERFACES").unwrap();
        assert_eq!((t.kind.as_str(), t.plural.as_str()), ("NodeNetInterfaces", "nodenetinterfaces"));
        assert_eq!(s.table("S3_REMOTES").unwrap().kind, "S3Remotes");
        assert_eq!(s.table("KEY_VALUE_STORE").unwrap().crd_name(), "keyvaluestore.internal.linstor.linbit.com");
    }

    #[test]
    fn version_differences_from_the_format_doc() {
        let col = |v: DataVersion, t: &str, c: &str| {
            v.schema().table(t).and_then(|t| t.column_index(c).map(|i| t.columns[i].clone()))
        };
        assert!(col(DataVersion::V1_19_1, "RESOURCE_GROUPS", "PEER_SLOTS").is_none());
        assert!(col(DataVersion::V1_25_1, "RESOURCE_GROUPS", "PEER_SLOTS").is_some());
        assert!(col(DataVersion::V1_25_1, "RESOURCE_GROUPS", "X_REPLICAS_ON_DIFFERENT").is_none());
        assert!(col(DataVersion::V1_27_1, "RESOURCE_CONNECTIONS", "TCP_PORT").is_some());
        assert!(col(DataVersion::V1_31_1, "RESOURCE_CONNECTIONS", "TCP_PORT").is_none());
        assert!(col(DataVersion::V1_31_1, "LAYER_DRBD_RESOURCES", "TCP_PORT_LIST").is_some());
        assert_eq!(col(DataVersion::V1_31_1, "SPACE_HISTORY", "ENTRY_DATE").unwrap().sql_type, SqlType::Date);
        assert_eq!(col(DataVersion::V1_33_1, "SPACE_HISTORY", "ENTRY_DATE").unwrap().sql_type, SqlType::Timestamp);
        assert!(col(DataVersion::V1_31_1, "FILES", "ALT_SUFFIXES").is_none());
        assert!(DataVersion::V1_19_1.schema().table("LAYER_OPENFLEX_VOLUMES").is_some());
        assert!(DataVersion::V1_25_1.schema().table("LAYER_OPENFLEX_VOLUMES").is_none());
        assert!(DataVersion::V1_31_1.schema().table("AUTH_TOKENS").is_none());
    }

    #[test]
    fn data_version_round_trips_its_name() {
        for v in DataVersion::ALL {
            assert_eq!(v.as_str().parse::<DataVersion>().unwrap(), v);
        }
        assert!("v1-15-0".parse::<DataVersion>().is_err());
    }
}
