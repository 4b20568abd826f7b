//! What a backup whose objects were read at an older *served* version cannot hold.
//!
//! LINSTOR's CRDs have conversion strategy `None`, so the API server returns a stored object at any
//! served version by rewriting `apiVersion` and pruning the fields that version's schema lacks.
//! `kubectl get` (LINSTOR's container entrypoint, Operator v2's init container, the documented manual
//! procedure) asks for the preferred version, the oldest one for LINSTOR's version names, so those
//! backups lack every column added since: LayerDrbdResources `tcp_port_list`, ResourceConnections
//! `tcp_port_src`/`tcp_port_dst`, ResourceGroups `peer_slots`/`x_replicas_on_different`, …
//!
//! The reader never invents a value for a pruned column: it reads as NULL (absent), also for NOT NULL
//! columns (a field LINSTOR's k8s loader reads as 0 / empty when absent), and the backup reports the
//! column as lost with what LINSTOR does without it. `restore` refuses such a backup unless the
//! operator accepts that (`--accept-lost-columns`).

use crate::error::{Error, Result};
use crate::export::ExportMeta;
use crate::schema::{Column, ServedVersion, Table};

/// A column of the storage schema that objects read at an older served version do not have.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LostColumn {
    /// Table (`LAYER_DRBD_RESOURCES`).
    pub table: String,
    /// CRD kind (`LayerDrbdResources`).
    pub kind: String,
    /// Column (`TCP_PORT_LIST`).
    pub column: String,
    /// CR field (`tcp_port_list`).
    pub field: String,
    /// The version the objects were served at.
    pub served_version: String,
    /// Whether the column may be NULL in LINSTOR's schema.
    pub nullable: bool,
    /// Objects of the table read at that version (each lacks the column).
    pub objects: u64,
    /// When compared against another store or export: its rows of the table with a value in the
    /// column, i.e. data this backup lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values_elsewhere: Option<u64>,
    /// What LINSTOR does without the values.
    pub effect: String,
}

/// The columns of `table` (storage schema) that `served`'s schema lacks: the API server pruned them
/// from every object it returned at `served`.
pub fn pruned_columns(table: &'static Table, served: ServedVersion) -> Vec<&'static Column> {
    let served_fields: Vec<&str> =
        served.columns(table.name).unwrap_or_default().into_iter().map(|c| c.field.as_str()).collect();
    table.columns.iter().filter(|c| !served_fields.contains(&c.field.as_str())).collect()
}

/// The lost columns of `objects` objects of `table` read at `served`.
pub fn lost_columns(table: &'static Table, served: ServedVersion, objects: u64) -> Vec<LostColumn> {
    pruned_columns(table, served)
        .into_iter()
        .map(|c| LostColumn {
            table: table.name.to_owned(),
            kind: table.kind.clone(),
            column: c.name.to_owned(),
            field: c.field.clone(),
            served_version: served.as_str().to_owned(),
            nullable: c.nullable,
            objects,
            values_elsewhere: None,
            effect: effect(table.name, c.name).to_owned(),
        })
        .collect()
}

/// What LINSTOR does when `column` of `table` is missing after a restore.
pub fn effect(table: &str, column: &str) -> &'static str {
    match (table, column) {
        ("LAYER_DRBD_RESOURCES", "TCP_PORT_LIST") => {
            "the DRBD TCP ports of each resource are gone: LINSTOR allocates ports again, so DRBD connections may change ports"
        }
        ("RESOURCE_CONNECTIONS", "TCP_PORT_SRC" | "TCP_PORT_DST") | ("RESOURCE_CONNECTIONS", "TCP_PORT") => {
            "the TCP ports of resource connections are gone: LINSTOR assigns them again; set ports chosen by hand again"
        }
        ("RESOURCE_GROUPS", "PEER_SLOTS") => {
            "the peer slots set on resource groups are gone: set them again (linstor resource-group modify … --peer-slots)"
        }
        ("RESOURCE_GROUPS", "X_REPLICAS_ON_DIFFERENT") => {
            "the --x-replicas-on-different placement rules of resource groups are gone: set them again"
        }
        ("SATELLITES_CAPACITY", _) | ("SPACE_HISTORY", _) | ("TRACKING_DATE", _) => {
            "space-tracking data: LINSTOR recomputes it from the satellites' reports"
        }
        ("FILES", "ALT_SUFFIXES") => "the alternative suffixes of external files read as LINSTOR's default (none)",
        _ => "the values are gone; LINSTOR reads the column as empty",
    }
}

/// `Kind.field` of each lost column, joined.
pub fn names(lost: &[LostColumn]) -> String {
    let mut names: Vec<String> = lost.iter().map(|l| format!("{}.{}", l.kind, l.field)).collect();
    names.dedup();
    names.join(", ")
}

/// Distinct lost columns (a column lost at two served versions counts once).
pub fn count(lost: &[LostColumn]) -> usize {
    let mut keys: Vec<(&str, &str)> = lost.iter().map(|l| (l.table.as_str(), l.column.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

/// The `backup list` note of a backup: `objects at v1-19-1, 2 columns lost`; empty when the objects
/// are at the storage version.
pub fn note(meta: &ExportMeta) -> String {
    if meta.objects_at.is_empty() {
        return String::new();
    }
    let mut note = format!("objects at {}", meta.objects_at.join(", "));
    match count(&meta.lost_columns) {
        0 => {}
        1 => note.push_str(", 1 column lost"),
        n => note.push_str(&format!(", {n} columns lost")),
    }
    note
}

/// Refuses to restore a backup with lost columns unless `accept`; the message names each column and
/// what LINSTOR will do without it.
pub fn check_restore(meta: &ExportMeta, accept: bool, what: &str) -> Result<()> {
    if meta.lost_columns.is_empty() || accept {
        return Ok(());
    }
    let mut detail: Vec<String> = Vec::new();
    for lost in &meta.lost_columns {
        let line = format!(
            "{}.{} ({} objects at {}): {}",
            lost.kind, lost.field, lost.objects, lost.served_version, lost.effect
        );
        if !detail.contains(&line) {
            detail.push(line);
        }
    }
    Err(Error::Refused(format!(
        "restore refused: {what} was read by the API server at {} instead of its storage version {}, which pruned {} columns from its objects; restoring it loses them. {}. Restore from a backup taken at the storage version (linstor-db backup --from k8s), or accept the loss with --accept-lost-columns",
        meta.objects_at.join(", "),
        meta.data_version,
        count(&meta.lost_columns),
        detail.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{DataVersion, Release};

    fn table(name: &str) -> &'static Table {
        DataVersion::V1_31_1.schema().table(name).unwrap()
    }

    #[test]
    fn pruned_columns_of_the_issue() {
        let at = |v: &str| ServedVersion::parse(v).unwrap();
        let names =
            |t: &str, v: &str| -> Vec<&str> { pruned_columns(table(t), at(v)).iter().map(|c| c.name).collect() };
        assert_eq!(names("LAYER_DRBD_RESOURCES", "v1-15-0"), ["TCP_PORT_LIST"]);
        assert_eq!(names("RESOURCE_CONNECTIONS", "v1-19-1"), ["TCP_PORT_SRC", "TCP_PORT_DST"]);
        assert_eq!(names("RESOURCE_GROUPS", "v1-19-1"), ["X_REPLICAS_ON_DIFFERENT", "PEER_SLOTS"]);
        assert_eq!(names("RESOURCE_GROUPS", "v1-25-1"), ["X_REPLICAS_ON_DIFFERENT"]);
        assert_eq!(names("SATELLITES_CAPACITY", "v1-15-0"), ["ALLOCATED", "USABLE"]);
        assert!(names("SATELLITES_CAPACITY", "v1-17-0").is_empty());
        assert!(names("NODES", "v1-15-0").is_empty());
        assert!(names("RESOURCE_GROUPS", "v1-31-1").is_empty());
    }

    #[test]
    fn restore_is_refused_with_the_columns_named_unless_accepted() {
        let mut meta = ExportMeta::for_release(Release::newest_with(DataVersion::V1_31_1), "k8s", 0);
        assert!(check_restore(&meta, false, "b").is_ok());
        assert_eq!(note(&meta), "");
        meta.objects_at = vec!["v1-15-0".into()];
        meta.lost_columns = lost_columns(table("RESOURCE_CONNECTIONS"), ServedVersion::V1_15_0, 3);
        meta.lost_columns.extend(lost_columns(table("LAYER_DRBD_RESOURCES"), ServedVersion::V1_15_0, 50));
        assert_eq!(note(&meta), "objects at v1-15-0, 3 columns lost");
        let err = check_restore(&meta, false, "b").unwrap_err().to_string();
        for part in [
            "ResourceConnections.tcp_port_src",
            "ResourceConnections.tcp_port_dst",
            "LayerDrbdResources.tcp_port_list",
            "50 objects at v1-15-0",
            "--accept-lost-columns",
            "allocates ports again",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
        assert!(check_restore(&meta, true, "b").is_ok());
    }
}
