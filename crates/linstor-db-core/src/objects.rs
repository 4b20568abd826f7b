//! How LINSTOR names its objects inside its own tables: the `PROPS_INSTANCE` of every properties
//! container, per data version, and the `OBJECT_PATH` of the security rows. Pure data, shared by the
//! generator and `linstor-db check`.
//!
//! Props instance names changed with data version `v1-27-1` (LINSTOR 1.28; SQL migration
//! `2024.10.24.10.00`, etcd migration 36, k8s migration 23, all driven by LINSTOR's
//! `MigrationUtils_SplitSnapProps.InstanceType`): the old prefixes (`/RESOURCEDEFINITIONS/…`) became
//! short ones (`/RSC_DFNS/…`), and a snapshot's own properties were split from the properties of the
//! resource it snapshotted. A database must use the scheme of its data version: LINSTOR's migration
//! stops with `Unrecognized instance name type` on a name it does not know.

use crate::schema::DataVersion;

/// An object that owns a properties container. Names are LINSTOR's upper-case keys (`K8S-WORKER-000`),
/// volume numbers are decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropsOwner<'a> {
    /// The controller's own configuration.
    Controller,
    /// The configuration the controller sends to every satellite.
    Satellite,
    /// A node.
    Node(&'a str),
    /// A connection between two nodes.
    NodeConnection(&'a str, &'a str),
    /// A resource group.
    ResourceGroup(&'a str),
    /// A volume group (resource group, volume number).
    VolumeGroup(&'a str, i64),
    /// A resource definition.
    ResourceDefinition(&'a str),
    /// A resource (node, resource).
    Resource(&'a str, &'a str),
    /// A resource connection (source node, target node, resource).
    ResourceConnection(&'a str, &'a str, &'a str),
    /// A volume definition (resource, volume number).
    VolumeDefinition(&'a str, i64),
    /// A volume (node, resource, volume number).
    Volume(&'a str, &'a str, i64),
    /// A volume connection (source node, target node, resource, volume number).
    VolumeConnection(&'a str, &'a str, &'a str, i64),
    /// A storage pool on a node (node, pool).
    StorPool(&'a str, &'a str),
    /// A storage-pool definition.
    StorPoolDefinition(&'a str),
    /// A key-value store.
    KeyValueStore(&'a str),
    /// A snapshot definition's own properties (resource, snapshot).
    SnapshotDefinition(&'a str, &'a str),
    /// A snapshot's own properties (node, resource, snapshot).
    Snapshot(&'a str, &'a str, &'a str),
}

/// `(new prefix, old prefix)` of each owner; the old one is used before `v1-27-1`. Before the split
/// a snapshot and a snapshot definition had one container each (the old prefix holds both); the new
/// scheme keeps the snapshotted resource's properties under `/SNAPS_RSC/`, `/SNAP_DFNS_RSC_DFN/`.
fn prefixes(owner: &PropsOwner<'_>) -> (&'static str, &'static str) {
    match owner {
        // The controller and satellite names have no trailing separator; the old satellite one has no
        // leading slash either (LINSTOR's `STLTCFG`).
        PropsOwner::Controller => ("/CTRL", "/CTRLCFG"),
        PropsOwner::Satellite => ("/STLT", "STLTCFG"),
        PropsOwner::Node(_) => ("/NODES/", "/NODES/"),
        PropsOwner::NodeConnection(..) => ("/NODE_CONNS/", "/CONDFN/NODES/"),
        PropsOwner::ResourceGroup(_) => ("/RSC_GRPS/", "/RESOURCEGROUPS/"),
        PropsOwner::VolumeGroup(..) => ("/VLM_GRPS/", "/VOLUMEGROUPS/"),
        PropsOwner::ResourceDefinition(_) => ("/RSC_DFNS/", "/RESOURCEDEFINITIONS/"),
        PropsOwner::Resource(..) => ("/RSCS/", "/RESOURCES/"),
        PropsOwner::ResourceConnection(..) => ("/RSC_CONNS/", "/CONDFN/RESOURCES/"),
        PropsOwner::VolumeDefinition(..) => ("/VLM_DFNS/", "/VOLUMEDEFINITIONS/"),
        PropsOwner::Volume(..) => ("/VLMS/", "/VOLUMES/"),
        PropsOwner::VolumeConnection(..) => ("/VLM_CONNS/", "/CONDFN/VOLUME/"),
        PropsOwner::StorPool(..) => ("/STOR_POOLS/", "/STORPOOLCONF/"),
        PropsOwner::StorPoolDefinition(_) => ("/STOR_POOL_DFNS/", "/STORPOOLDFNCONF/"),
        PropsOwner::KeyValueStore(_) => ("/KVS/", "/KEYVALUESTORES/"),
        PropsOwner::SnapshotDefinition(..) => ("/SNAP_DFNS/", "/SNAPSHOTDEFINITIONS/"),
        PropsOwner::Snapshot(..) => ("/SNAPS/", "/SNAPSHOTS/"),
    }
}

/// The first data version with the short instance names.
pub const SHORT_INSTANCE_NAMES_SINCE: DataVersion = DataVersion::V1_27_1;

impl PropsOwner<'_> {
    /// The `PROPS_INSTANCE` LINSTOR writes for this owner in `version`.
    pub fn instance_name(&self, version: DataVersion) -> String {
        let (new, old) = prefixes(self);
        let prefix = if version >= SHORT_INSTANCE_NAMES_SINCE { new } else { old };
        let parts: Vec<String> = match *self {
            PropsOwner::Controller | PropsOwner::Satellite => Vec::new(),
            PropsOwner::Node(n)
            | PropsOwner::ResourceGroup(n)
            | PropsOwner::ResourceDefinition(n)
            | PropsOwner::StorPoolDefinition(n)
            | PropsOwner::KeyValueStore(n) => vec![n.to_owned()],
            PropsOwner::NodeConnection(a, b) | PropsOwner::Resource(a, b) | PropsOwner::StorPool(a, b) => {
                vec![a.to_owned(), b.to_owned()]
            }
            PropsOwner::SnapshotDefinition(r, s) => vec![r.to_owned(), s.to_owned()],
            PropsOwner::VolumeGroup(n, v) | PropsOwner::VolumeDefinition(n, v) => vec![n.to_owned(), v.to_string()],
            PropsOwner::ResourceConnection(a, b, r) | PropsOwner::Snapshot(a, b, r) => {
                vec![a.to_owned(), b.to_owned(), r.to_owned()]
            }
            PropsOwner::Volume(n, r, v) => vec![n.to_owned(), r.to_owned(), v.to_string()],
            PropsOwner::VolumeConnection(a, b, r, v) => vec![a.to_owned(), b.to_owned(), r.to_owned(), v.to_string()],
        };
        format!("{prefix}{}", parts.join("/"))
    }
}

/// The `OBJECT_PATH` of the security rows (`SEC_OBJECT_PROTECTION`, `SEC_ACL_MAP`) LINSTOR keeps for
/// each object it protects (`ObjectProtection.build*Path`); the same in every data version.
pub mod object_path {
    /// A node.
    pub fn node(node: &str) -> String {
        format!("/nodes/{node}")
    }
    /// A resource definition.
    pub fn resource_definition(resource: &str) -> String {
        format!("/resourcedefinitions/{resource}")
    }
    /// A resource (not a snapshot) on a node.
    pub fn resource(node: &str, resource: &str) -> String {
        format!("/resources/{node}/{resource}")
    }
    /// A snapshot definition.
    pub fn snapshot_definition(resource: &str, snapshot: &str) -> String {
        format!("/snapshotdefinitions/{resource}/{snapshot}")
    }
    /// A resource group.
    pub fn resource_group(group: &str) -> String {
        format!("/resourcegroups/{group}")
    }
    /// A storage-pool definition.
    pub fn stor_pool_definition(pool: &str) -> String {
        format!("/storpooldefinitions/{pool}")
    }
    /// A key-value store.
    pub fn key_value_store(name: &str) -> String {
        format!("/keyvaluestores/{name}")
    }
    /// An external file (its path follows the prefix, so two slashes).
    pub fn external_file(path: &str) -> String {
        format!("/extfiles/{path}")
    }
    /// A backup schedule.
    pub fn schedule(name: &str) -> String {
        format!("/schedule/{name}")
    }
    /// A remote (S3, LINSTOR, EBS).
    pub fn remote(name: &str) -> String {
        format!("/remote/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_follow_the_data_version() {
        let v = PropsOwner::Volume("N1", "RSC", 0);
        assert_eq!(v.instance_name(DataVersion::V1_31_1), "/VLMS/N1/RSC/0");
        assert_eq!(v.instance_name(DataVersion::V1_25_1), "/VOLUMES/N1/RSC/0");
        assert_eq!(PropsOwner::Controller.instance_name(DataVersion::V1_33_1), "/CTRL");
        assert_eq!(PropsOwner::Controller.instance_name(DataVersion::V1_19_1), "/CTRLCFG");
        assert_eq!(PropsOwner::Satellite.instance_name(DataVersion::V1_19_1), "STLTCFG");
        assert_eq!(PropsOwner::StorPool("N1", "POOL1").instance_name(DataVersion::V1_19_1), "/STORPOOLCONF/N1/POOL1");
        assert_eq!(
            PropsOwner::Snapshot("N1", "RSC", "SNAP").instance_name(DataVersion::V1_19_1),
            "/SNAPSHOTS/N1/RSC/SNAP"
        );
        assert_eq!(PropsOwner::KeyValueStore("K").instance_name(DataVersion::V1_27_1), "/KVS/K");
        assert_eq!(PropsOwner::KeyValueStore("K").instance_name(DataVersion::V1_25_1), "/KEYVALUESTORES/K");
    }
}
