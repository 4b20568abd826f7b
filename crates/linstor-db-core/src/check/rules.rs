//! The rules: one variant per LINSTOR load-time invariant, each with a stable kebab-case name and the
//! LINSTOR behaviour it comes from.

/// One invariant LINSTOR relies on when its controller loads the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A column LINSTOR's schema declares NOT NULL (every primary-key column among them; `is_nullable`
    /// false in its export) holds NULL. LINSTOR never writes such a row; written anyway, etcd gets
    /// keys like `/NODES/null/…` or values `:null` and Kubernetes objects without the field (issue 14,
    /// item 2). Columns the API server pruned from a backup (`crate::lost`, accepted with
    /// `--accept-lost-columns`) are exempt.
    NotNull,
    /// Two rows of a table have the same primary key but different values. Both stores keep one row
    /// per key (the etcd key, the custom resource's name), so one of them would be lost silently, or
    /// the etcd write fails with "`duplicate key given in txn request`" (issue 14, item 2).
    PrimaryKeyUnique,
    /// The same row twice (same primary key, same values). Written once, nothing is lost; LINSTOR's
    /// own migration by 1.34.0-rc.1 duplicates `SPACE_HISTORY` and `TRACKING_DATE` rows this way
    /// (issue 16, item 4), so this rule does not refuse a write.
    DuplicateRow,
    /// A value larger than one etcd request may be: every column is one key, put in a transaction,
    /// and etcd refuses requests over its `--max-request-bytes` (1.5 MiB by default; LINSTOR's own etcd
    /// writes hit the same limit). Seen as "`grpc: received message larger than max`" after 17,734
    /// keys had been written (issue 14, item 2).
    EtcdValueSize,
    /// A row whose custom resource is larger than the API server can store: it keeps each object as
    /// one etcd value under the same 1.5 MiB request limit ("`etcdserver: request is too large`").
    K8sObjectSize,
    /// `NODE_NET_INTERFACES.NODE_NAME` names an existing `NODES` row. `NetInterfaceDbDriver` looks the
    /// node up while loading and fails with "`Database entry of table NODE_NET_INTERFACES could not be
    /// restored`" (issue 12, item 6: a deleted node whose net interface stayed behind).
    NetInterfaceNode,
    /// `RESOURCES.NODE_NAME` (resources and snapshots) names an existing node; `ResourceDbDriver` /
    /// `SnapshotDbDriver` resolve the node from the loaded node map and fail the load without it.
    ResourceNode,
    /// A resource (`RESOURCES` row, `SNAPSHOT_NAME` "") has its resource definition
    /// (`RESOURCE_DEFINITIONS` row with the same name and `SNAPSHOT_NAME` ""); `ResourceDbDriver` takes it
    /// from the loaded definition map.
    ResourceDefinition,
    /// Every snapshot object (a `RESOURCES`, `VOLUMES`, `VOLUME_DEFINITIONS`, `LAYER_RESOURCE_IDS`,
    /// `LAYER_DRBD_*_DEFINITIONS` or `RESOURCE_CONNECTIONS` row with a non-empty `SNAPSHOT_NAME`) has its
    /// snapshot definition (the `RESOURCE_DEFINITIONS` row with that `SNAPSHOT_NAME`), and every snapshot
    /// definition its resource definition; `SnapshotDbDriver`, `SnapshotVolumeDbDriver` and
    /// `SnapshotVolumeDefinitionDbDriver` resolve their parents from the loaded maps.
    SnapshotDefinition,
    /// `VOLUMES` rows (volumes and snapshot volumes) have their resource (`RESOURCES` row of the same
    /// node, resource and snapshot name); `VolumeDbDriver` loads volumes into their resource.
    VolumeResource,
    /// `VOLUMES` rows have their volume definition (same resource, snapshot name and volume number);
    /// `VolumeDbDriver` resolves it from the loaded volume definitions.
    VolumeDefinition,
    /// `VOLUME_DEFINITIONS` rows have their resource (or snapshot) definition;
    /// `VolumeDefinitionDbDriver` loads them into it.
    VolumeDefinitionOwner,
    /// `RESOURCE_DEFINITIONS.RESOURCE_GROUP_NAME` names an existing `RESOURCE_GROUPS` row;
    /// `ResourceDefinitionDbDriver` resolves the group from the loaded group map.
    ResourceGroup,
    /// `VOLUME_GROUPS` rows have their resource group; `VolumeGroupDbDriver` loads them into it.
    VolumeGroupOwner,
    /// `NODE_STOR_POOL` rows have their node; `StorPoolDbDriver` resolves it from the node map.
    StoragePoolNode,
    /// `NODE_STOR_POOL` rows have their `STOR_POOL_DEFINITIONS` row; `StorPoolDbDriver` resolves it from
    /// the storage-pool definition map.
    StoragePoolDefinition,
    /// `NODE_CONNECTIONS`, `RESOURCE_CONNECTIONS` and `VOLUME_CONNECTIONS` rows connect existing nodes,
    /// resources and volumes; their drivers resolve both ends from the loaded objects.
    ConnectionEnds,
    /// `LAYER_RESOURCE_IDS` rows belong to an existing resource or snapshot (`NODE_NAME`,
    /// `RESOURCE_NAME`, `SNAPSHOT_NAME`); LINSTOR's layer loader attaches each layer tree to its
    /// resource.
    LayerResourceOwner,
    /// `LAYER_RESOURCE_IDS.LAYER_RESOURCE_PARENT_ID`, when set, names an existing layer resource id; the
    /// layer loader builds the tree from the parent ids.
    LayerResourceParent,
    /// The per-layer rows (`LAYER_DRBD_RESOURCES`, `LAYER_DRBD_VOLUMES`, `LAYER_STORAGE_VOLUMES`,
    /// `LAYER_LUKS_VOLUMES`, `LAYER_CACHE_VOLUMES`, `LAYER_WRITECACHE_VOLUMES`, `LAYER_BCACHE_VOLUMES`,
    /// `LAYER_NVME_*`, `LAYER_OPENFLEX_VOLUMES`) name an existing layer resource id; the layer drivers
    /// load their data for the ids of `LAYER_RESOURCE_IDS`. The DRBD definition rows
    /// (`LAYER_DRBD_RESOURCE_DEFINITIONS`, `LAYER_DRBD_VOLUME_DEFINITIONS`) need their resource / volume
    /// definition.
    LayerDataOwner,
    /// The storage pools layer volumes name exist on their node: `LAYER_STORAGE_VOLUMES`
    /// (`NODE_NAME`, `STOR_POOL_NAME`) and, when set, the external-metadata pool of
    /// `LAYER_DRBD_VOLUMES` (`NODE_NAME`, `POOL_NAME`) are `NODE_STOR_POOL` rows; the layer drivers
    /// resolve them from the node's loaded storage pools.
    LayerStoragePool,
    /// Every object LINSTOR protects has its `SEC_OBJECT_PROTECTION` row: `/nodes/N`,
    /// `/resourcedefinitions/R`, `/resources/NODE/R`, `/snapshotdefinitions/R/S`, `/resourcegroups/G`,
    /// `/storpooldefinitions/P`, `/keyvaluestores/K`, `/extfiles/PATH`, `/schedule/S`, `/remote/R` (as in
    /// the LINSTOR-written reference files). Without it the loader fails with "`ObjProt (...) not
    /// found!`" (issue 12, item 1).
    ObjectProtection,
    /// Every `SEC_OBJECT_PROTECTION` row has at least one `SEC_ACL_MAP` row; LINSTOR writes one per
    /// object (`PUBLIC` 15, or `PUBLIC` 7 and `USER` 7 for the defaults). LINSTOR loads an empty ACL, so
    /// this rule does not refuse a write; it reports what LINSTOR itself never writes.
    ObjectAcl,
    /// Every `/sys/controller/*` protection has a `SEC_ACL_MAP` entry for role `SYSTEM` with access 15
    /// (CONTROL). `DbCoreObjProtInitializer` reads these at start and fails with
    /// "`InitializationException: Failed to load object protection definitions`" (a NullPointerException
    /// from `AccessControlList.getEntry(...)`) without it (issue 12, item 1).
    AclSystemEntry,
    /// The controller's NetCom properties use LINSTOR's exact names and values:
    /// `NetCom/PlainConnector/BindAddress`, `Port` and `Type` exist on the controller instance, and no
    /// `NetCom/<connector>/<key>` differs from LINSTOR's spelling only in case (`Type` = `Plain` / `SSL`).
    /// The controller stops with "`The configuration entry 'NetCom/PlainConnector/BindAddress' is missing
    /// in the configuration`" (issue 12, item 2).
    NetcomPropertyNames,
    /// The default diskless storage-pool definition (`POOL_NAME` `DFLTDISKLESSSTORPOOL`) has the display
    /// name `DfltDisklessStorPool` exactly; with another spelling LINSTOR creates a second definition
    /// at start and every node's diskless pool disappears from its REST API (issue 12, item 3).
    DefaultDisklessPoolName,
    /// Props instances use the naming of the data version: before `v1-27-1` the old prefixes
    /// (`/CTRLCFG`, `STLTCFG`, `/RESOURCEDEFINITIONS/`, …), from `v1-27-1` on the new ones (`/CTRL`,
    /// `/STLT`, `/RSC_DFNS/`, …). LINSTOR's migration to `v1-27-1` (etcd migration 36, k8s migration 23,
    /// `MigrationUtils_SplitSnapProps.InstanceType`) stops with "`ImplementationError: Unrecognized
    /// instance name type: "/RSC_DFNS/..."`" on any other name and leaves the database half-migrated
    /// (issue 12, item 4); after it, an old name is never read again.
    PropsInstanceName,
    /// A props instance names an object that exists (its node, resource definition, resource, volume,
    /// group, pool, connection, snapshot or key-value store). LINSTOR loads properties per object, so
    /// the properties of a missing object are silently invisible; this rule does not refuse a write.
    PropsInstanceObject,
    /// `LAYER_DRBD_RESOURCES.FLAGS` has bit 4 (DISKLESS) exactly when the resource has `DRBD_DISKLESS`
    /// (256) in `RESOURCES.RESOURCE_FLAGS`. LINSTOR 1.33.3 sets the bit itself at start (issue 12,
    /// item 5: "set flag 4 (DISKLESS) on 23 `LAYER_DRBD_RESOURCES` rows"), so the database is not a fixed
    /// point; this rule does not refuse a write.
    DrbdDisklessFlag,
    /// From `v1-31-1` every live `LAYER_DRBD_RESOURCES` row has a non-empty `TCP_PORT_LIST` and every
    /// snapshot row exactly one entry (the negated port count). `LayerDrbdRscDbDriver` fails the load
    /// with "`did not have tcpPorts stored!`", "`DrbdRscData without tcpPort!`" or "`DrbdRscData with
    /// invalid tcpPortCount!`". (DRBD node ids are only range-checked there, so their uniqueness is not a
    /// rule.)
    DrbdTcpPortList,
    /// DRBD minor numbers (`LAYER_DRBD_VOLUME_DEFINITIONS.VLM_MINOR_NR`) are unique in the cluster:
    /// `DrbdVlmDfnData` allocates each loaded minor from the global minor pool, and a taken one raises
    /// `ValueInUseException`, which fails the load.
    DrbdMinorUnique,
    /// DRBD TCP ports are unique where LINSTOR allocates them: from `v1-31-1` per node
    /// (`LAYER_DRBD_RESOURCES.TCP_PORT_LIST` of live resources, allocated from the node's TCP port pool
    /// while `LayerDrbdRscDbDriver` loads them; etcd migration 69 / k8s migration 28 "MoveTcpPortsToNodes"),
    /// before it per resource definition from the cluster-wide pool
    /// (`LAYER_DRBD_RESOURCE_DEFINITIONS.TCP_PORT`). A taken port raises `ValueInUseException`, which
    /// fails the load. (Resource-connection proxy ports are skipped with a log line, so not a rule.)
    DrbdTcpPortUnique,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 32] = [
        Rule::NotNull,
        Rule::PrimaryKeyUnique,
        Rule::DuplicateRow,
        Rule::EtcdValueSize,
        Rule::K8sObjectSize,
        Rule::NetInterfaceNode,
        Rule::ResourceNode,
        Rule::ResourceDefinition,
        Rule::SnapshotDefinition,
        Rule::VolumeResource,
        Rule::VolumeDefinition,
        Rule::VolumeDefinitionOwner,
        Rule::ResourceGroup,
        Rule::VolumeGroupOwner,
        Rule::StoragePoolNode,
        Rule::StoragePoolDefinition,
        Rule::ConnectionEnds,
        Rule::LayerResourceOwner,
        Rule::LayerResourceParent,
        Rule::LayerDataOwner,
        Rule::LayerStoragePool,
        Rule::ObjectProtection,
        Rule::ObjectAcl,
        Rule::AclSystemEntry,
        Rule::NetcomPropertyNames,
        Rule::DefaultDisklessPoolName,
        Rule::PropsInstanceName,
        Rule::PropsInstanceObject,
        Rule::DrbdDisklessFlag,
        Rule::DrbdTcpPortList,
        Rule::DrbdMinorUnique,
        Rule::DrbdTcpPortUnique,
    ];

    /// The stable kebab-case name (reports, JSON, error messages).
    pub fn name(self) -> &'static str {
        match self {
            Rule::NotNull => "not-null",
            Rule::PrimaryKeyUnique => "primary-key-unique",
            Rule::DuplicateRow => "duplicate-row",
            Rule::EtcdValueSize => "etcd-value-size",
            Rule::K8sObjectSize => "k8s-object-size",
            Rule::NetInterfaceNode => "net-interface-node",
            Rule::ResourceNode => "resource-node",
            Rule::ResourceDefinition => "resource-definition",
            Rule::SnapshotDefinition => "snapshot-definition",
            Rule::VolumeResource => "volume-resource",
            Rule::VolumeDefinition => "volume-definition",
            Rule::VolumeDefinitionOwner => "volume-definition-owner",
            Rule::ResourceGroup => "resource-group",
            Rule::VolumeGroupOwner => "volume-group-owner",
            Rule::StoragePoolNode => "storage-pool-node",
            Rule::StoragePoolDefinition => "storage-pool-definition",
            Rule::ConnectionEnds => "connection-ends",
            Rule::LayerResourceOwner => "layer-resource-owner",
            Rule::LayerResourceParent => "layer-resource-parent",
            Rule::LayerDataOwner => "layer-data-owner",
            Rule::LayerStoragePool => "layer-storage-pool",
            Rule::ObjectProtection => "object-protection",
            Rule::ObjectAcl => "object-acl",
            Rule::AclSystemEntry => "acl-system-entry",
            Rule::NetcomPropertyNames => "netcom-property-names",
            Rule::DefaultDisklessPoolName => "default-diskless-pool-name",
            Rule::PropsInstanceName => "props-instance-name",
            Rule::PropsInstanceObject => "props-instance-object",
            Rule::DrbdDisklessFlag => "drbd-diskless-flag",
            Rule::DrbdTcpPortList => "drbd-tcp-port-list",
            Rule::DrbdMinorUnique => "drbd-minor-unique",
            Rule::DrbdTcpPortUnique => "drbd-tcp-port-unique",
        }
    }

    /// The rule with this name.
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether a finding makes LINSTOR refuse (or damage) the database, so that a write refuses it.
    /// The others are reported by `check` but LINSTOR starts on them (it ignores or repairs the rows).
    pub fn refuses(self) -> bool {
        !matches!(self, Rule::DuplicateRow | Rule::ObjectAcl | Rule::PropsInstanceObject | Rule::DrbdDisklessFlag)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
