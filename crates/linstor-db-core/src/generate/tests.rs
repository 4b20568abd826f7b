use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::*;
use crate::export::{read_export, Flow, ReadEvent};

/// Rows per table of an export LINSTOR wrote, from `testdata/reference/linstor-written`.
fn linstor_written(name: &str) -> BTreeMap<&'static str, Vec<Row>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/reference/linstor-written").join(name);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut tables: BTreeMap<&'static str, Vec<Row>> = BTreeMap::new();
    let mut current = None;
    read_export(std::io::BufReader::new(file), Path::new(name), |event| {
        match event {
            ReadEvent::TableStart(table) => current = Some(table.name),
            ReadEvent::Row(row) => tables.entry(current.unwrap_or_default()).or_default().push(row),
            ReadEvent::Meta(_) | ReadEvent::TableEnd => {}
        }
        Ok(Flow::Continue)
    })
    .unwrap();
    tables
}

fn generated(plan: &Plan) -> BTreeMap<&'static str, Vec<Row>> {
    let mut tables: BTreeMap<&'static str, Vec<Row>> = BTreeMap::new();
    for (table, row) in rows(plan) {
        tables.entry(table.name).or_default().push(row);
    }
    tables
}

fn table(version: DataVersion, name: &str) -> &'static Table {
    version.schema().table(name).unwrap()
}

fn text<'r>(table: &Table, row: &'r Row, column: &str) -> &'r str {
    match &row.cells[table.column_index(column).unwrap()] {
        Some(Value::Text(s)) => s,
        other => panic!("{} {column} is {other:?}", table.name),
    }
}

fn int(table: &Table, row: &Row, column: &str) -> i64 {
    match &row.cells[table.column_index(column).unwrap()] {
        Some(Value::Int(v)) => *v,
        other => panic!("{} {column} is {other:?}", table.name),
    }
}

/// The shape of the database LINSTOR 1.33.3 started on and left unchanged (3 nodes, 90 resource
/// definitions, one group).
fn reference_plan() -> Plan {
    Plan { data_version: DataVersion::V1_31_1, nodes: 3, resource_groups: 1, resource_definitions: 90, seed: 7 }
}

#[test]
fn rows_are_valid_unique_and_complete_in_every_version() {
    for version in DataVersion::ALL {
        let plan = Plan::for_rows(3000, 7, version);
        let mut keys = HashSet::new();
        let mut count = 0;
        for (table, row) in rows(&plan) {
            count += 1;
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
        assert!(count > 2500 && count < 3600, "{version}: {count} rows for a plan of 3000");
    }
}

#[test]
fn deterministic_for_a_seed() {
    let plan = |seed| Plan::for_rows(500, seed, DataVersion::V1_31_1);
    let a: Vec<_> = rows(&plan(1)).collect();
    assert_eq!(a, rows(&plan(1)).collect::<Vec<_>>());
    assert_ne!(a, rows(&plan(2)).collect::<Vec<_>>());
}

#[test]
fn fixed_rows_are_those_linstor_creates() {
    let fresh = linstor_written("fresh-etcd.export.json");
    let ours = generated(&reference_plan());
    for name in [
        "SEC_IDENTITIES",
        "SEC_TYPES",
        "SEC_ROLES",
        "SEC_CONFIGURATION",
        "SEC_ID_ROLE_MAP",
        "SEC_DFLT_ROLES",
        "SEC_TYPE_RULES",
    ] {
        let mut a = fresh[name].clone();
        let mut b = ours[name].clone();
        a.sort_by_key(|r| format!("{r:?}"));
        b.sort_by_key(|r| format!("{r:?}"));
        assert_eq!(a, b, "{name}");
    }
    // The default resource group and pools, and every protection and ACL row of the fresh database.
    for name in ["RESOURCE_GROUPS", "STOR_POOL_DEFINITIONS", "SEC_OBJECT_PROTECTION", "SEC_ACL_MAP"] {
        for row in &fresh[name] {
            assert!(ours[name].contains(row), "{name}: LINSTOR's {row:?} is missing");
        }
    }
    // Every controller and satellite property LINSTOR's init writes, with its value, but the two left
    // out on purpose and the cluster id.
    let props = table(DataVersion::V1_31_1, "PROPS_CONTAINERS");
    let ours_props: HashSet<(String, String)> = ours["PROPS_CONTAINERS"]
        .iter()
        .map(|r| (text(props, r, "PROPS_INSTANCE").to_owned(), text(props, r, "PROP_KEY").to_owned()))
        .collect();
    for row in &fresh["PROPS_CONTAINERS"] {
        let key = text(props, row, "PROP_KEY");
        if ["DrbdOptions/auto-resync-after-disable", "DrbdOptions/auto-add-quorum-tiebreaker"].contains(&key) {
            continue;
        }
        let entry = (text(props, row, "PROPS_INSTANCE").to_owned(), key.to_owned());
        assert!(ours_props.contains(&entry), "{entry:?} is missing");
        if key != "Cluster/LocalID" && entry.0 == "/CTRL" {
            assert!(ours["PROPS_CONTAINERS"].contains(row), "{entry:?} has another value");
        }
    }
}

/// Replaces what differs between two databases of one shape (names, UUIDs, numbers) by placeholders.
fn shape_of(table: &Table, row: &Row) -> String {
    let mut out = Vec::new();
    for (column, cell) in table.columns.iter().zip(&row.cells) {
        let value = match cell {
            None => "NULL".to_owned(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Int(v)) => match column.name {
                "FLAGS" | "RESOURCE_FLAGS" | "VLM_FLAGS" | "NODE_FLAGS" | "NODE_TYPE" | "VLM_NR" | "NODE_ID"
                | "PEER_SLOTS" | "AL_STRIPES" | "AL_STRIPE_SIZE" | "REPLICA_COUNT" | "ACCESS_TYPE" => v.to_string(),
                _ => "#".to_owned(),
            },
            Some(Value::Text(s)) => match column.name {
                "UUID" | "SECRET" | "INET_ADDRESS" => "*".to_owned(),
                "PROP_VALUE" if s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit()) => "GI".to_owned(),
                "TCP_PORT_LIST" if s != "[-1]" => "[#]".to_owned(),
                _ => mask_names(s),
            },
        };
        out.push(format!("{}={value}", column.name));
    }
    out.join(" ")
}

fn mask_names(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        let upper = rest.to_uppercase();
        if upper.starts_with("PVC-") && rest.len() >= 40 {
            out.push_str("RD");
            rest = &rest[40..];
        } else if upper.starts_with("K8S-WORKER-") && rest.len() >= 14 {
            out.push_str("NODE");
            rest = &rest[14..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn shapes(tables: &BTreeMap<&'static str, Vec<Row>>, name: &str) -> BTreeMap<String, usize> {
    let table = table(DataVersion::V1_31_1, name);
    let mut counts = BTreeMap::new();
    for row in tables.get(name).into_iter().flatten() {
        *counts.entry(shape_of(table, row)).or_insert(0) += 1;
    }
    counts
}

/// The generated database has, row for row and but for names and numbers, the shape of the one
/// LINSTOR 1.33.3 started on and left unchanged: its layer data and DRBD flags, its per-object
/// properties (the resync-after chain LINSTOR adds at start-up among them) and security rows.
#[test]
fn resources_look_like_the_database_linstor_left_unchanged() {
    let linstor = linstor_written("loaded-by-linstor-k8s.export.json");
    let ours = generated(&reference_plan());
    for name in [
        "NODES",
        "NODE_NET_INTERFACES",
        "NODE_STOR_POOL",
        "RESOURCE_DEFINITIONS",
        "VOLUME_DEFINITIONS",
        "RESOURCES",
        "VOLUMES",
        "LAYER_RESOURCE_IDS",
        "LAYER_DRBD_RESOURCES",
        "LAYER_DRBD_RESOURCE_DEFINITIONS",
        "LAYER_DRBD_VOLUMES",
        "LAYER_DRBD_VOLUME_DEFINITIONS",
        "LAYER_STORAGE_VOLUMES",
        "RESOURCE_CONNECTIONS",
        "FILES",
        "KEY_VALUE_STORE",
        "S3_REMOTES",
        "SCHEDULES",
    ] {
        assert_eq!(shapes(&ours, name), shapes(&linstor, name), "{name}");
    }
    // Properties and security rows of the objects (the controller's own differ on purpose: LINSTOR's
    // exact init set, see `fixed_rows_are_those_linstor_creates`).
    let per_object = |tables: &BTreeMap<&'static str, Vec<Row>>, name: &str| {
        shapes(tables, name)
            .into_iter()
            .filter(|(shape, _)| {
                !["/CTRL", "/STLT", "/sys/", "DFLT"].iter().any(|fixed| shape.contains(fixed))
                    && !shape.contains("resourcegroups")
            })
            .collect::<BTreeMap<_, _>>()
    };
    for name in ["PROPS_CONTAINERS", "SEC_OBJECT_PROTECTION", "SEC_ACL_MAP"] {
        assert_eq!(per_object(&ours, name), per_object(&linstor, name), "{name}");
    }
}

/// LINSTOR's `CtrlResyncAfterHelper`, written from its description: per node and storage pool, the
/// diskful DRBD volumes by minor; each resyncs after the one before it. Checked on plans of many sizes
/// against what the generator writes.
#[test]
fn resync_after_is_the_chain_linstor_computes() {
    for (nodes, rds, version) in
        [(3, 90, DataVersion::V1_31_1), (7, 300, DataVersion::V1_19_1), (40, 2000, DataVersion::V1_27_1)]
    {
        let plan = Plan { data_version: version, nodes, resource_groups: 2, resource_definitions: rds, seed: 3 };
        let db = generated(&plan);
        let (rsc, lri, lsv, ldvd, rdf, props) = (
            table(version, "RESOURCES"),
            table(version, "LAYER_RESOURCE_IDS"),
            table(version, "LAYER_STORAGE_VOLUMES"),
            table(version, "LAYER_DRBD_VOLUME_DEFINITIONS"),
            table(version, "RESOURCE_DEFINITIONS"),
            table(version, "PROPS_CONTAINERS"),
        );
        let diskless: HashSet<(String, String)> = db["RESOURCES"]
            .iter()
            .filter(|r| {
                text(rsc, r, "SNAPSHOT_NAME").is_empty() && int(rsc, r, "RESOURCE_FLAGS") & RSC_FLAG_DRBD_DISKLESS != 0
            })
            .map(|r| (text(rsc, r, "NODE_NAME").to_owned(), text(rsc, r, "RESOURCE_NAME").to_owned()))
            .collect();
        let owner: BTreeMap<i64, (String, String)> = db["LAYER_RESOURCE_IDS"]
            .iter()
            .filter(|r| text(lri, r, "SNAPSHOT_NAME").is_empty())
            .map(|r| {
                (
                    int(lri, r, "LAYER_RESOURCE_ID"),
                    (text(lri, r, "NODE_NAME").to_owned(), text(lri, r, "RESOURCE_NAME").to_owned()),
                )
            })
            .collect();
        let minor: BTreeMap<(String, i64), i64> = db["LAYER_DRBD_VOLUME_DEFINITIONS"]
            .iter()
            .filter(|r| text(ldvd, r, "SNAPSHOT_NAME").is_empty())
            .map(|r| {
                ((text(ldvd, r, "RESOURCE_NAME").to_owned(), int(ldvd, r, "VLM_NR")), int(ldvd, r, "VLM_MINOR_NR"))
            })
            .collect();
        let display: BTreeMap<String, String> = db["RESOURCE_DEFINITIONS"]
            .iter()
            .map(|r| (text(rdf, r, "RESOURCE_NAME").to_owned(), text(rdf, r, "RESOURCE_DSP_NAME").to_owned()))
            .collect();
        let mut pools: BTreeMap<(String, String), BTreeMap<i64, (String, i64)>> = BTreeMap::new();
        for v in &db["LAYER_STORAGE_VOLUMES"] {
            let Some((node, rd)) = owner.get(&int(lsv, v, "LAYER_RESOURCE_ID")) else { continue };
            if text(lsv, v, "PROVIDER_KIND") == "DISKLESS" || diskless.contains(&(node.clone(), rd.clone())) {
                continue;
            }
            let vlm = int(lsv, v, "VLM_NR");
            pools
                .entry((node.clone(), text(lsv, v, "STOR_POOL_NAME").to_owned()))
                .or_default()
                .insert(minor[&(rd.clone(), vlm)], (rd.clone(), vlm));
        }
        let mut expected = BTreeMap::new();
        for ((node, _), volumes) in &pools {
            let mut before: Option<String> = None;
            for (rd, vlm) in volumes.values() {
                if let Some(before) = &before {
                    expected.insert(PropsOwner::Volume(node, rd, *vlm).instance_name(version), before.clone());
                }
                before = Some(format!("{}/{vlm}", display[rd]));
            }
        }
        let actual: BTreeMap<String, String> = db["PROPS_CONTAINERS"]
            .iter()
            .filter(|r| text(props, r, "PROP_KEY") == RESYNC_AFTER_KEY)
            .map(|r| (text(props, r, "PROPS_INSTANCE").to_owned(), text(props, r, "PROP_VALUE").to_owned()))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(actual, expected, "{nodes} nodes, {rds} resource definitions");
    }
}

#[test]
fn old_data_versions_use_the_old_instance_names() {
    let props = |version| {
        let table = table(version, "PROPS_CONTAINERS");
        generated(&Plan::for_rows(1000, 1, version))["PROPS_CONTAINERS"]
            .iter()
            .map(|r| text(table, r, "PROPS_INSTANCE").to_owned())
            .collect::<HashSet<_>>()
    };
    let old = props(DataVersion::V1_25_1);
    assert!(old.contains("/CTRLCFG") && old.contains("STLTCFG"));
    assert!(old.iter().any(|i| i.starts_with("/RESOURCEDEFINITIONS/")));
    assert!(old.iter().all(|i| !i.starts_with("/RSC_DFNS/") && !i.starts_with("/VLMS/")));
    let new = props(DataVersion::V1_27_1);
    assert!(new.contains("/CTRL") && new.contains("/STLT"));
    assert!(new.iter().all(|i| !i.starts_with("/RESOURCEDEFINITIONS/") && !i.starts_with("/VOLUMES/")));
}

#[test]
fn numbers_stay_unique_and_ranges_are_widened_for_big_plans() {
    let plan = Plan::for_rows(1_000_000, 1, DataVersion::V1_31_1);
    let ports = Ports { resource_definitions: plan.resource_definitions };
    let props = ports.range_props();
    assert!(props.iter().any(|(k, _)| *k == "TcpPortAutoRange"), "{props:?}");
    assert!(ports.last_port() <= 65_535);
    let mut seen = HashSet::new();
    for r in 0..plan.resource_definitions {
        assert!(seen.insert(ports.resource(r)));
        if r % 7 == 0 {
            let (a, b) = ports.connection(r);
            assert!(seen.insert(a) && seen.insert(b), "port of connection {r} reused");
        }
    }
    assert!(Ports { resource_definitions: 90 }.range_props().is_empty());
    assert!(Plan { resource_definitions: MAX_RESOURCE_DEFINITIONS + 1, ..plan }.validate().is_err());
}
