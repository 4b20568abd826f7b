//! Props instance names of each data version, and the object each names.
//!
//! The two schemes are LINSTOR's `MigrationUtils_SplitSnapProps.InstanceType` (original prefix → new
//! default / alternative prefix), used by etcd migration 36 and k8s migration 23 (`v1-27-1`). Names are
//! upper-cased (`PropsDbDriver`), parts are separated by `/` and LINSTOR names hold no `/`.

use crate::schema::DataVersion;

/// An object a props instance belongs to, with its name parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PropsOwner<'a> {
    /// `/CTRL`, `/STLT` (and the old `/CTRLCFG`, `STLTCFG`): always there.
    Global,
    /// An object: its kind and key parts, as [`super::Obj`] builds them.
    Object(super::ObjKind, Vec<&'a str>),
}

/// Prefix, the object kind, and how many `/`-separated parts follow the prefix.
type Scheme = &'static [(&'static str, Option<super::ObjKind>, usize)];

use super::ObjKind as K;

/// Names from `v1-27-1` on (`LinStorObject`; `linstor-db-format.md` §4.2).
const NEW: Scheme = &[
    ("/NODES/", Some(K::Node), 1),
    ("/NODE_CONNS/", Some(K::NodeConn), 2),
    ("/RSC_GRPS/", Some(K::RscGrp), 1),
    ("/RSC_DFNS/", Some(K::RscDfn), 1),
    ("/RSCS/", Some(K::Rsc), 2),
    ("/RSC_CONNS/", Some(K::RscConn), 3),
    ("/VLM_GRPS/", Some(K::VlmGrp), 2),
    ("/VLM_DFNS/", Some(K::VlmDfn), 2),
    ("/VLMS/", Some(K::Vlm), 3),
    ("/VLM_CONNS/", Some(K::VlmConn), 4),
    ("/STOR_POOLS/", Some(K::StorPool), 2),
    ("/STOR_POOL_DFNS/", Some(K::StorPoolDfn), 1),
    ("/SNAP_DFNS_RSC_DFN/", Some(K::SnapDfn), 2),
    ("/SNAP_DFNS/", Some(K::SnapDfn), 2),
    ("/SNAPS_RSC/", Some(K::Snap), 3),
    ("/SNAPS/", Some(K::Snap), 3),
    ("/SNAP_VLMS_VLM/", Some(K::SnapVlm), 4),
    ("/SNAP_VLMS/", Some(K::SnapVlm), 4),
    ("/SNAP_VLM_DFNS_VLM_DFN/", Some(K::SnapVlmDfn), 3),
    ("/SNAP_VLM_DFNS/", Some(K::SnapVlmDfn), 3),
    ("/KVS/", Some(K::Kvs), 1),
];

/// Names before `v1-27-1` (`InstanceType.origPrefix`); `/SNAPSHOTS/` holds snapshots (3 parts) and
/// snapshot volumes (4 parts).
const OLD: Scheme = &[
    ("/NODES/", Some(K::Node), 1),
    ("/CONDFN/NODES/", Some(K::NodeConn), 2),
    ("/RESOURCEGROUPS/", Some(K::RscGrp), 1),
    ("/RESOURCEDEFINITIONS/", Some(K::RscDfn), 1),
    ("/RESOURCES/", Some(K::Rsc), 2),
    ("/CONDFN/RESOURCES/", Some(K::RscConn), 3),
    ("/VOLUMEGROUPS/", Some(K::VlmGrp), 2),
    ("/VOLUMEDEFINITIONS/", Some(K::VlmDfn), 2),
    ("/VOLUMES/", Some(K::Vlm), 3),
    ("/CONDFN/VOLUME/", Some(K::VlmConn), 4),
    ("/STORPOOLCONF/", Some(K::StorPool), 2),
    ("/STORPOOLDFNCONF/", Some(K::StorPoolDfn), 1),
    ("/SNAPSHOTDEFINITIONS/", Some(K::SnapDfn), 2),
    ("/SNAPSHOTVOLUMEDEFINITIONS/", Some(K::SnapVlmDfn), 3),
    ("/SNAPSHOTS/", None, 0),
    ("/KEYVALUESTORES/", Some(K::Kvs), 1),
];

/// The controller's props instance in this data version.
pub(crate) fn controller_instance(version: DataVersion) -> &'static str {
    if uses_new_names(version) {
        "/CTRL"
    } else {
        "/CTRLCFG"
    }
}

fn uses_new_names(version: DataVersion) -> bool {
    version >= DataVersion::V1_27_1
}

/// Why an instance name is not one of this data version's, if it is not.
pub(crate) fn parse(version: DataVersion, instance: &str) -> Result<PropsOwner<'_>, String> {
    let (scheme, globals, other, other_globals): (Scheme, [&str; 2], Scheme, [&str; 2]) = if uses_new_names(version) {
        (NEW, ["/CTRL", "/STLT"], OLD, ["/CTRLCFG", "STLTCFG"])
    } else {
        (OLD, ["/CTRLCFG", "STLTCFG"], NEW, ["/CTRL", "/STLT"])
    };
    if globals.contains(&instance) {
        return Ok(PropsOwner::Global);
    }
    let scheme_name = if uses_new_names(version) { "v1-27-1 and later" } else { "before v1-27-1" };
    // The longest matching prefix wins (`/SNAP_DFNS_RSC_DFN/` before `/SNAP_DFNS/`).
    let found = scheme.iter().filter(|(p, _, _)| instance.starts_with(p)).max_by_key(|(p, _, _)| p.len());
    let Some(&(prefix, kind, parts)) = found else {
        let other_scheme = other_globals.contains(&instance) || other.iter().any(|(p, _, _)| instance.starts_with(p));
        return Err(if other_scheme {
            format!(
                "{instance:?} is named the {} way, but a {version} database uses the names of LINSTOR {scheme_name}",
                if uses_new_names(version) { "old (before v1-27-1)" } else { "new (v1-27-1)" }
            )
        } else {
            format!("{instance:?} is no props instance name LINSTOR knows ({scheme_name})")
        });
    };
    let rest: Vec<&str> = instance[prefix.len()..].split('/').collect();
    let (kind, parts) = match kind {
        Some(kind) => (kind, parts),
        // Old `/SNAPSHOTS/NODE/RSC/SNAP` (snapshot) or `/SNAPSHOTS/NODE/RSC/SNAP/VLMNR` (snapshot volume).
        None if rest.len() == 3 => (K::Snap, 3),
        None => (K::SnapVlm, 4),
    };
    if rest.len() != parts || rest.iter().any(|p| p.is_empty()) {
        return Err(format!("{instance:?} has {} name parts after {prefix}, LINSTOR writes {parts}", rest.len()));
    }
    Ok(PropsOwner::Object(kind, rest))
}
