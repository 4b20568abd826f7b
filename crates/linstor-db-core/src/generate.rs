//! Synthetic but realistic LINSTOR databases, deterministic for a seed: nodes with storage pools and
//! network interfaces, resource groups, resource definitions with DRBD over LVM-thin, diskful and
//! diskless resources, volumes, snapshots, properties and the default security rows.
//!
//! [`GeneratedSource`] streams the rows like any other [`Source`], so a generated database can be
//! written to a file, to etcd or anywhere else without ever being held in memory.

use async_trait::async_trait;

use crate::backend::{Event, Source};
use crate::error::Result;
use crate::export::ExportMeta;
use crate::row::{Row, Value};
use crate::schema::{DataVersion, Release, Table, DEFAULT_ACCESS_TYPES};

/// The shape of a generated database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Data version (and thereby layout) of the rows.
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

/// Rows a resource definition brings on average (resources, volumes, layer data, properties).
const ROWS_PER_RESOURCE_DEFINITION: usize = 33;

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

    /// The LINSTOR release whose metadata generated data carries.
    pub fn release(&self) -> &'static Release {
        Release::newest_with(self.data_version)
    }
}

/// Streams the rows of a [`Plan`].
pub struct GeneratedSource {
    plan: Plan,
    tables: std::slice::Iter<'static, Table>,
    current: Option<(&'static Table, usize)>,
    now_ms: i64,
}

/// Rows per emitted batch.
const BATCH: usize = 1024;

impl GeneratedSource {
    /// A source generating `plan`.
    pub fn new(plan: Plan) -> GeneratedSource {
        GeneratedSource { plan, tables: [].iter(), current: None, now_ms: 1_780_000_000_000 }
    }
}

#[async_trait]
impl Source for GeneratedSource {
    fn describe(&self) -> String {
        format!(
            "generated database ({} nodes, {} resource definitions, seed {})",
            self.plan.nodes, self.plan.resource_definitions, self.plan.seed
        )
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        self.tables = self.plan.data_version.schema().tables.iter();
        self.current = None;
        Ok(ExportMeta::for_release(self.plan.release(), "etcd", self.now_ms))
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        let Some((table, cursor)) = self.current else {
            let Some(table) = self.tables.next() else { return Ok(None) };
            self.current = Some((table, 0));
            return Ok(Some(Event::TableStart(table)));
        };
        let generator = Generator { plan: &self.plan, table };
        let total = generator.entities();
        if cursor >= total {
            self.current = None;
            return Ok(Some(Event::TableEnd));
        }
        let mut rows = Vec::with_capacity(BATCH);
        let mut next = cursor;
        while next < total && rows.len() < BATCH {
            generator.rows_of(next, &mut rows);
            next += 1;
        }
        self.current = Some((table, next));
        Ok(Some(Event::Rows(rows)))
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

const SECURITY_TYPES: [&str; 5] = ["SYSTEM", "PUBLIC", "SHARED", "SYSADM", "USER"];
const SECURITY_ROLES: [&str; 4] = ["SYSTEM", "PUBLIC", "SYSADM", "USER"];
const OBJECT_PATHS: [&str; 8] = [
    "/sys/controller/conf",
    "/sys/controller/freeSpaceMgrMap",
    "/sys/controller/keyValueStoreMap",
    "/sys/controller/nodesMap",
    "/sys/controller/rscDfnMap",
    "/sys/controller/rscGrpMap",
    "/sys/controller/shutdown",
    "/sys/controller/storPoolMap",
];
const CONTROLLER_PROPS: [(&str, &str, &str); 12] = [
    ("/CTRL", "defaultPlainConSvc", "PlainConnector"),
    ("/CTRL", "defaultSslConSvc", "SslConnector"),
    ("/CTRL", "NetCom/PlainConnector/bindaddress", ""),
    ("/CTRL", "NetCom/PlainConnector/port", "3376"),
    ("/CTRL", "NetCom/PlainConnector/type", "plain"),
    ("/CTRL", "NetCom/SslConnector/port", "3377"),
    ("/CTRL", "NetCom/SslConnector/type", "ssl"),
    ("/CTRL", "DrbdOptions/AutoEvictAllowEviction", "True"),
    ("/CTRL", "DrbdOptions/auto-diskful-allow-cleanup", "True"),
    ("/CTRL", "DrbdOptions/auto-verify-algo-allowed-list", "crct10dif;crc32c;sha384;sha512;sha256;sha1;md5;windrbd"),
    ("/STLT", "DrbdOptions/Resource/on-no-quorum", "suspend-io"),
    ("/STLT", "DrbdOptions/Resource/quorum", "majority"),
];

struct Generator<'a> {
    plan: &'a Plan,
    table: &'static Table,
}

/// One placement of a resource definition: its replica nodes, snapshot and volume counts.
struct Placement {
    replicas: Vec<usize>,
    diskless: Option<usize>,
    volumes: i64,
    snapshot: bool,
}

impl Generator<'_> {
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

    fn group_of(&self, r: usize) -> String {
        format!("SC-{}", r % self.plan.resource_groups.max(1))
    }

    fn placement(&self, r: usize) -> Placement {
        let nodes = self.plan.nodes.max(1);
        let start = (self.random(2, r) as usize) % nodes;
        let count = if r % 4 == 0 { 2 } else { 3 }.min(nodes);
        let replicas = (0..count).map(|k| (start + k) % nodes).collect();
        let diskless = (count == 2 && nodes > 2).then_some((start + 2) % nodes);
        Placement { replicas, diskless, volumes: if r % 5 == 0 { 2 } else { 1 }, snapshot: r % 10 == 0 }
    }

    /// Layer resource id of the DRBD layer of replica `k` of `r` (its storage child is id + 1).
    fn drbd_id(r: usize, k: usize, snapshot: bool) -> i64 {
        let base = (r * 8 + k * 2) as i64 + 1;
        if snapshot {
            base + 1_000_000_000
        } else {
            base
        }
    }

    /// How many entities the table iterates over (rows come per entity).
    fn entities(&self) -> usize {
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
            // Controller props, then per node, then per resource definition.
            "PROPS_CONTAINERS" => 1 + self.plan.nodes + self.plan.resource_definitions,
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
            "SEC_OBJECT_PROTECTION" | "SEC_ACL_MAP" => OBJECT_PATHS.len(),
            _ => 0,
        }
    }

    fn rows_of(&self, e: usize, out: &mut Vec<Row>) {
        let tb = self.table;
        match tb.name {
            "NODES" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(10, e))),
                    ("NODE_NAME", t(self.node_name(e))),
                    ("NODE_DSP_NAME", t(self.node_name(e).to_lowercase())),
                    ("NODE_FLAGS", i(0)),
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
                for (pool, driver, k) in [("POOL1", "LVM_THIN", 12), ("DFLTDISKLESSSTORPOOL", "DISKLESS", 13)] {
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
                for (pool, uuid) in [
                    ("DFLTDISKLESSSTORPOOL", "622807eb-c8c4-44f0-b03d-a08173c8fa1b".to_owned()),
                    ("DFLTSTORPOOL", "f51611c6-528f-4793-a87a-866d09e6733a".to_owned()),
                    ("POOL1", self.uuid(14, 0)),
                ] {
                    out.push(row(
                        tb,
                        &[("UUID", t(uuid)), ("POOL_NAME", t(pool)), ("POOL_DSP_NAME", t(pool.to_lowercase()))],
                    ));
                }
            }
            "RESOURCE_GROUPS" => {
                let (name, uuid, pools) = if e == 0 {
                    ("DFLTRSCGRP".to_owned(), "a52e934a-9fd9-44cb-9db1-716dcd13aae3".to_owned(), None)
                } else {
                    (format!("SC-{}", e - 1), self.uuid(20, e), Some(r#"["POOL1"]"#))
                };
                let mut values = vec![
                    ("UUID", t(uuid)),
                    ("RESOURCE_GROUP_NAME", t(name.clone())),
                    ("RESOURCE_GROUP_DSP_NAME", t(name.to_lowercase())),
                    ("REPLICA_COUNT", i(if e == 0 { 2 } else { 3 })),
                    ("NODE_NAME_LIST", t("[]")),
                ];
                if let Some(pools) = pools {
                    values.extend([
                        ("POOL_NAME", t(pools)),
                        ("LAYER_STACK", t(r#"["DRBD","STORAGE"]"#)),
                        ("DESCRIPTION", t("generated by linstor-db")),
                        ("DISKLESS_ON_REMAINING", B_FALSE),
                        ("REPLICAS_ON_DIFFERENT", t(r#"["topology.kubernetes.io/zone"]"#)),
                    ]);
                }
                out.push(row(tb, &values));
            }
            "VOLUME_GROUPS" => {
                let name = if e == 0 { "DFLTRSCGRP".to_owned() } else { format!("SC-{}", e - 1) };
                out.push(row(
                    tb,
                    &[
                        ("UUID", t(self.uuid(21, e))),
                        ("RESOURCE_GROUP_NAME", t(name)),
                        ("VLM_NR", i(0)),
                        ("FLAGS", i(0)),
                    ],
                ));
            }
            "PROPS_CONTAINERS" => self.props(e, out),
            "FILES" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(30, 0))),
                    ("PATH", t("/etc/lvm/lvm.conf.d/linstor.conf")),
                    ("FLAGS", i(0)),
                    // "global_filter = [ \"r|^/dev/drbd|\" ]\n"
                    ("CONTENT", t("Z2xvYmFsX2ZpbHRlciA9IFsgInJ8Xi9kZXYvZHJiZHwiIF0K")),
                    ("CONTENT_CHECKSUM", t("64a7d2b0fd5bd0e3e88d4d4e12e2a0d74e3a9a3e2ff0fc0ad9a51d1f0c2b2c6c")),
                    ("ALT_SUFFIXES", t("W10=")),
                ],
            )),
            "KEY_VALUE_STORE" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(31, 0))),
                    ("KVS_NAME", t("CSI-SNAPSHOTS")),
                    ("KVS_DSP_NAME", t("csi-snapshots")),
                ],
            )),
            "S3_REMOTES" => out.push(row(
                tb,
                &[
                    ("UUID", t(self.uuid(32, 0))),
                    ("NAME", t("BACKUPS")),
                    ("DSP_NAME", t("backups")),
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
                    ("NAME", t("NIGHTLY")),
                    ("DSP_NAME", t("nightly")),
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
                for (key, dsp, value) in
                    [("AUTHREQUIRED", "AuthRequired", "false"), ("SECURITYLEVEL", "SecurityLevel", "NO_SECURITY")]
                {
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
                for name in SECURITY_TYPES {
                    out.push(row(tb, &[("TYPE_NAME", t(name)), ("TYPE_DSP_NAME", t(name)), ("TYPE_ENABLED", B_TRUE)]));
                }
            }
            "SEC_ROLES" => {
                for (n, name) in SECURITY_ROLES.iter().enumerate() {
                    let privileges = if n == 0 { -1 } else { 0 };
                    out.push(row(
                        tb,
                        &[
                            ("ROLE_NAME", t(*name)),
                            ("ROLE_DSP_NAME", t(*name)),
                            ("DOMAIN_NAME", t(*name)),
                            ("ROLE_ENABLED", B_TRUE),
                            ("ROLE_PRIVILEGES", i(privileges)),
                        ],
                    ));
                }
            }
            "SEC_TYPE_RULES" => {
                for (d, domain) in SECURITY_ROLES.iter().enumerate() {
                    for (k, type_name) in SECURITY_TYPES.iter().enumerate() {
                        let access = if d == 0 || domain == type_name {
                            15
                        } else if k == 2 {
                            7
                        } else {
                            1
                        };
                        out.push(row(
                            tb,
                            &[("DOMAIN_NAME", t(*domain)), ("TYPE_NAME", t(*type_name)), ("ACCESS_TYPE", i(access))],
                        ));
                    }
                }
            }
            "SEC_OBJECT_PROTECTION" => out.push(row(
                tb,
                &[
                    ("OBJECT_PATH", t(OBJECT_PATHS[e])),
                    ("CREATOR_IDENTITY_NAME", t("SYSTEM")),
                    ("OWNER_ROLE_NAME", t("SYSADM")),
                    ("SECURITY_TYPE_NAME", t("SHARED")),
                ],
            )),
            "SEC_ACL_MAP" => {
                for (role, access) in [("PUBLIC", 7), ("SYSADM", 15)] {
                    out.push(row(
                        tb,
                        &[("OBJECT_PATH", t(OBJECT_PATHS[e])), ("ROLE_NAME", t(role)), ("ACCESS_TYPE", i(access))],
                    ));
                }
            }
            _ => self.resource_rows(e, out),
        }
    }

    fn props(&self, e: usize, out: &mut Vec<Row>) {
        let tb = self.table;
        let mut push = |instance: String, key: &str, value: String| {
            out.push(row(tb, &[("PROPS_INSTANCE", t(instance)), ("PROP_KEY", t(key)), ("PROP_VALUE", t(value))]));
        };
        if e == 0 {
            for (instance, key, value) in CONTROLLER_PROPS {
                push(instance.to_owned(), key, value.to_owned());
            }
            push("/CTRL".into(), "Cluster/LocalID", self.uuid(40, 0));
            push("/KVS/CSI-SNAPSHOTS".into(), "snap-0/source", "pvc-0".into());
            return;
        }
        let n = e - 1;
        if n < self.plan.nodes {
            let node = self.node_name(n);
            push(format!("/NODES/{node}"), "CurStltConnName", "default".into());
            push(format!("/NODES/{node}"), "Aux/topology.kubernetes.io/zone", format!("zone-{}", n % 3));
            push(format!("/STOR_POOLS/{node}/POOL1"), "StorDriver/StorPoolName", "vg1/thin".into());
            return;
        }
        let r = n - self.plan.nodes;
        let rd = self.rd_name(r);
        push(format!("/RSC_DFNS/{rd}"), "DrbdOptions/Resource/quorum", "majority".into());
        push(format!("/RSC_DFNS/{rd}"), "DrbdOptions/Net/allow-two-primaries", "no".into());
        push(format!("/RSC_DFNS/{rd}"), "Aux/csi-volume-annotations", format!(r#"{{"name":"{}"}}"#, rd.to_lowercase()));
        push(format!("/VLM_DFNS/{rd}/0"), "DrbdCurrentGi", format!("{:016X}", self.random(41, r)));
        let placement = self.placement(r);
        for node in &placement.replicas {
            push(format!("/RSCS/{}/{rd}", self.node_name(*node)), "StorPoolName", "pool1".into());
        }
    }

    /// Rows of the per-resource-definition tables.
    fn resource_rows(&self, r: usize, out: &mut Vec<Row>) {
        let tb = self.table;
        let rd = self.rd_name(r);
        let placement = self.placement(r);
        let port = 7000 + (r % 2000) as i64;
        let snapshots: &[(&str, bool)] =
            if placement.snapshot { &[("", false), ("SNAPSHOT-1", true)] } else { &[("", false)] };
        let mut all_nodes: Vec<(usize, bool)> = placement.replicas.iter().map(|n| (*n, false)).collect();
        if let Some(n) = placement.diskless {
            all_nodes.push((n, true));
        }
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
                            ("RESOURCE_FLAGS", i(if *is_snap { 1 << 4 } else { 0 })),
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
                                ("VLM_SIZE", i(1_048_576 * (1 + (self.random(61, r) % 100) as i64))),
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
                        let minor = (!is_snap).then(|| i(1000 + (r as i64) * 2 + v));
                        let mut values = vec![
                            ("RESOURCE_NAME", t(rd.clone())),
                            ("RESOURCE_NAME_SUFFIX", t("")),
                            ("SNAPSHOT_NAME", t(*snap)),
                            ("VLM_NR", i(v)),
                        ];
                        if let Some(minor) = minor {
                            values.push(("VLM_MINOR_NR", minor));
                        }
                        out.push(row(tb, &values));
                    }
                }
            }
            _ => self.replica_rows(r, &rd, &placement, &all_nodes, port, out),
        }
    }

    /// Rows that exist once per replica (and per snapshot of it).
    fn replica_rows(
        &self,
        r: usize,
        rd: &str,
        placement: &Placement,
        all_nodes: &[(usize, bool)],
        port: i64,
        out: &mut Vec<Row>,
    ) {
        let tb = self.table;
        for (k, (node, diskless)) in all_nodes.iter().enumerate() {
            let node_name = self.node_name(*node);
            let snaps: &[(&str, bool)] =
                if placement.snapshot && !diskless { &[("", false), ("SNAPSHOT-1", true)] } else { &[("", false)] };
            for (snap, is_snap) in snaps {
                let drbd = Generator::drbd_id(r, k, *is_snap);
                let (pool, provider) =
                    if *diskless { ("DFLTDISKLESSSTORPOOL", "DISKLESS") } else { ("POOL1", "LVM_THIN") };
                match tb.name {
                    "RESOURCES" => out.push(row(
                        tb,
                        &[
                            ("UUID", t(self.uuid(80 + u64::from(*is_snap), r * 8 + k))),
                            ("NODE_NAME", t(node_name.clone())),
                            ("RESOURCE_NAME", t(rd)),
                            ("SNAPSHOT_NAME", t(*snap)),
                            ("RESOURCE_FLAGS", i(if *diskless { 1 << 2 | 1 << 8 } else { 0 })),
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
                            ("FLAGS", i(0)),
                            ("NODE_ID", i(k as i64)),
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
                    "RESOURCE_CONNECTIONS" if k == 1 && !is_snap && r % 7 == 0 => out.push(row(
                        tb,
                        &[
                            ("UUID", t(self.uuid(100, r))),
                            ("NODE_NAME_SRC", t(self.node_name(placement.replicas[0]))),
                            ("NODE_NAME_DST", t(node_name.clone())),
                            ("RESOURCE_NAME", t(rd)),
                            ("SNAPSHOT_NAME", t("")),
                            ("FLAGS", i(0)),
                            ("TCP_PORT", i(port + 2000)),
                            ("TCP_PORT_SRC", i(port + 2000)),
                            ("TCP_PORT_DST", i(port + 2001)),
                        ],
                    )),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::inspect;
    use std::collections::HashSet;

    async fn all_rows(plan: Plan) -> Vec<(&'static Table, Row)> {
        let mut source = GeneratedSource::new(plan);
        source.open().await.unwrap();
        let mut out = Vec::new();
        let mut table = None;
        while let Some(event) = source.next_event().await.unwrap() {
            match event {
                Event::TableStart(t) => table = Some(t),
                Event::Rows(rows) => out.extend(rows.into_iter().map(|r| (table.unwrap(), r))),
                Event::TableEnd => table = None,
            }
        }
        out
    }

    #[tokio::test]
    async fn rows_are_valid_unique_and_complete_in_every_version() {
        for version in DataVersion::ALL {
            let rows = all_rows(Plan::for_rows(3000, 7, version)).await;
            let mut keys = HashSet::new();
            for (table, row) in &rows {
                row.validate(table).unwrap();
                for (column, cell) in table.columns.iter().zip(&row.cells) {
                    assert!(column.nullable || cell.is_some(), "{version} {} {} is NULL", table.name, column.name);
                }
                assert!(
                    keys.insert((table.name, row.formatted_key(table))),
                    "duplicate {} {}",
                    table.name,
                    row.formatted_key(table)
                );
            }
            assert!(rows.len() > 2500 && rows.len() < 3600, "{version}: {} rows", rows.len());
        }
    }

    #[tokio::test]
    async fn deterministic_for_a_seed() {
        let a = all_rows(Plan::for_rows(500, 1, DataVersion::V1_31_1)).await;
        let b = all_rows(Plan::for_rows(500, 1, DataVersion::V1_31_1)).await;
        let c = all_rows(Plan::for_rows(500, 2, DataVersion::V1_31_1)).await;
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[tokio::test]
    async fn covers_the_main_tables() {
        let (_, counts) =
            inspect(&mut GeneratedSource::new(Plan::for_rows(2000, 3, DataVersion::V1_31_1))).await.unwrap();
        for table in [
            "NODES",
            "RESOURCES",
            "VOLUMES",
            "LAYER_DRBD_RESOURCES",
            "LAYER_STORAGE_VOLUMES",
            "PROPS_CONTAINERS",
            "SEC_ACL_MAP",
            "RESOURCE_CONNECTIONS",
        ] {
            assert!(counts.iter().any(|c| c.table == table && c.rows > 0), "{table} is empty");
        }
    }
}
