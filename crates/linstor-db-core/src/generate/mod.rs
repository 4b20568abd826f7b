//! Synthetic LINSTOR databases that LINSTOR itself starts on and leaves unchanged, for every data
//! version `v1-19-1` … `v1-33-1`, deterministic for a seed.
//!
//! The model is the database LINSTOR 1.33.3 left after starting on one of these
//! (`testdata/reference/linstor-written/loaded-by-linstor-k8s.export.json`) and the databases its
//! controller creates itself (`fresh-etcd.export.json`, `with-objects-etcd.export.json`): satellite
//! nodes with an LVM-thin pool and the default diskless pool, resource groups, resource definitions
//! with DRBD over storage, two or three diskful replicas and a diskless one, snapshots, properties, the
//! security rows LINSTOR keeps per object, and the properties LINSTOR would add at start-up. Each rule
//! says where it comes from; `linstor-db check` enforces the same facts from the other side.
//!
//! Pure: rows are computed per table and per entity (a node, a resource definition, …) from the plan
//! alone, so a database of any size streams in constant memory ([`GeneratedSource`] is the adapter).

#[cfg(feature = "runtime")]
mod source;

#[cfg(feature = "runtime")]
pub use source::GeneratedSource;

use crate::error::{Error, Result};
use crate::objects::{object_path, PropsOwner};
use crate::row::{Row, Value};
use crate::schema::{DataVersion, Release, Table, DEFAULT_ACCESS_TYPES};

/// The shape of a generated database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Data version (and thereby layout and naming) of the rows.
    pub data_version: DataVersion,
    /// Satellite nodes.
    pub nodes: usize,
    /// Resource groups besides `DFLTRSCGRP`.
    pub resource_groups: usize,
    /// Resource definitions.
    pub resource_definitions: usize,
    /// Seed of every name, UUID and number.
    pub seed: u64,
}

/// Rows a resource definition brings on average (resources, volumes, layer data, properties, security).
const ROWS_PER_RESOURCE_DEFINITION: usize = 48;

/// Resource definitions at most: every one needs its own TCP port and DRBD minors (cluster-wide unique,
/// see [`Ports`]), and ports end at 65535.
pub const MAX_RESOURCE_DEFINITIONS: usize = 45_000;

impl Plan {
    /// A plan of about `rows` rows.
    pub fn for_rows(rows: usize, seed: u64, data_version: DataVersion) -> Plan {
        let resource_definitions = (rows / ROWS_PER_RESOURCE_DEFINITION).max(1);
        Plan {
            data_version,
            nodes: (resource_definitions / 40).clamp(3, 500),
            resource_groups: (resource_definitions / 500).clamp(1, 50),
            resource_definitions,
            seed,
        }
    }

    /// Refuses plans LINSTOR could not hold (more resource definitions than TCP ports, no node).
    pub fn validate(&self) -> Result<()> {
        if self.resource_definitions > MAX_RESOURCE_DEFINITIONS {
            return Err(Error::InvalidArgument(format!(
                "a generated database holds at most {MAX_RESOURCE_DEFINITIONS} resource definitions (about {} rows): \
                 each needs its own DRBD TCP port; ask for fewer rows",
                MAX_RESOURCE_DEFINITIONS * ROWS_PER_RESOURCE_DEFINITION
            )));
        }
        if self.nodes == 0 || self.resource_groups == 0 {
            return Err(Error::InvalidArgument(
                "a generated database needs at least one node and one resource group".into(),
            ));
        }
        Ok(())
    }

    /// The LINSTOR release whose metadata generated data carries.
    pub fn release(&self) -> &'static Release {
        Release::newest_with(self.data_version)
    }
}

/// splitmix64: a tiny, well-distributed deterministic generator.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Builds a row of `table` from (column name, value) pairs; names the version lacks are skipped,
/// so one description serves every data version.
fn row(table: &Table, values: &[(&str, Value)]) -> Row {
    let mut row = Row::empty(table);
    for (name, value) in values {
        if let Some(i) = table.column_index(name) {
            row.cells[i] = Some(value.clone());
        }
    }
    row
}

fn t(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn i(v: i64) -> Value {
    Value::Int(v)
}

const B_TRUE: Value = Value::Bool(true);
const B_FALSE: Value = Value::Bool(false);

/// Resource flags (`Resource.Flags`): `DISKLESS` (4) and `DRBD_DISKLESS` (256), as LINSTOR sets both on
/// a DRBD-diskless resource.
pub const RSC_FLAG_DISKLESS: i64 = 4;
/// `Resource.Flags.DRBD_DISKLESS`.
pub const RSC_FLAG_DRBD_DISKLESS: i64 = 256;
/// `DrbdRscObject.DrbdRscFlags.DISKLESS`: LINSTOR sets it at start-up on the DRBD layer data of every
/// resource flagged `DRBD_DISKLESS` (1.33.3 did so on 23 rows of a database that lacked it).
pub const DRBD_FLAG_DISKLESS: i64 = 4;
/// `SnapshotDefinition.Flags.SUCCESSFUL`.
const SNAPSHOT_FLAG_SUCCESSFUL: i64 = 16;

/// The property LINSTOR's `CtrlResyncAfterHelper` maintains on every diskful DRBD volume at start-up.
pub const RESYNC_AFTER_KEY: &str = "DrbdOptions/Disk/resync-after";

/// LINSTOR's fixed rows: identities, roles, security types and their rules, security configuration, as
/// its init migration writes them (`fresh-etcd.export.json`; the unit tests compare).
mod fresh {
    /// ACL entries of an object: (role, access).
    pub(super) type Acl = &'static [(&'static str, i64)];
    /// (name, display name) of the security types.
    pub(super) const SECURITY_TYPES: [(&str, &str); 5] =
        [("PUBLIC", "PUBLIC"), ("SHARED", "SHARED"), ("SYSADM", "SysAdm"), ("SYSTEM", "SYSTEM"), ("USER", "User")];
    /// (role, display name, privileges): SYSTEM and SYSADM hold every privilege (-1).
    pub(super) const ROLES: [(&str, &str, i64); 4] =
        [("PUBLIC", "PUBLIC", 0), ("SYSADM", "SysAdm", -1), ("SYSTEM", "SYSTEM", -1), ("USER", "User", 0)];
    /// (domain, type, access).
    #[rustfmt::skip]
    pub(super) const TYPE_RULES: [(&str, &str, i64); 20] = [
        ("PUBLIC", "PUBLIC", 15), ("PUBLIC", "SHARED", 7), ("PUBLIC", "SYSADM", 3), ("PUBLIC", "SYSTEM", 3), ("PUBLIC", "USER", 3),
        ("SYSADM", "PUBLIC", 15), ("SYSADM", "SHARED", 15), ("SYSADM", "SYSADM", 15), ("SYSADM", "SYSTEM", 15), ("SYSADM", "USER", 15),
        ("SYSTEM", "PUBLIC", 15), ("SYSTEM", "SHARED", 15), ("SYSTEM", "SYSADM", 15), ("SYSTEM", "SYSTEM", 15), ("SYSTEM", "USER", 15),
        ("USER", "PUBLIC", 7), ("USER", "SHARED", 7), ("USER", "SYSADM", 3), ("USER", "SYSTEM", 3), ("USER", "USER", 15),
    ];
    pub(super) const CONFIGURATION: [(&str, &str, &str); 2] =
        [("AUTHREQUIRED", "AuthRequired", "false"), ("SECURITYLEVEL", "SecurityLevel", "NO_SECURITY")];
    /// The controller's system objects: (path, owner role, security type, ACL entries). Every one has
    /// a SYSTEM 15 entry: without it LINSTOR fails with `Failed to load object protection definitions`.
    #[rustfmt::skip]
    pub(super) const SYSTEM_OBJECTS: [(&str, &str, &str, Acl); 11] = [
        ("/sys/controller/conf", "SYSADM", "SYSTEM", &[("PUBLIC", 1), ("SYSTEM", 15)]),
        ("/sys/controller/externalFileMap", "SYSTEM", "SYSTEM", &[("SYSTEM", 15)]),
        ("/sys/controller/freeSpaceMgrMap", "SYSTEM", "SYSTEM", &[("SYSTEM", 15)]),
        ("/sys/controller/keyValueStoreMap", "SYSTEM", "SYSTEM", &[("SYSTEM", 15)]),
        ("/sys/controller/nodesMap", "SYSADM", "SHARED", &[("PUBLIC", 7), ("SYSTEM", 15), ("USER", 7)]),
        ("/sys/controller/remoteMap", "SYSTEM", "SYSTEM", &[("SYSTEM", 15)]),
        ("/sys/controller/rscDfnMap", "SYSADM", "SHARED", &[("PUBLIC", 7), ("SYSTEM", 15), ("USER", 7)]),
        ("/sys/controller/rscGrpMap", "SYSTEM", "SYSTEM", &[("SYSTEM", 15)]),
        ("/sys/controller/scheduleMap", "SYSTEM", "SYSTEM", &[("SYSTEM", 15)]),
        ("/sys/controller/shutdown", "SYSADM", "SYSTEM", &[("SYSTEM", 15)]),
        ("/sys/controller/storPoolMap", "SYSADM", "SHARED", &[("PUBLIC", 7), ("SYSTEM", 15), ("USER", 7)]),
    ];
    /// ACL entries of the default resource group and storage pools (owned SYSTEM / SYSADM / SHARED).
    pub(super) const DEFAULT_OBJECT_ACL: [(&str, i64); 2] = [("PUBLIC", 7), ("USER", 7)];
    /// `/CTRL` properties of LINSTOR's init migrations, with LINSTOR's exact key case: the controller
    /// stops with `The configuration entry 'NetCom/PlainConnector/BindAddress' is missing` otherwise.
    /// Left out on purpose: `DrbdOptions/auto-resync-after-disable` (so that the generated volumes carry
    /// the resync-after chain LINSTOR computes) and `DrbdOptions/auto-add-quorum-tiebreaker`, as in the
    /// database LINSTOR started on unchanged.
    #[rustfmt::skip]
    pub(super) const CONTROLLER_PROPS: [(&str, &str); 30] = [
        ("DrbdOptions/AutoEvictAllowEviction", "True"),
        ("DrbdOptions/auto-diskful-allow-cleanup", "True"),
        ("DrbdOptions/auto-verify-algo-allowed-list", "crct10dif;crc32c;sha384;sha512;sha256;sha1;md5;windrbd"),
        ("NetCom/DebugSslConnector/BindAddress", "::0"),
        ("NetCom/DebugSslConnector/Enabled", "true"),
        ("NetCom/DebugSslConnector/KeyPasswd", "linstor"),
        ("NetCom/DebugSslConnector/KeyStore", "ssl/keystore.jks"),
        ("NetCom/DebugSslConnector/KeyStorePasswd", "linstor"),
        ("NetCom/DebugSslConnector/Port", "3373"),
        ("NetCom/DebugSslConnector/SslProtocol", "TLSv1.2"),
        ("NetCom/DebugSslConnector/TrustStore", "ssl/certificates.jks"),
        ("NetCom/DebugSslConnector/TrustStorePasswd", "linstor"),
        ("NetCom/DebugSslConnector/Type", "SSL"),
        ("NetCom/PlainConnector/BindAddress", ""),
        ("NetCom/PlainConnector/Enabled", "true"),
        ("NetCom/PlainConnector/Port", "3376"),
        ("NetCom/PlainConnector/Type", "Plain"),
        ("NetCom/SslConnector/BindAddress", ""),
        ("NetCom/SslConnector/Enabled", "true"),
        ("NetCom/SslConnector/KeyPasswd", "linstor"),
        ("NetCom/SslConnector/KeyStore", "ssl/keystore.jks"),
        ("NetCom/SslConnector/KeyStorePasswd", "linstor"),
        ("NetCom/SslConnector/Port", "3377"),
        ("NetCom/SslConnector/SslProtocol", "TLSv1.2"),
        ("NetCom/SslConnector/TrustStore", "ssl/certificates.jks"),
        ("NetCom/SslConnector/TrustStorePasswd", "linstor"),
        ("NetCom/SslConnector/Type", "SSL"),
        ("defaultDebugSslConnector", "DebugSslConnector"),
        ("defaultPlainConSvc", "PlainConnector"),
        ("defaultSslConSvc", "SslConnector"),
    ];
    /// The default objects' fixed UUIDs and display names, from LINSTOR's init migration. The diskless
    /// pool's display name must be exactly `DfltDisklessStorPool`: with another case LINSTOR creates a
    /// second one and the nodes' diskless pools disappear from its API.
    pub(super) const DEFAULT_RESOURCE_GROUP: (&str, &str, &str) =
        ("DFLTRSCGRP", "DfltRscGrp", "a52e934a-9fd9-44cb-9db1-716dcd13aae3");
    pub(super) const DEFAULT_POOLS: [(&str, &str, &str); 2] = [
        ("DFLTDISKLESSSTORPOOL", "DfltDisklessStorPool", "622807eb-c8c4-44f0-b03d-a08173c8fa1b"),
        ("DFLTSTORPOOL", "DfltStorPool", "f51611c6-528f-4793-a87a-866d09e6733a"),
    ];
}

/// The one storage pool every node has besides the diskless one.
const POOL: &str = "POOL1";
const KVS: &str = "CSI-SNAPSHOTS";
const FILE_PATH: &str = "/etc/lvm/lvm.conf.d/linstor.conf";
const SCHEDULE: &str = "NIGHTLY";
const REMOTE: &str = "BACKUPS";
const SNAPSHOT: &str = "SNAPSHOT-1";

/// DRBD numbers, unique cluster-wide per resource definition as LINSTOR's number pools hand them out:
/// TCP port `7000 + r`, resource-connection ports above every resource port, minors `1000 + 2r + v`.
/// When they pass LINSTOR's default ranges (`7000-7999`, `1000-49999`), the controller properties
/// `TcpPortAutoRange` / `MinorNrAutoRange` are widened, as an operator of such a cluster must.
struct Ports {
    resource_definitions: usize,
}

impl Ports {
    const FIRST_PORT: i64 = 7000;
    const DEFAULT_LAST_PORT: i64 = 7999;
    const FIRST_MINOR: i64 = 1000;
    const DEFAULT_LAST_MINOR: i64 = 49_999;

    fn resource(&self, r: usize) -> i64 {
        Ports::FIRST_PORT + r as i64
    }

    /// (source, target) ports of resource `r`'s connection (only every seventh has one).
    fn connection(&self, r: usize) -> (i64, i64) {
        let base = Ports::FIRST_PORT + self.resource_definitions as i64 + 2 * (r / 7) as i64;
        (base, base + 1)
    }

    fn minor(r: usize, volume: i64) -> i64 {
        Ports::FIRST_MINOR + 2 * r as i64 + volume
    }

    fn last_port(&self) -> i64 {
        let last = self.resource_definitions.saturating_sub(1);
        self.connection(last - last % 7).1.max(self.resource(last))
    }

    fn last_minor(&self) -> i64 {
        Ports::minor(self.resource_definitions.saturating_sub(1), 1)
    }

    /// The range properties this database needs on `/CTRL`.
    fn range_props(&self) -> Vec<(&'static str, String)> {
        let mut props = Vec::new();
        if self.last_port() > Ports::DEFAULT_LAST_PORT {
            props.push(("TcpPortAutoRange", format!("{}-{}", Ports::FIRST_PORT, self.last_port())));
        }
        if self.last_minor() > Ports::DEFAULT_LAST_MINOR {
            props.push(("MinorNrAutoRange", format!("{}-{}", Ports::FIRST_MINOR, self.last_minor())));
        }
        props
    }
}

/// One replica of a resource definition on a node.
#[derive(Debug, Clone, Copy)]
struct Replica {
    node: usize,
    diskless: bool,
    /// Position among the resource definition's replicas: DRBD node id and layer-id slot.
    slot: usize,
}

/// Where a resource definition lives: its replicas, volume count and whether it has a snapshot.
struct Placement {
    replicas: Vec<Replica>,
    volumes: i64,
    snapshot: bool,
}

impl Placement {
    fn diskful_on(&self, node: usize) -> bool {
        self.replicas.iter().any(|rep| rep.node == node && !rep.diskless)
    }
}

/// Writes the protection or the ACL rows of objects, whichever table is being generated.
struct SecurityRows<'a> {
    table: &'a Table,
    protection: bool,
    out: &'a mut Vec<Row>,
}

impl SecurityRows<'_> {
    /// An object with (creator, owner role, security type) and its ACL.
    fn object(&mut self, path: String, (creator, owner, security_type): (&str, &str, &str), acl: &[(&str, i64)]) {
        if self.protection {
            self.out.push(row(
                self.table,
                &[
                    ("OBJECT_PATH", t(path)),
                    ("CREATOR_IDENTITY_NAME", t(creator)),
                    ("OWNER_ROLE_NAME", t(owner)),
                    ("SECURITY_TYPE_NAME", t(security_type)),
                ],
            ));
        } else {
            for (role, access) in acl {
                self.out.push(row(
                    self.table,
                    &[("OBJECT_PATH", t(path.clone())), ("ROLE_NAME", t(*role)), ("ACCESS_TYPE", i(*access))],
                ));
            }
        }
    }

    /// An object made through LINSTOR's API: PUBLIC / PUBLIC / PUBLIC, `PUBLIC 15`.
    fn public(&mut self, path: String) {
        self.object(path, ("PUBLIC", "PUBLIC", "PUBLIC"), &[("PUBLIC", 15)]);
    }
}

/// Computes the rows of one table of a plan, entity by entity.
pub(crate) struct TableRows<'a> {
    plan: &'a Plan,
    table: &'a Table,
}

impl<'a> TableRows<'a> {
    pub(crate) fn new(plan: &'a Plan, table: &'a Table) -> TableRows<'a> {
        TableRows { plan, table }
    }

    fn version(&self) -> DataVersion {
        self.plan.data_version
    }

    fn has_table(&self, name: &str) -> bool {
        self.version().schema().table(name).is_some()
    }

    fn random(&self, kind: u64, index: usize) -> u64 {
        mix(self.plan.seed ^ mix(kind.wrapping_mul(0x1000_0000_01B3) ^ index as u64))
    }

    fn uuid(&self, kind: u64, index: usize) -> String {
        let a = self.random(kind, index);
        let b = self.random(kind ^ 0xABCD, index);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    fn node_name(&self, n: usize) -> String {
        format!("K8S-WORKER-{n:03}")
    }

    fn rd_name(&self, r: usize) -> String {
        format!("PVC-{}", self.uuid(1, r).to_uppercase())
    }

    fn group_name(g: usize) -> String {
        format!("SC-{g}")
    }

    fn group_of(&self, r: usize) -> String {
        TableRows::group_name(r % self.plan.resource_groups.max(1))
    }

    fn ports(&self) -> Ports {
        Ports { resource_definitions: self.plan.resource_definitions }
    }

    /// Three diskful replicas, or (every fourth) two diskful and a diskless one where a third node exists.
    fn placement(&self, r: usize) -> Placement {
        let nodes = self.plan.nodes.max(1);
        let start = (self.random(2, r) as usize) % nodes;
        let diskful = if r % 4 == 0 { 2 } else { 3 }.min(nodes);
        let mut replicas: Vec<Replica> =
            (0..diskful).map(|k| Replica { node: (start + k) % nodes, diskless: false, slot: k }).collect();
        if diskful == 2 && nodes > 2 {
            replicas.push(Replica { node: (start + 2) % nodes, diskless: true, slot: 2 });
        }
        Placement { replicas, volumes: if r % 5 == 0 { 2 } else { 1 }, snapshot: r % 10 == 0 }
    }

    /// Layer resource id of the DRBD layer of `slot` of `r` (its storage child is id + 1).
    fn drbd_id(r: usize, slot: usize, snapshot: bool) -> i64 {
        let base = (r * 8 + slot * 2) as i64 + 1;
        if snapshot {
            base + 1_000_000_000
        } else {
            base
        }
    }

    /// How many entities the table iterates over (rows come per entity).
    pub(crate) fn entities(&self) -> usize {
        match self.table.name {
            "NODES" | "NODE_STOR_POOL" | "NODE_NET_INTERFACES" => self.plan.nodes,
            "RESOURCE_GROUPS" | "VOLUME_GROUPS" => self.plan.resource_groups + 1,
            "RESOURCE_DEFINITIONS"
            | "RESOURCES"
            | "LAYER_RESOURCE_IDS"
            | "LAYER_DRBD_RESOURCES"
            | "LAYER_DRBD_RESOURCE_DEFINITIONS"
            | "LAYER_DRBD_VOLUMES"
            | "VOLUME_DEFINITIONS"
            | "LAYER_DRBD_VOLUME_DEFINITIONS"
            | "LAYER_STORAGE_VOLUMES"
            | "VOLUMES"
            | "RESOURCE_CONNECTIONS" => self.plan.resource_definitions,
            // Global rows first, then per node, then per resource definition.
            "PROPS_CONTAINERS" | "SEC_OBJECT_PROTECTION" | "SEC_ACL_MAP" => {
                1 + self.plan.nodes + self.plan.resource_definitions
            }
            "FILES"
            | "KEY_VALUE_STORE"
            | "S3_REMOTES"
            | "SCHEDULES"
            | "SEC_CONFIGURATION"
            | "SEC_ID_ROLE_MAP"
            | "SEC_DFLT_ROLES"
            | "SEC_IDENTITIES"
            | "SEC_TYPES"
            | "SEC_ROLES"
            | "SEC_TYPE_RULES"
            | "SEC_ACCESS_TYPES"
            | "STOR_POOL_DEFINITIONS" => 1,
            _ => 0,
        }
    }

    /// Appends the rows of entity `e` to `out`.
    pub(crate) fn rows_of(&self, e: usize, out: &mut Vec<Row>) {
        let tb = self.table;
        match tb.name {
            "NODES" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(10, e))),
                    ("NODE_NAME", t(self.node_name(e))),
                    ("NODE_DSP_NAME", t(self.node_name(e).to_lowercase())),
                    ("NODE_FLAGS", i(0)),
                    // Node.Type.SATELLITE
                    ("NODE_TYPE", i(2)),
                ],
            )),
            "NODE_NET_INTERFACES" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(11, e))),
                    ("NODE_NAME", t(self.node_name(e))),
                    ("NODE_NET_NAME", t("DEFAULT")),
                    ("NODE_NET_DSP_NAME", t("default")),
                    ("INET_ADDRESS", t(format!("10.{}.{}.{}", 20 + e / 65536, (e / 256) % 256, e % 256))),
                    ("STLT_CONN_PORT", i(3366)),
                    ("STLT_CONN_ENCR_TYPE", t("PLAIN")),
                ],
            )),
            "NODE_STOR_POOL" => {
                for (pool, driver, k) in [("DFLTDISKLESSSTORPOOL", "DISKLESS", 13), (POOL, "LVM_THIN", 12)] {
                    out.push(row(
                        tb,
                        &[
                            ("UUID", t(self.uuid(k, e))),
                            ("NODE_NAME", t(self.node_name(e))),
                            ("POOL_NAME", t(pool)),
                            ("DRIVER_NAME", t(driver)),
                            ("FREE_SPACE_MGR_NAME", t(format!("{};{pool}", self.node_name(e)))),
                            ("FREE_SPACE_MGR_DSP_NAME", t(format!("{};{pool}", self.node_name(e).to_lowercase()))),
                            ("EXTERNAL_LOCKING", B_FALSE),
                        ],
                    ));
                }
            }
            "STOR_POOL_DEFINITIONS" => {
                for (pool, display, uuid) in fresh::DEFAULT_POOLS {
                    out.push(row(tb, &[("UUID", t(uuid)), ("POOL_NAME", t(pool)), ("POOL_DSP_NAME", t(display))]));
                }
                out.push(row(
                    tb,
                    &[("UUID", t(self.uuid(14, 0))), ("POOL_NAME", t(POOL)), ("POOL_DSP_NAME", t(POOL.to_lowercase()))],
                ));
            }
            "RESOURCE_GROUPS" => out.push(self.resource_group(e)),
            // The default resource group has no volume group in a fresh LINSTOR database.
            "VOLUME_GROUPS" if e > 0 => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(21, e))),
                    ("RESOURCE_GROUP_NAME", t(TableRows::group_name(e - 1))),
                    ("VLM_NR", i(0)),
                    ("FLAGS", i(0)),
                ],
            )),
            "PROPS_CONTAINERS" => self.props(e, out),
            "SEC_OBJECT_PROTECTION" | "SEC_ACL_MAP" => self.security(e, out),
            "FILES" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(30, 0))),
                    ("PATH", t(FILE_PATH)),
                    ("FLAGS", i(0)),
                    // "global_filter = [ \"r|^/dev/drbd|\" ]\n"
                    ("CONTENT", t("Z2xvYmFsX2ZpbHRlciA9IFsgInJ8Xi9kZXYvZHJiZHwiIF0K")),
                    ("CONTENT_CHECKSUM", t("64a7d2b0fd5bd0e3e88d4d4e12e2a0d74e3a9a3e2ff0fc0ad9a51d1f0c2b2c6c")),
                    // Base64 of "[]", what LINSTOR 1.34's migration writes.
                    ("ALT_SUFFIXES", t("W10=")),
                ],
            )),
            "KEY_VALUE_STORE" => out.push(row(
                tb,
                &[("UUID", t(self.uuid(31, 0))), ("KVS_NAME", t(KVS)), ("KVS_DSP_NAME", t(KVS.to_lowercase()))],
            )),
            "S3_REMOTES" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(32, 0))),
                    ("NAME", t(REMOTE)),
                    ("DSP_NAME", t(REMOTE.to_lowercase())),
                    ("FLAGS", i(0)),
                    ("ENDPOINT", t("s3.example.invalid")),
                    ("BUCKET", t("linstor-backups")),
                    ("REGION", t("eu-1")),
                    ("ACCESS_KEY", t("ZW5jcnlwdGVkLWFjY2Vzcy1rZXk=")),
                    ("SECRET_KEY", t("ZW5jcnlwdGVkLXNlY3JldC1rZXk=")),
                ],
            )),
            "SCHEDULES" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(33, 0))),
                    ("NAME", t(SCHEDULE)),
                    ("DSP_NAME", t(SCHEDULE.to_lowercase())),
                    ("FLAGS", i(0)),
                    ("FULL_CRON", t("0 3 * * *")),
                    ("INC_CRON", t("0 */4 * * *")),
                    ("KEEP_LOCAL", i(7)),
                    ("KEEP_REMOTE", i(30)),
                    ("ON_FAILURE", i(1)),
                    ("MAX_RETRIES", i(3)),
                ],
            )),
            "SEC_ACCESS_TYPES" => {
                for (name, value) in DEFAULT_ACCESS_TYPES {
                    out.push(row(tb, &[("ACCESS_TYPE_NAME", t(name)), ("ACCESS_TYPE_VALUE", i(value))]));
                }
            }
            "SEC_CONFIGURATION" => {
                for (key, dsp, value) in fresh::CONFIGURATION {
                    out.push(row(tb, &[("ENTRY_KEY", t(key)), ("ENTRY_DSP_KEY", t(dsp)), ("ENTRY_VALUE", t(value))]));
                }
            }
            "SEC_IDENTITIES" => {
                for name in ["PUBLIC", "SYSTEM"] {
                    out.push(row(
                        tb,
                        &[
                            ("IDENTITY_NAME", t(name)),
                            ("IDENTITY_DSP_NAME", t(name)),
                            ("ID_ENABLED", B_TRUE),
                            ("ID_LOCKED", B_TRUE),
                        ],
                    ));
                }
            }
            "SEC_ID_ROLE_MAP" | "SEC_DFLT_ROLES" => {
                for name in ["PUBLIC", "SYSTEM"] {
                    out.push(row(tb, &[("IDENTITY_NAME", t(name)), ("ROLE_NAME", t(name))]));
                }
            }
            "SEC_TYPES" => {
                for (name, display) in fresh::SECURITY_TYPES {
                    out.push(row(
                        tb,
                        &[("TYPE_NAME", t(name)), ("TYPE_DSP_NAME", t(display)), ("TYPE_ENABLED", B_TRUE)],
                    ));
                }
            }
            "SEC_ROLES" => {
                for (name, display, privileges) in fresh::ROLES {
                    out.push(row(
                        tb,
                        &[
                            ("ROLE_NAME", t(name)),
                            ("ROLE_DSP_NAME", t(display)),
                            ("DOMAIN_NAME", t(name)),
                            ("ROLE_ENABLED", B_TRUE),
                            ("ROLE_PRIVILEGES", i(privileges)),
                        ],
                    ));
                }
            }
            "SEC_TYPE_RULES" => {
                for (domain, type_name, access) in fresh::TYPE_RULES {
                    out.push(row(
                        tb,
                        &[("DOMAIN_NAME", t(domain)), ("TYPE_NAME", t(type_name)), ("ACCESS_TYPE", i(access))],
                    ));
                }
            }
            _ => self.resource_rows(e, out),
        }
    }

    fn resource_group(&self, e: usize) -> Row {
        if e == 0 {
            let (name, display, uuid) = fresh::DEFAULT_RESOURCE_GROUP;
            // As LINSTOR's init migration writes it: only the replica count is set.
            return row(
                self.table,
                &[
                    ("UUID", t(uuid)),
                    ("RESOURCE_GROUP_NAME", t(name)),
                    ("RESOURCE_GROUP_DSP_NAME", t(display)),
                    ("REPLICA_COUNT", i(2)),
                ],
            );
        }
        let name = TableRows::group_name(e - 1);
        // As LINSTOR's REST API writes a group (`with-objects-etcd.export.json`): every list set.
        row(
            self.table,
            &[
                ("UUID", t(self.uuid(20, e))),
                ("RESOURCE_GROUP_NAME", t(name.clone())),
                ("RESOURCE_GROUP_DSP_NAME", t(name.to_lowercase())),
                ("DESCRIPTION", t("generated by linstor-db")),
                ("LAYER_STACK", t(r#"["DRBD","STORAGE"]"#)),
                ("REPLICA_COUNT", i(3)),
                ("NODE_NAME_LIST", t("[]")),
                ("POOL_NAME", t(format!(r#"["{POOL}"]"#))),
                ("POOL_NAME_DISKLESS", t("[]")),
                ("DO_NOT_PLACE_WITH_RSC_LIST", t("[]")),
                ("REPLICAS_ON_SAME", t("[]")),
                ("REPLICAS_ON_DIFFERENT", t(r#"["topology.kubernetes.io/zone"]"#)),
                ("X_REPLICAS_ON_DIFFERENT", t("{}")),
                ("ALLOWED_PROVIDER_LIST", t("[]")),
                ("DISKLESS_ON_REMAINING", B_FALSE),
            ],
        )
    }

    fn props(&self, e: usize, out: &mut Vec<Row>) {
        let version = self.version();
        let tb = self.table;
        let mut push = |owner: PropsOwner<'_>, key: &str, value: String| {
            out.push(row(
                tb,
                &[("PROPS_INSTANCE", t(owner.instance_name(version))), ("PROP_KEY", t(key)), ("PROP_VALUE", t(value))],
            ));
        };
        if e == 0 {
            let local_id = self.uuid(40, 0);
            push(PropsOwner::Controller, "Cluster/LocalID", local_id.clone());
            for (key, value) in fresh::CONTROLLER_PROPS {
                push(PropsOwner::Controller, key, value.to_owned());
            }
            for (key, value) in self.ports().range_props() {
                push(PropsOwner::Controller, key, value);
            }
            push(PropsOwner::Satellite, "Cluster/LocalID", local_id);
            push(PropsOwner::Satellite, "DrbdOptions/Resource/on-no-quorum", "suspend-io".into());
            push(PropsOwner::Satellite, "DrbdOptions/Resource/quorum", "majority".into());
            push(PropsOwner::KeyValueStore(KVS), "snap-0/source", "pvc-0".into());
            return;
        }
        let n = e - 1;
        if n < self.plan.nodes {
            let node = self.node_name(n);
            push(PropsOwner::Node(&node), "CurStltConnName", "default".into());
            push(PropsOwner::Node(&node), "Aux/topology.kubernetes.io/zone", format!("zone-{}", n % 3));
            push(PropsOwner::StorPool(&node, POOL), "StorDriver/StorPoolName", "vg1/thin".into());
            return;
        }
        let r = n - self.plan.nodes;
        let rd = self.rd_name(r);
        push(PropsOwner::ResourceDefinition(&rd), "DrbdOptions/Resource/quorum", "majority".into());
        push(PropsOwner::ResourceDefinition(&rd), "DrbdOptions/Net/allow-two-primaries", "no".into());
        push(
            PropsOwner::ResourceDefinition(&rd),
            "Aux/csi-volume-annotations",
            format!(r#"{{"name":"{}"}}"#, rd.to_lowercase()),
        );
        push(PropsOwner::VolumeDefinition(&rd, 0), "DrbdCurrentGi", format!("{:016X}", self.random(41, r)));
        let placement = self.placement(r);
        for replica in placement.replicas.iter().filter(|rep| !rep.diskless) {
            let node = self.node_name(replica.node);
            push(PropsOwner::Resource(&node, &rd), "StorPoolName", POOL.to_lowercase());
            for v in 0..placement.volumes {
                if let Some(after) = self.resync_after(replica.node, r, v) {
                    push(PropsOwner::Volume(&node, &rd, v), RESYNC_AFTER_KEY, after);
                }
            }
        }
    }

    /// The volume LINSTOR's `CtrlResyncAfterHelper` makes volume `v` of `r` on `node` resync after: per
    /// storage pool of a node, the diskful DRBD volumes ordered by minor number each wait for the one
    /// before (`<resource display name>/<volume number>`); the first has none. Minors grow with
    /// (r, v), so the one before is the previous volume of this resource, or the last volume of the
    /// nearest earlier resource definition with a diskful replica on this node.
    fn resync_after(&self, node: usize, r: usize, v: i64) -> Option<String> {
        if v > 0 {
            return Some(format!("{}/{}", self.rd_name(r).to_lowercase(), v - 1));
        }
        (0..r).rev().find_map(|earlier| {
            let placement = self.placement(earlier);
            placement
                .diskful_on(node)
                .then(|| format!("{}/{}", self.rd_name(earlier).to_lowercase(), placement.volumes - 1))
        })
    }

    /// `SEC_OBJECT_PROTECTION` and `SEC_ACL_MAP` rows: LINSTOR loads one protection (and its ACL) per
    /// system object, node, resource definition, resource, snapshot definition, resource group, storage
    /// pool definition, key-value store, external file, schedule and remote; a missing one stops it
    /// with `ObjProt (…) not found!`. Objects made through its API are PUBLIC / PUBLIC / PUBLIC with
    /// `PUBLIC 15`; the defaults of its init migration are SYSTEM / SYSADM / SHARED.
    fn security(&self, e: usize, out: &mut Vec<Row>) {
        let mut rows = SecurityRows { table: self.table, protection: self.table.name == "SEC_OBJECT_PROTECTION", out };
        if e == 0 {
            for (path, owner, security_type, acl) in fresh::SYSTEM_OBJECTS {
                rows.object(path.to_owned(), ("SYSTEM", owner, security_type), acl);
            }
            let default_paths = std::iter::once(object_path::resource_group(fresh::DEFAULT_RESOURCE_GROUP.0))
                .chain(fresh::DEFAULT_POOLS.iter().map(|(pool, _, _)| object_path::stor_pool_definition(pool)));
            for path in default_paths {
                rows.object(path, ("SYSTEM", "SYSADM", "SHARED"), &fresh::DEFAULT_OBJECT_ACL);
            }
            rows.public(object_path::stor_pool_definition(POOL));
            for g in 0..self.plan.resource_groups {
                rows.public(object_path::resource_group(&TableRows::group_name(g)));
            }
            rows.public(object_path::key_value_store(KVS));
            rows.public(object_path::external_file(FILE_PATH));
            if self.has_table("SCHEDULES") {
                rows.public(object_path::schedule(SCHEDULE));
            }
            if self.has_table("S3_REMOTES") {
                rows.public(object_path::remote(REMOTE));
            }
            return;
        }
        let n = e - 1;
        if n < self.plan.nodes {
            rows.public(object_path::node(&self.node_name(n)));
            return;
        }
        let r = n - self.plan.nodes;
        let rd = self.rd_name(r);
        let placement = self.placement(r);
        rows.public(object_path::resource_definition(&rd));
        for replica in &placement.replicas {
            rows.public(object_path::resource(&self.node_name(replica.node), &rd));
        }
        if placement.snapshot {
            rows.public(object_path::snapshot_definition(&rd, SNAPSHOT));
        }
    }

    /// Rows of the per-resource-definition tables.
    fn resource_rows(&self, r: usize, out: &mut Vec<Row>) {
        let tb = self.table;
        let rd = self.rd_name(r);
        let placement = self.placement(r);
        let port = self.ports().resource(r);
        let snapshots: &[(&str, bool)] =
            if placement.snapshot { &[("", false), (SNAPSHOT, true)] } else { &[("", false)] };
        let size = 1_048_576 * (1 + (self.random(61, r) % 100) as i64);
        match tb.name {
            "RESOURCE_DEFINITIONS" => {
                for (snap, is_snap) in snapshots {
                    out.push(row(
                        tb,
                        &[
                            ("UUID", t(self.uuid(50 + u64::from(*is_snap), r))),
                            ("RESOURCE_NAME", t(rd.clone())),
                            ("SNAPSHOT_NAME", t(*snap)),
                            ("RESOURCE_DSP_NAME", t(rd.to_lowercase())),
                            ("SNAPSHOT_DSP_NAME", t(snap.to_lowercase())),
                            ("RESOURCE_FLAGS", i(if *is_snap { SNAPSHOT_FLAG_SUCCESSFUL } else { 0 })),
                            ("LAYER_STACK", t(r#"["DRBD","STORAGE"]"#)),
                            ("RESOURCE_GROUP_NAME", t(self.group_of(r))),
                        ],
                    ));
                }
            }
            "VOLUME_DEFINITIONS" => {
                for (snap, is_snap) in snapshots {
                    for v in 0..placement.volumes {
                        out.push(row(
                            tb,
                            &[
                                ("UUID", t(self.uuid(60 + v as u64 * 2 + u64::from(*is_snap), r))),
                                ("RESOURCE_NAME", t(rd.clone())),
                                ("SNAPSHOT_NAME", t(*snap)),
                                ("VLM_NR", i(v)),
                                ("VLM_SIZE", i(size)),
                                ("VLM_FLAGS", i(0)),
                            ],
                        ));
                    }
                }
            }
            "LAYER_DRBD_RESOURCE_DEFINITIONS" => {
                for (snap, _) in snapshots {
                    out.push(row(
                        tb,
                        &[
                            ("RESOURCE_NAME", t(rd.clone())),
                            ("RESOURCE_NAME_SUFFIX", t("")),
                            ("SNAPSHOT_NAME", t(*snap)),
                            ("PEER_SLOTS", i(7)),
                            ("AL_STRIPES", i(1)),
                            ("AL_STRIPE_SIZE", i(32)),
                            ("TCP_PORT", i(port)),
                            ("TRANSPORT_TYPE", t("IP")),
                            ("SECRET", t(format!("{:020x}", self.random(70, r)))),
                        ],
                    ));
                }
            }
            "LAYER_DRBD_VOLUME_DEFINITIONS" => {
                for (snap, is_snap) in snapshots {
                    for v in 0..placement.volumes {
                        let mut values = vec![
                            ("RESOURCE_NAME", t(rd.clone())),
                            ("RESOURCE_NAME_SUFFIX", t("")),
                            ("SNAPSHOT_NAME", t(*snap)),
                            ("VLM_NR", i(v)),
                        ];
                        // A snapshot's volume definition has no minor of its own.
                        if !is_snap {
                            values.push(("VLM_MINOR_NR", i(Ports::minor(r, v))));
                        }
                        out.push(row(tb, &values));
                    }
                }
            }
            "RESOURCE_CONNECTIONS" if r % 7 == 0 && placement.replicas.len() > 1 => {
                let (src, dst) = self.ports().connection(r);
                out.push(row(
                    tb,
                    &[
                        ("UUID", t(self.uuid(100, r))),
                        ("NODE_NAME_SRC", t(self.node_name(placement.replicas[0].node))),
                        ("NODE_NAME_DST", t(self.node_name(placement.replicas[1].node))),
                        ("RESOURCE_NAME", t(rd.clone())),
                        ("SNAPSHOT_NAME", t("")),
                        ("FLAGS", i(0)),
                        ("TCP_PORT", i(src)),
                        ("TCP_PORT_SRC", i(src)),
                        ("TCP_PORT_DST", i(dst)),
                    ],
                ));
            }
            _ => {
                for replica in &placement.replicas {
                    self.replica_rows(r, &rd, &placement, *replica, port, out);
                }
            }
        }
    }

    /// Rows that exist once per replica (and per snapshot of a diskful replica).
    fn replica_rows(&self, r: usize, rd: &str, placement: &Placement, replica: Replica, port: i64, out: &mut Vec<Row>) {
        let tb = self.table;
        let node_name = self.node_name(replica.node);
        let snaps: &[(&str, bool)] =
            if placement.snapshot && !replica.diskless { &[("", false), (SNAPSHOT, true)] } else { &[("", false)] };
        let k = replica.slot;
        for (snap, is_snap) in snaps {
            let drbd = TableRows::drbd_id(r, k, *is_snap);
            let (pool, provider) =
                if replica.diskless { ("DFLTDISKLESSSTORPOOL", "DISKLESS") } else { (POOL, "LVM_THIN") };
            match tb.name {
                "RESOURCES" => out.push(row(
                    tb,
                    &[
                        ("UUID", t(self.uuid(80 + u64::from(*is_snap), r * 8 + k))),
                        ("NODE_NAME", t(node_name.clone())),
                        ("RESOURCE_NAME", t(rd)),
                        ("SNAPSHOT_NAME", t(*snap)),
                        (
                            "RESOURCE_FLAGS",
                            i(if replica.diskless { RSC_FLAG_DISKLESS | RSC_FLAG_DRBD_DISKLESS } else { 0 }),
                        ),
                        ("CREATE_TIMESTAMP", i(1_700_000_000_000 + (r as i64) * 1000)),
                    ],
                )),
                "LAYER_RESOURCE_IDS" => {
                    for (id, kind, parent) in [(drbd, "DRBD", None), (drbd + 1, "STORAGE", Some(drbd))] {
                        let mut values = vec![
                            ("LAYER_RESOURCE_ID", i(id)),
                            ("NODE_NAME", t(node_name.clone())),
                            ("RESOURCE_NAME", t(rd)),
                            ("SNAPSHOT_NAME", t(*snap)),
                            ("LAYER_RESOURCE_KIND", t(kind)),
                            ("LAYER_RESOURCE_SUFFIX", t("")),
                            ("LAYER_RESOURCE_SUSPENDED", B_FALSE),
                        ];
                        if let Some(parent) = parent {
                            values.push(("LAYER_RESOURCE_PARENT_ID", i(parent)));
                        }
                        out.push(row(tb, &values));
                    }
                }
                "LAYER_DRBD_RESOURCES" => out.push(row(
                    tb,
                    &[
                        ("LAYER_RESOURCE_ID", i(drbd)),
                        ("PEER_SLOTS", i(7)),
                        ("AL_STRIPES", i(1)),
                        ("AL_STRIPE_SIZE", i(32)),
                        ("FLAGS", i(if replica.diskless { DRBD_FLAG_DISKLESS } else { 0 })),
                        ("NODE_ID", i(k as i64)),
                        // A snapshot holds no port (LINSTOR writes [-1]).
                        ("TCP_PORT_LIST", t(if *is_snap { "[-1]".to_owned() } else { format!("[{port}]") })),
                    ],
                )),
                "VOLUMES" | "LAYER_DRBD_VOLUMES" | "LAYER_STORAGE_VOLUMES" => {
                    for v in 0..placement.volumes {
                        out.push(match tb.name {
                            "VOLUMES" => row(
                                tb,
                                &[
                                    ("UUID", t(self.uuid(90 + v as u64 * 2 + u64::from(*is_snap), r * 8 + k))),
                                    ("NODE_NAME", t(node_name.clone())),
                                    ("RESOURCE_NAME", t(rd)),
                                    ("SNAPSHOT_NAME", t(*snap)),
                                    ("VLM_NR", i(v)),
                                    ("VLM_FLAGS", i(0)),
                                ],
                            ),
                            "LAYER_DRBD_VOLUMES" => row(tb, &[("LAYER_RESOURCE_ID", i(drbd)), ("VLM_NR", i(v))]),
                            _ => row(
                                tb,
                                &[
                                    ("LAYER_RESOURCE_ID", i(drbd + 1)),
                                    ("VLM_NR", i(v)),
                                    ("PROVIDER_KIND", t(provider)),
                                    ("NODE_NAME", t(node_name.clone())),
                                    ("STOR_POOL_NAME", t(pool)),
                                ],
                            ),
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

/// Every row of a plan, table by table in schema order (for tests and small databases).
pub fn rows(plan: &Plan) -> impl Iterator<Item = (&'static Table, Row)> + '_ {
    plan.data_version.schema().tables.iter().flat_map(move |table| {
        let rows = TableRows::new(plan, table);
        (0..rows.entities()).flat_map(move |e| {
            let mut out = Vec::new();
            rows.rows_of(e, &mut out);
            out.into_iter().map(move |row| (table, row))
        })
    })
}

#[cfg(test)]
mod tests;
