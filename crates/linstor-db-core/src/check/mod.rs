//! `check`: LINSTOR's load-time invariants as named [`Rule`]s, over a stream of rows. Pure: no I/O
//! but the scratch files it may be given; the engines feed it ([`crate::engine::check`] behind the
//! `runtime` feature).
//!
//! Rows arrive table by table in schema order, each table's rows in any order, and are not kept.
//! Checks across tables are joins: each row adds facts (an object it defines, an object it refers
//! to, a layer resource's owner, a DRBD minor, ...) to external sorts ([`crate::spill`]), and
//! [`Checker::finish`] merges them. Given scratch files ([`Checker::spilling_to`]), memory stays
//! flat however large the database; without, the facts stay in memory.
//!
//! Each row is also checked on its own: NULL in NOT NULL columns, its size against the limits of
//! the stores it is bound for ([`SizeLimits`]), and its key against the previous row's. That finds
//! every duplicate key only when each table's rows arrive sorted by their formatted key, as the
//! engines feed them ([`crate::backend::sorted`], bounded memory); so the checker keeps one key.
//!
//! Findings keep at most [`EXAMPLES_PER_RULE`] examples per rule, and count all.
//!
//! More rules plug in through [`Extension`]: an extension sees every row and adds findings under its
//! own rule name. The `resync-after` fixed point (`resync_after.rs`) is one, always on.

mod props;
mod resync_after;
mod rules;

#[cfg(test)]
mod tests;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::io;

pub use rules::Rule;

use crate::row::{Row, Value};
use crate::schema::{DataVersion, Table};
use crate::spill::{ExternalSort, Scratch, RUN_BYTES};

/// At most this many example findings are kept per rule; all are counted.
pub const EXAMPLES_PER_RULE: usize = 20;

/// `RESOURCES.RESOURCE_FLAGS` bit `DRBD_DISKLESS`.
const RSC_FLAG_DRBD_DISKLESS: i64 = 256;
/// `LAYER_DRBD_RESOURCES.FLAGS` bit `DISKLESS`.
const DRBD_RSC_FLAG_DISKLESS: i64 = 4;
/// The default diskless storage-pool definition and the display name LINSTOR gives it.
const DFLT_DISKLESS_POOL: (&str, &str) = ("DFLTDISKLESSSTORPOOL", "DfltDisklessStorPool");
/// NetCom connectors and keys as LINSTOR's controller writes them (`with-objects-etcd.export.json`).
const NETCOM_CONNECTORS: [&str; 3] = ["PlainConnector", "SslConnector", "DebugSslConnector"];
const NETCOM_KEYS: [&str; 10] = [
    "BindAddress",
    "Port",
    "Type",
    "Enabled",
    "KeyStore",
    "KeyStorePasswd",
    "KeyPasswd",
    "TrustStore",
    "TrustStorePasswd",
    "SslProtocol",
];
const NETCOM_TYPES: [&str; 2] = ["Plain", "SSL"];
/// The keys the controller cannot start without.
const NETCOM_REQUIRED: [&str; 3] =
    ["NetCom/PlainConnector/BindAddress", "NetCom/PlainConnector/Port", "NetCom/PlainConnector/Type"];

/// etcd's default `--max-request-bytes` (1.5 MiB): the largest request an etcd accepts unless its
/// operator raised it, and the largest object an API server can store in its etcd.
pub const ETCD_REQUEST_BYTES: usize = 1_572_864;
/// Room left in one etcd request for the transaction around a put and for the key prefix.
const ETCD_PUT_OVERHEAD: usize = 4096;
/// Room left in a stored custom resource for its metadata (name, apiVersion, kind, managedFields,
/// timestamps): about 1 KiB for LINSTOR's widest tables, so 8 KiB is ample.
const K8S_OBJECT_OVERHEAD: usize = 8192;

/// The stores whose size limits the rows must fit: the target of a write, or both for `check` of
/// a backup that may be restored into either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// One key and value per column, each in one etcd request ([`Rule::EtcdValueSize`]).
    pub etcd: bool,
    /// One custom resource per row ([`Rule::K8sObjectSize`]).
    pub kubernetes: bool,
}

impl SizeLimits {
    /// No size limits (a file target).
    pub const NONE: SizeLimits = SizeLimits { etcd: false, kubernetes: false };
    /// etcd's.
    pub const ETCD: SizeLimits = SizeLimits { etcd: true, kubernetes: false };
    /// The Kubernetes API's.
    pub const KUBERNETES: SizeLimits = SizeLimits { etcd: false, kubernetes: true };
    /// Both stores'.
    pub const BOTH: SizeLimits = SizeLimits { etcd: true, kubernetes: true };
}

/// One offending row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The rule's name (`net-interface-node`).
    pub rule: &'static str,
    /// The table of the offending row.
    pub table: String,
    /// The row's formatted primary key.
    pub key: String,
    /// What is wrong, naming the missing or conflicting object.
    pub detail: String,
}

/// Findings of one rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleTotal {
    /// The rule's name.
    pub rule: &'static str,
    /// Offending rows.
    pub findings: u64,
    /// Whether LINSTOR refuses (or damages) such a database, so that writes refuse it.
    pub refuses: bool,
}

/// The result of checking a database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Data version of the rows.
    #[serde(serialize_with = "serialize_version")]
    pub data_version: DataVersion,
    /// Rows checked.
    pub rows: u64,
    /// Example findings: at most [`EXAMPLES_PER_RULE`] per rule, in rule order.
    pub findings: Vec<Finding>,
    /// Every rule with findings and how many, in rule order.
    pub findings_total: Vec<RuleTotal>,
}

fn serialize_version<S: serde::Serializer>(version: &DataVersion, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(version.as_str())
}

impl CheckReport {
    /// No rule found anything.
    pub fn is_clean(&self) -> bool {
        self.findings_total.is_empty()
    }

    /// The rules whose findings make LINSTOR refuse the database.
    pub fn refusing(&self) -> impl Iterator<Item = &RuleTotal> {
        self.findings_total.iter().filter(|t| t.refuses)
    }

    /// Findings of all rules.
    pub fn total(&self) -> u64 {
        self.findings_total.iter().map(|t| t.findings).sum()
    }
}

/// Collects findings: counts all, keeps a few examples per rule.
#[derive(Debug, Default)]
pub struct Findings {
    tallies: BTreeMap<(usize, &'static str), Tally>,
}

#[derive(Debug)]
struct Tally {
    count: u64,
    refuses: bool,
    examples: Vec<Finding>,
}

impl Findings {
    /// One offending row of `rule` (an extension's own rule names sort after the built-in ones).
    pub fn add(&mut self, rule: &'static str, refuses: bool, table: &str, key: String, detail: String) {
        self.add_counted(rule, refuses, 1, table, key, detail);
    }

    fn add_rule(&mut self, rule: Rule, table: &str, key: String, detail: String) {
        self.add_counted(rule.name(), rule.refuses(), 1, table, key, detail);
    }

    fn add_counted(&mut self, rule: &'static str, refuses: bool, count: u64, table: &str, key: String, detail: String) {
        let tally = self.tally(rule, refuses);
        tally.count += count;
        if tally.examples.len() < EXAMPLES_PER_RULE {
            tally.examples.push(Finding { rule, table: table.to_owned(), key, detail });
        }
    }

    /// More offending rows of `rule` without an example.
    fn count_more(&mut self, rule: Rule, count: u64) {
        self.tally(rule.name(), rule.refuses()).count += count;
    }

    fn tally(&mut self, rule: &'static str, refuses: bool) -> &mut Tally {
        let order = Rule::from_name(rule).map_or(usize::MAX, |r| r as usize);
        self.tallies.entry((order, rule)).or_insert(Tally { count: 0, refuses, examples: Vec::new() })
    }
}

/// Further rules, fed every row after the built-in rules (the extension point for rules kept
/// elsewhere, such as the `DrbdOptions/Disk/resync-after` fixed point). The errors are those of the
/// scratch files an extension's joins spill to.
pub trait Extension: Send {
    /// One row of `table`.
    fn row(&mut self, table: &Table, row: &Row, findings: &mut Findings) -> io::Result<()>;
    /// All rows were seen.
    fn finish(&mut self, findings: &mut Findings) -> io::Result<()>;
}

/// What a key hash stands for; part of the hash, so that equal names of different kinds differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ObjKind {
    Node,
    NodeConn,
    RscGrp,
    RscDfn,
    SnapDfn,
    Rsc,
    Snap,
    RscConn,
    VlmGrp,
    VlmDfn,
    SnapVlmDfn,
    Vlm,
    SnapVlm,
    VlmConn,
    StorPool,
    StorPoolDfn,
    Kvs,
    LayerId,
    Protection,
    Acl,
    SystemAcl,
}

impl ObjKind {
    fn describe(self) -> &'static str {
        match self {
            ObjKind::Node => "node",
            ObjKind::NodeConn => "node connection",
            ObjKind::RscGrp => "resource group",
            ObjKind::RscDfn => "resource definition",
            ObjKind::SnapDfn => "snapshot definition",
            ObjKind::Rsc => "resource",
            ObjKind::Snap => "snapshot",
            ObjKind::RscConn => "resource connection",
            ObjKind::VlmGrp => "volume group",
            ObjKind::VlmDfn => "volume definition",
            ObjKind::SnapVlmDfn => "snapshot volume definition",
            ObjKind::Vlm => "volume",
            ObjKind::SnapVlm => "snapshot volume",
            ObjKind::VlmConn => "volume connection",
            ObjKind::StorPool => "storage pool",
            ObjKind::StorPoolDfn => "storage-pool definition",
            ObjKind::Kvs => "key-value store",
            ObjKind::LayerId => "layer resource id",
            ObjKind::Protection => "SEC_OBJECT_PROTECTION row",
            ObjKind::Acl => "SEC_ACL_MAP row",
            ObjKind::SystemAcl => "SEC_ACL_MAP row for role SYSTEM with access 15",
        }
    }
}

/// A 128-bit hash of a kind and its key parts (two SipHash passes with different salts).
fn key_hash(kind: ObjKind, parts: &[&str]) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        kind.hash(&mut h);
        for p in parts {
            p.hash(&mut h);
        }
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// A definition (`seq` 0) or a reference (`seq`: the referencing row's number, from 1) of an object,
/// by the object's key hash. A reference carries its rule (`Rule as u8`), the referencing row's
/// table and key, and the object it names. Sorted, each object's definition comes before the
/// references to it, and these in row order.
type Reference = (u128, u64, u8, String, String, String);

/// By resource (or snapshot) key hash: side 0, the resource has `DRBD_DISKLESS`; side 1, a layer
/// resource id it owns (id, node hash, `SNAPSHOT_NAME` is empty).
type LayerOwnerFact = (u128, u8, i64, u128, bool);

/// By layer resource id: side 0, its owner (node hash, live, resource is DRBD_DISKLESS, `None`);
/// side 1, a `LAYER_DRBD_RESOURCES` row (row number, DISKLESS bit, its `TCP_PORT_LIST` when parsable).
type DrbdFact = (i64, u8, u64, u128, bool, bool, Option<Vec<i64>>);

/// A TCP port taken by a live DRBD resource: node hash, port, layer resource id, row number.
type PortFact = (u128, i64, i64, u64);

/// A value that must be unique, with the row number and key of the row that takes it.
type Taken = (i64, u64, String);

/// Checks a database row by row; see the module documentation for what it keeps.
pub struct Checker {
    data_version: DataVersion,
    rows: u64,
    findings: Findings,
    scratch: Option<Scratch>,
    run_bytes: usize,
    references: ExternalSort<Reference>,
    layer_owners: ExternalSort<LayerOwnerFact>,
    drbd_rows: ExternalSort<DrbdFact>,
    minors: ExternalSort<Taken>,
    definition_ports: ExternalSort<Taken>,
    netcom_required_seen: [bool; 3],
    extensions: Vec<Box<dyn Extension>>,
    size_limits: SizeLimits,
    /// `(table, column)` the API server pruned from the rows (`crate::lost`): NULL there is expected.
    pruned: Vec<(String, String)>,
    /// The previous row: its table, formatted key and a hash of its values.
    previous: Option<(&'static str, String, u64)>,
    /// The first scratch-file error: the check cannot finish.
    failure: Option<io::Error>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker").field("data_version", &self.data_version).field("rows", &self.rows).finish()
    }
}

/// Reads cells by column name; NULL and absent columns read as empty / `None`.
struct Cells<'a> {
    table: &'a Table,
    row: &'a Row,
}

impl<'a> Cells<'a> {
    fn value(&self, column: &str) -> Option<&'a Value> {
        self.table.column_index(column).and_then(|i| self.row.cells.get(i)).and_then(Option::as_ref)
    }

    fn text(&self, column: &str) -> &'a str {
        match self.value(column) {
            Some(Value::Text(s)) => s,
            _ => "",
        }
    }

    fn int(&self, column: &str) -> Option<i64> {
        match self.value(column) {
            Some(Value::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// An integer column formatted as LINSTOR formats it in names (`0`), empty when NULL.
    fn number(&self, column: &str) -> String {
        self.int(column).map(|v| v.to_string()).unwrap_or_default()
    }
}

impl Checker {
    /// A checker for rows of `data_version` that keeps its facts in memory (small inputs).
    pub fn new(data_version: DataVersion) -> Checker {
        Checker::build(data_version, None, RUN_BYTES)
    }

    /// A checker for rows of `data_version` whose joins spill to files of `scratch`: its memory
    /// does not grow with the rows.
    pub fn spilling_to(data_version: DataVersion, scratch: Scratch) -> Checker {
        Checker::build(data_version, Some(scratch), RUN_BYTES)
    }

    /// Runs of `run_bytes` (small values test the spilled joins).
    fn build(data_version: DataVersion, scratch: Option<Scratch>, run_bytes: usize) -> Checker {
        Checker {
            data_version,
            rows: 0,
            findings: Findings::default(),
            scratch,
            run_bytes,
            references: ExternalSort::new(scratch, run_bytes),
            layer_owners: ExternalSort::new(scratch, run_bytes),
            drbd_rows: ExternalSort::new(scratch, run_bytes),
            minors: ExternalSort::new(scratch, run_bytes),
            definition_ports: ExternalSort::new(scratch, run_bytes),
            netcom_required_seen: [false; 3],
            extensions: vec![Box::new(resync_after::ResyncAfter::new(data_version, scratch, run_bytes))],
            size_limits: SizeLimits::BOTH,
            pruned: Vec::new(),
            previous: None,
            failure: None,
        }
    }

    /// Checks row sizes against the limits of these stores (default: both).
    pub fn with_size_limits(mut self, limits: SizeLimits) -> Checker {
        self.size_limits = limits;
        self
    }

    /// Accepts NULL in the columns the API server pruned from the rows ([`crate::lost`]); whether
    /// such rows may be written is decided by `--accept-lost-columns`.
    pub fn with_pruned_columns(mut self, lost: &[crate::lost::LostColumn]) -> Checker {
        self.pruned = lost.iter().map(|c| (c.table.clone(), c.column.clone())).collect();
        self
    }

    /// Adds rules kept elsewhere.
    pub fn with_extension(mut self, extension: Box<dyn Extension>) -> Checker {
        self.extensions.push(extension);
        self
    }

    /// Keeps the first scratch-file error; [`Checker::finish`] reports it.
    fn record(&mut self, result: io::Result<()>) {
        if let (Err(e), None) = (result, &self.failure) {
            self.failure = Some(e);
        }
    }

    fn define(&mut self, kind: ObjKind, parts: &[&str]) {
        let fact = (key_hash(kind, parts), 0, 0, String::new(), String::new(), String::new());
        let result = self.references.push(fact);
        self.record(result);
    }

    /// `row` of `table` needs the object `kind`/`parts`; resolved at [`Checker::finish`].
    fn require(&mut self, rule: Rule, table: &Table, row: &Row, kind: ObjKind, parts: &[&str]) {
        let target = format!("{} {}", kind.describe(), parts.join("/"));
        let fact =
            (key_hash(kind, parts), self.rows, rule as u8, table.name.to_owned(), row.formatted_key(table), target);
        let result = self.references.push(fact);
        self.record(result);
    }

    fn finding(&mut self, rule: Rule, table: &Table, row: &Row, detail: String) {
        self.findings.add_rule(rule, table.name, row.formatted_key(table), detail);
    }

    /// Checks one row of `table`.
    pub fn row(&mut self, table: &Table, row: &Row) {
        self.rows += 1;
        self.row_itself(table, row);
        let c = Cells { table, row };
        match table.name {
            "NODES" => {
                let node = c.text("NODE_NAME");
                self.define(ObjKind::Node, &[node]);
                self.protected(table, row, &format!("/nodes/{node}"));
            }
            "RESOURCE_DEFINITIONS" => self.resource_definition(table, row, &c),
            "RESOURCES" => self.resource(table, row, &c),
            "VOLUME_DEFINITIONS" => {
                let (rsc, snap, nr) = (c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"), c.number("VLM_NR"));
                if snap.is_empty() {
                    self.define(ObjKind::VlmDfn, &[rsc, &nr]);
                    self.require(Rule::VolumeDefinitionOwner, table, row, ObjKind::RscDfn, &[rsc]);
                } else {
                    self.define(ObjKind::SnapVlmDfn, &[rsc, snap, &nr]);
                    self.require(Rule::SnapshotDefinition, table, row, ObjKind::SnapDfn, &[rsc, snap]);
                }
            }
            "VOLUMES" => {
                let (node, rsc, snap) = (c.text("NODE_NAME"), c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"));
                let nr = c.number("VLM_NR");
                if snap.is_empty() {
                    self.define(ObjKind::Vlm, &[node, rsc, &nr]);
                    self.require(Rule::VolumeResource, table, row, ObjKind::Rsc, &[node, rsc]);
                    self.require(Rule::VolumeDefinition, table, row, ObjKind::VlmDfn, &[rsc, &nr]);
                } else {
                    self.define(ObjKind::SnapVlm, &[node, rsc, snap, &nr]);
                    self.require(Rule::VolumeResource, table, row, ObjKind::Snap, &[node, rsc, snap]);
                    self.require(Rule::VolumeDefinition, table, row, ObjKind::SnapVlmDfn, &[rsc, snap, &nr]);
                }
            }
            "RESOURCE_GROUPS" => {
                let group = c.text("RESOURCE_GROUP_NAME");
                self.define(ObjKind::RscGrp, &[group]);
                self.protected(table, row, &format!("/resourcegroups/{group}"));
            }
            "VOLUME_GROUPS" => {
                let (group, nr) = (c.text("RESOURCE_GROUP_NAME"), c.number("VLM_NR"));
                self.define(ObjKind::VlmGrp, &[group, &nr]);
                self.require(Rule::VolumeGroupOwner, table, row, ObjKind::RscGrp, &[group]);
            }
            "STOR_POOL_DEFINITIONS" => {
                let pool = c.text("POOL_NAME");
                self.define(ObjKind::StorPoolDfn, &[pool]);
                self.protected(table, row, &format!("/storpooldefinitions/{pool}"));
                let display = c.text("POOL_DSP_NAME");
                if pool == DFLT_DISKLESS_POOL.0 && display != DFLT_DISKLESS_POOL.1 {
                    self.finding(
                        Rule::DefaultDisklessPoolName,
                        table,
                        row,
                        format!("POOL_DSP_NAME is {display:?}; LINSTOR needs {:?}", DFLT_DISKLESS_POOL.1),
                    );
                }
            }
            "NODE_STOR_POOL" => {
                let (node, pool) = (c.text("NODE_NAME"), c.text("POOL_NAME"));
                self.define(ObjKind::StorPool, &[node, pool]);
                self.require(Rule::StoragePoolNode, table, row, ObjKind::Node, &[node]);
                self.require(Rule::StoragePoolDefinition, table, row, ObjKind::StorPoolDfn, &[pool]);
            }
            "NODE_NET_INTERFACES" => {
                self.require(Rule::NetInterfaceNode, table, row, ObjKind::Node, &[c.text("NODE_NAME")]);
            }
            "NODE_CONNECTIONS" => {
                let (a, b) = (c.text("NODE_NAME_SRC"), c.text("NODE_NAME_DST"));
                self.define(ObjKind::NodeConn, &[a, b]);
                self.require(Rule::ConnectionEnds, table, row, ObjKind::Node, &[a]);
                self.require(Rule::ConnectionEnds, table, row, ObjKind::Node, &[b]);
            }
            "RESOURCE_CONNECTIONS" => {
                let (a, b) = (c.text("NODE_NAME_SRC"), c.text("NODE_NAME_DST"));
                let (rsc, snap) = (c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"));
                if snap.is_empty() {
                    self.define(ObjKind::RscConn, &[a, b, rsc]);
                    self.require(Rule::ConnectionEnds, table, row, ObjKind::Rsc, &[a, rsc]);
                    self.require(Rule::ConnectionEnds, table, row, ObjKind::Rsc, &[b, rsc]);
                } else {
                    self.require(Rule::SnapshotDefinition, table, row, ObjKind::SnapDfn, &[rsc, snap]);
                    self.require(Rule::ConnectionEnds, table, row, ObjKind::Snap, &[a, rsc, snap]);
                    self.require(Rule::ConnectionEnds, table, row, ObjKind::Snap, &[b, rsc, snap]);
                }
            }
            "VOLUME_CONNECTIONS" => {
                let (a, b) = (c.text("NODE_NAME_SRC"), c.text("NODE_NAME_DST"));
                let (rsc, snap, nr) = (c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"), c.number("VLM_NR"));
                if snap.is_empty() {
                    self.define(ObjKind::VlmConn, &[a, b, rsc, &nr]);
                    self.require(Rule::ConnectionEnds, table, row, ObjKind::Vlm, &[a, rsc, &nr]);
                    self.require(Rule::ConnectionEnds, table, row, ObjKind::Vlm, &[b, rsc, &nr]);
                } else {
                    self.require(Rule::ConnectionEnds, table, row, ObjKind::SnapVlm, &[a, rsc, snap, &nr]);
                    self.require(Rule::ConnectionEnds, table, row, ObjKind::SnapVlm, &[b, rsc, snap, &nr]);
                }
            }
            "KEY_VALUE_STORE" => {
                let kvs = c.text("KVS_NAME");
                self.define(ObjKind::Kvs, &[kvs]);
                self.protected(table, row, &format!("/keyvaluestores/{kvs}"));
            }
            "FILES" => self.protected(table, row, &format!("/extfiles/{}", c.text("PATH"))),
            "SCHEDULES" => self.protected(table, row, &format!("/schedule/{}", c.text("NAME"))),
            "S3_REMOTES" | "EBS_REMOTES" | "LINSTOR_REMOTES" => {
                self.protected(table, row, &format!("/remote/{}", c.text("NAME")));
            }
            "LAYER_RESOURCE_IDS" => self.layer_resource_id(table, row, &c),
            "LAYER_DRBD_RESOURCES" => {
                let id = c.int("LAYER_RESOURCE_ID").unwrap_or_default();
                self.require(Rule::LayerDataOwner, table, row, ObjKind::LayerId, &[&id.to_string()]);
                let ports = match c.value("TCP_PORT_LIST") {
                    Some(Value::Text(list)) => parse_ports(list),
                    _ => None,
                };
                let diskless_bit = c.int("FLAGS").unwrap_or_default() & DRBD_RSC_FLAG_DISKLESS != 0;
                let result = self.drbd_rows.push((id, 1, self.rows, 0, false, diskless_bit, ports));
                self.record(result);
            }
            "LAYER_DRBD_RESOURCE_DEFINITIONS" => {
                let (rsc, snap) = (c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"));
                if snap.is_empty() {
                    self.require(Rule::LayerDataOwner, table, row, ObjKind::RscDfn, &[rsc]);
                    // Before v1-31-1 the port belongs to the definition, from one cluster-wide pool.
                    if self.data_version < DataVersion::V1_31_1 {
                        if let Some(port) = c.int("TCP_PORT") {
                            let result = self.definition_ports.push((port, self.rows, row.formatted_key(table)));
                            self.record(result);
                        }
                    }
                } else {
                    self.require(Rule::SnapshotDefinition, table, row, ObjKind::SnapDfn, &[rsc, snap]);
                }
            }
            "LAYER_DRBD_VOLUME_DEFINITIONS" => {
                let (rsc, snap, nr) = (c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"), c.number("VLM_NR"));
                if snap.is_empty() {
                    self.require(Rule::LayerDataOwner, table, row, ObjKind::VlmDfn, &[rsc, &nr]);
                } else {
                    self.require(Rule::SnapshotDefinition, table, row, ObjKind::SnapVlmDfn, &[rsc, snap, &nr]);
                }
                if let Some(minor) = c.int("VLM_MINOR_NR") {
                    let result = self.minors.push((minor, self.rows, row.formatted_key(table)));
                    self.record(result);
                }
            }
            name if name.starts_with("LAYER_") && table.column_index("LAYER_RESOURCE_ID").is_some() => {
                let id = c.number("LAYER_RESOURCE_ID");
                self.require(Rule::LayerDataOwner, table, row, ObjKind::LayerId, &[&id]);
                let pool = match name {
                    "LAYER_STORAGE_VOLUMES" => c.text("STOR_POOL_NAME"),
                    "LAYER_DRBD_VOLUMES" => c.text("POOL_NAME"),
                    _ => "",
                };
                if !pool.is_empty() {
                    let node = c.text("NODE_NAME");
                    self.require(Rule::LayerStoragePool, table, row, ObjKind::StorPool, &[node, pool]);
                }
            }
            "PROPS_CONTAINERS" => self.props(table, row, &c),
            "SEC_OBJECT_PROTECTION" => {
                let path = c.text("OBJECT_PATH");
                self.define(ObjKind::Protection, &[path]);
                self.require(Rule::ObjectAcl, table, row, ObjKind::Acl, &[path]);
                if path.starts_with("/sys/controller/") {
                    self.require(Rule::AclSystemEntry, table, row, ObjKind::SystemAcl, &[path]);
                }
            }
            "SEC_ACL_MAP" => {
                let path = c.text("OBJECT_PATH");
                self.define(ObjKind::Acl, &[path]);
                if c.text("ROLE_NAME") == "SYSTEM" && c.int("ACCESS_TYPE") == Some(15) {
                    self.define(ObjKind::SystemAcl, &[path]);
                }
            }
            _ => {}
        }
        for i in 0..self.extensions.len() {
            let result = self.extensions[i].row(table, row, &mut self.findings);
            self.record(result);
        }
    }

    /// The rules about a row alone: NULLs, its key against the previous row's, its size.
    fn row_itself(&mut self, table: &Table, row: &Row) {
        for (column, cell) in table.columns.iter().zip(&row.cells) {
            if cell.is_none()
                && !column.nullable
                && !self.pruned.iter().any(|(t, c)| t == table.name && c == column.name)
            {
                let what = if column.primary_key { "primary-key column" } else { "column" };
                let detail = format!("{what} {} is NULL; LINSTOR's schema declares it NOT NULL", column.name);
                self.finding(Rule::NotNull, table, row, detail);
            }
        }
        let key = row.formatted_key(table);
        let values = {
            let mut h = DefaultHasher::new();
            row.hash(&mut h);
            h.finish()
        };
        if let Some((previous_table, previous_key, previous_values)) = &self.previous {
            if *previous_table == table.name && *previous_key == key {
                let (rule, detail) = if *previous_values == values {
                    (Rule::DuplicateRow, "the same row twice; it is written once".to_owned())
                } else {
                    (
                        Rule::PrimaryKeyUnique,
                        "two rows with this primary key and different values; a store keeps one row per key".to_owned(),
                    )
                };
                self.findings.add_rule(rule, table.name, key.clone(), detail);
            }
        }
        if self.size_limits.etcd {
            for (column, cell) in table.columns.iter().zip(&row.cells) {
                let size = cell.as_ref().map_or(0, value_len) + key.len() + table.name.len() + column.name.len();
                if size + ETCD_PUT_OVERHEAD > ETCD_REQUEST_BYTES {
                    let detail = format!(
                        "{} holds {size} bytes with its key; one etcd request holds at most {ETCD_REQUEST_BYTES} (etcd's default --max-request-bytes), and LINSTOR cannot store it in etcd either",
                        column.name
                    );
                    self.findings.add_rule(Rule::EtcdValueSize, table.name, key.clone(), detail);
                }
            }
        }
        if self.size_limits.kubernetes {
            // JSON escaping at most sextuples a string: only rows that could be too large are encoded.
            let raw: usize = row.cells.iter().flatten().map(value_len).sum();
            if raw * 6 + table.columns.len() * 64 + K8S_OBJECT_OVERHEAD > ETCD_REQUEST_BYTES {
                let size = serde_json::to_vec(&row.to_json(table)).map_or(usize::MAX, |json| json.len());
                if size + K8S_OBJECT_OVERHEAD > ETCD_REQUEST_BYTES {
                    let detail = format!(
                        "its custom resource's spec is {size} bytes; the API server stores an object in one etcd value of at most {ETCD_REQUEST_BYTES} bytes with its metadata (\"etcdserver: request is too large\")"
                    );
                    self.findings.add_rule(Rule::K8sObjectSize, table.name, key.clone(), detail);
                }
            }
        }
        self.previous = Some((table.name, key, values));
    }

    /// An object LINSTOR protects: it needs its `SEC_OBJECT_PROTECTION` row.
    fn protected(&mut self, table: &Table, row: &Row, path: &str) {
        self.require(Rule::ObjectProtection, table, row, ObjKind::Protection, &[path]);
    }

    fn resource_definition(&mut self, table: &Table, row: &Row, c: &Cells<'_>) {
        let (rsc, snap) = (c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"));
        if snap.is_empty() {
            self.define(ObjKind::RscDfn, &[rsc]);
            let group = c.text("RESOURCE_GROUP_NAME");
            if !group.is_empty() {
                self.require(Rule::ResourceGroup, table, row, ObjKind::RscGrp, &[group]);
            }
            self.protected(table, row, &format!("/resourcedefinitions/{rsc}"));
        } else {
            self.define(ObjKind::SnapDfn, &[rsc, snap]);
            self.require(Rule::SnapshotDefinition, table, row, ObjKind::RscDfn, &[rsc]);
            self.protected(table, row, &format!("/snapshotdefinitions/{rsc}/{snap}"));
        }
    }

    fn resource(&mut self, table: &Table, row: &Row, c: &Cells<'_>) {
        let (node, rsc, snap) = (c.text("NODE_NAME"), c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"));
        self.require(Rule::ResourceNode, table, row, ObjKind::Node, &[node]);
        if snap.is_empty() {
            self.define(ObjKind::Rsc, &[node, rsc]);
            self.require(Rule::ResourceDefinition, table, row, ObjKind::RscDfn, &[rsc]);
            self.protected(table, row, &format!("/resources/{node}/{rsc}"));
            if c.int("RESOURCE_FLAGS").unwrap_or_default() & RSC_FLAG_DRBD_DISKLESS != 0 {
                let result = self.layer_owners.push((key_hash(ObjKind::Rsc, &[node, rsc]), 0, 0, 0, true));
                self.record(result);
            }
        } else {
            self.define(ObjKind::Snap, &[node, rsc, snap]);
            self.require(Rule::SnapshotDefinition, table, row, ObjKind::SnapDfn, &[rsc, snap]);
        }
    }

    fn layer_resource_id(&mut self, table: &Table, row: &Row, c: &Cells<'_>) {
        let id = c.int("LAYER_RESOURCE_ID").unwrap_or_default();
        self.define(ObjKind::LayerId, &[&id.to_string()]);
        let (node, rsc, snap) = (c.text("NODE_NAME"), c.text("RESOURCE_NAME"), c.text("SNAPSHOT_NAME"));
        let resource = if snap.is_empty() {
            self.require(Rule::LayerResourceOwner, table, row, ObjKind::Rsc, &[node, rsc]);
            key_hash(ObjKind::Rsc, &[node, rsc])
        } else {
            self.require(Rule::LayerResourceOwner, table, row, ObjKind::Snap, &[node, rsc, snap]);
            key_hash(ObjKind::Snap, &[node, rsc, snap])
        };
        if let Some(parent) = c.int("LAYER_RESOURCE_PARENT_ID") {
            self.require(Rule::LayerResourceParent, table, row, ObjKind::LayerId, &[&parent.to_string()]);
        }
        let result = self.layer_owners.push((resource, 1, id, key_hash(ObjKind::Node, &[node]), snap.is_empty()));
        self.record(result);
    }

    fn props(&mut self, table: &Table, row: &Row, c: &Cells<'_>) {
        let instance = c.text("PROPS_INSTANCE");
        match props::parse(self.data_version, instance) {
            Err(detail) => self.finding(Rule::PropsInstanceName, table, row, detail),
            Ok(props::PropsOwner::Global) => {}
            Ok(props::PropsOwner::Object(kind, parts)) => {
                self.require(Rule::PropsInstanceObject, table, row, kind, &parts);
            }
        }
        if instance == props::controller_instance(self.data_version) {
            let key = c.text("PROP_KEY");
            if let Some(i) = NETCOM_REQUIRED.iter().position(|k| *k == key) {
                self.netcom_required_seen[i] = true;
            }
            if let Some(detail) = netcom_spelling(key, c.text("PROP_VALUE")) {
                self.finding(Rule::NetcomPropertyNames, table, row, detail);
            }
        }
    }

    /// Runs the joins and returns the report; fails only when a scratch file does.
    pub fn finish(mut self) -> crate::error::Result<CheckReport> {
        let scratch_error = |e: io::Error| {
            crate::error::Error::Internal(format!(
                "checking the rows: a scratch file failed ({e}); the check needs room in the temporary directory (TMPDIR) for about the size of the database"
            ))
        };
        if let Some(e) = self.failure.take() {
            return Err(scratch_error(e));
        }
        self.unresolved_references().map_err(scratch_error)?;
        let controller = props::controller_instance(self.data_version);
        for (key, seen) in NETCOM_REQUIRED.iter().zip(self.netcom_required_seen) {
            if !seen {
                self.findings.add_rule(
                    Rule::NetcomPropertyNames,
                    "PROPS_CONTAINERS",
                    format!("{controller}:{key}"),
                    format!("no property {key} on {controller}; the controller stops without it"),
                );
            }
        }
        self.drbd_checks().map_err(scratch_error)?;
        let minors = std::mem::take(&mut self.minors);
        duplicates(minors, Rule::DrbdMinorUnique, "LAYER_DRBD_VOLUME_DEFINITIONS", "minor number", &mut self.findings)
            .map_err(scratch_error)?;
        let ports = std::mem::take(&mut self.definition_ports);
        duplicates(ports, Rule::DrbdTcpPortUnique, "LAYER_DRBD_RESOURCE_DEFINITIONS", "TCP port", &mut self.findings)
            .map_err(scratch_error)?;
        for extension in &mut self.extensions {
            extension.finish(&mut self.findings).map_err(scratch_error)?;
        }
        let mut findings = Vec::new();
        let mut findings_total = Vec::new();
        for ((_, rule), tally) in self.findings.tallies {
            findings_total.push(RuleTotal { rule, findings: tally.count, refuses: tally.refuses });
            findings.extend(tally.examples);
        }
        Ok(CheckReport { data_version: self.data_version, rows: self.rows, findings, findings_total })
    }

    /// The references to objects no row defines: one finding per rule and missing object, counting
    /// the rows that refer to it; the examples are the first by table and key.
    fn unresolved_references(&mut self) -> io::Result<()> {
        /// Per rule: the missing objects and how many rows refer to them, and the smallest examples.
        #[derive(Default)]
        struct Missing {
            rows: u64,
            examples: BTreeSet<(String, String, String, u64)>,
        }
        let mut missing: BTreeMap<Rule, Missing> = BTreeMap::new();
        // One missing object's references per rule: (rule, count, table, key, target).
        let mut group: Vec<(Rule, u64, String, String, String)> = Vec::new();
        let mut current: Option<(u128, bool)> = None;
        let mut flush = |group: &mut Vec<(Rule, u64, String, String, String)>| {
            for (rule, count, table, key, target) in group.drain(..) {
                let entry = missing.entry(rule).or_default();
                entry.rows += count;
                entry.examples.insert((table, key, target, count));
                if entry.examples.len() > EXAMPLES_PER_RULE {
                    entry.examples.pop_last();
                }
            }
        };
        let references = std::mem::take(&mut self.references);
        for fact in references.into_sorted()? {
            let (hash, seq, rule, table, key, target) = fact?;
            if current.map(|(h, _)| h) != Some(hash) {
                flush(&mut group);
                current = Some((hash, seq == 0));
            }
            if seq == 0 || current.is_some_and(|(_, defined)| defined) {
                continue;
            }
            let Some(rule) = Rule::ALL.get(usize::from(rule)).copied() else { continue };
            match group.iter_mut().find(|g| g.0 == rule) {
                Some(g) => g.1 += 1,
                None => group.push((rule, 1, table, key, target)),
            }
        }
        flush(&mut group);
        for (rule, entry) in missing {
            let mut shown = 0;
            for (table, key, target, count) in entry.examples {
                let detail =
                    if count > 1 { format!("no {target} ({count} rows refer to it)") } else { format!("no {target}") };
                self.findings.add_counted(rule.name(), rule.refuses(), count, &table, key, detail);
                shown += count;
            }
            self.findings.count_more(rule, entry.rows - shown);
        }
        Ok(())
    }

    /// The rules over `LAYER_DRBD_RESOURCES` that need the layer resource ids and resources.
    fn drbd_checks(&mut self) -> io::Result<()> {
        const TABLE: &str = "LAYER_DRBD_RESOURCES";
        // Join 1, by resource: the owner of each layer resource id, and whether it is DRBD_DISKLESS.
        let mut by_id = std::mem::take(&mut self.drbd_rows);
        let owners = std::mem::take(&mut self.layer_owners);
        let mut resource: Option<(u128, bool)> = None;
        for fact in owners.into_sorted()? {
            let (hash, side, id, node, live) = fact?;
            if resource.map(|(h, _)| h) != Some(hash) {
                resource = Some((hash, false));
            }
            if side == 0 {
                resource = Some((hash, true));
            } else {
                let diskless = resource.is_some_and(|(_, d)| d);
                by_id.push((id, 0, 0, node, live, diskless, None))?;
            }
        }
        // Join 2, by layer resource id: each DRBD row with its owner.
        let per_node_ports = self.data_version >= DataVersion::V1_31_1;
        let mut taken = ExternalSort::<PortFact>::new(self.scratch, self.run_bytes);
        let mut owner: Option<(i64, u128, bool, bool)> = None;
        for fact in by_id.into_sorted()? {
            let (id, side, seq, node, live, flag, ports) = fact?;
            if side == 0 {
                if owner.map(|o| o.0) != Some(id) {
                    owner = Some((id, node, live, flag));
                }
                continue;
            }
            let Some((_, node, live, diskless)) = owner.filter(|o| o.0 == id) else { continue };
            let key = id.to_string();
            if live && diskless != flag {
                let detail = if diskless {
                    "the resource has DRBD_DISKLESS (256) but FLAGS lacks DISKLESS (4); LINSTOR sets it at start"
                } else {
                    "FLAGS has DISKLESS (4) but the resource lacks DRBD_DISKLESS (256)"
                };
                self.findings.add_rule(Rule::DrbdDisklessFlag, TABLE, key.clone(), detail.to_owned());
            }
            if !per_node_ports {
                continue;
            }
            let list_error = match (&ports, live) {
                (None, _) => Some("no TCP_PORT_LIST (LINSTOR: \"did not have tcpPorts stored!\")"),
                (Some(p), true) if p.is_empty() => Some("an empty TCP_PORT_LIST (LINSTOR: \"DrbdRscData without tcpPort!\")"),
                (Some(p), false) if p.len() != 1 => {
                    Some("a snapshot's TCP_PORT_LIST must hold one entry, the negated port count (LINSTOR: \"DrbdRscData with invalid tcpPortCount!\")")
                }
                _ => None,
            };
            if let Some(detail) = list_error {
                self.findings.add_rule(Rule::DrbdTcpPortList, TABLE, key, detail.to_owned());
            }
            if live {
                for port in ports.unwrap_or_default().into_iter().filter(|p| *p >= 0) {
                    taken.push((node, port, id, seq))?;
                }
            }
        }
        // Join 3, by node and port: the first layer resource (by id) takes it.
        let mut first: Option<(u128, i64, i64)> = None;
        for fact in taken.into_sorted()? {
            let (node, port, id, _) = fact?;
            match first {
                Some((n, p, first_id)) if n == node && p == port => self.findings.add_rule(
                    Rule::DrbdTcpPortUnique,
                    TABLE,
                    id.to_string(),
                    format!("TCP port {port} is also used on this node by layer resource {first_id}"),
                ),
                _ => first = Some((node, port, id)),
            }
        }
        Ok(())
    }
}

/// Findings of `rule` for every row that takes a value an earlier row took.
fn duplicates(
    taken: ExternalSort<Taken>,
    rule: Rule,
    table: &str,
    what: &str,
    findings: &mut Findings,
) -> io::Result<()> {
    let mut first: Option<(i64, String)> = None;
    for fact in taken.into_sorted()? {
        let (value, _, key) = fact?;
        match &first {
            Some((v, first_key)) if *v == value => {
                findings.add_rule(rule, table, key, format!("{what} {value} is also used by {first_key}"));
            }
            _ => first = Some((value, key)),
        }
    }
    Ok(())
}

/// The bytes of a value as a store writes it (text as is, numbers in decimal).
fn value_len(value: &Value) -> usize {
    match value {
        Value::Text(s) => s.len(),
        Value::Int(_) => 20,
        Value::Bool(_) => 5,
    }
}

/// `[7000]` or `["7000"]` (etcd) → the ports; `None` when it is no JSON list of ports.
fn parse_ports(list: &str) -> Option<Vec<i64>> {
    let items = serde_json::from_str::<Vec<serde_json::Value>>(list).ok()?;
    items.iter().map(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))).collect()
}

/// Why a controller `NetCom/...` property is not spelt as LINSTOR spells it, if it is not.
fn netcom_spelling(key: &str, value: &str) -> Option<String> {
    let mut parts = key.splitn(3, '/');
    let (Some(first), Some(connector), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if !first.eq_ignore_ascii_case("NetCom") {
        return None;
    }
    let spelt = |known: &[&'static str], found: &str| -> Option<&'static str> {
        known.iter().copied().find(|k| k.eq_ignore_ascii_case(found) && *k != found)
    };
    let exact_connector = NETCOM_CONNECTORS.iter().find(|k| k.eq_ignore_ascii_case(connector)).copied();
    let exact_name = NETCOM_KEYS.iter().find(|k| k.eq_ignore_ascii_case(name)).copied();
    if first != "NetCom" || spelt(&NETCOM_CONNECTORS, connector).is_some() || spelt(&NETCOM_KEYS, name).is_some() {
        if let (Some(c), Some(n)) = (exact_connector, exact_name) {
            return Some(format!("key {key:?}: LINSTOR reads \"NetCom/{c}/{n}\" (exact case)"));
        }
        return Some(format!("key {key:?} differs from LINSTOR's NetCom names only in case"));
    }
    if name == "Type" {
        if let Some(v) = spelt(&NETCOM_TYPES, value) {
            return Some(format!("{key} = {value:?}: LINSTOR writes {v:?} (exact case)"));
        }
    }
    None
}
