//! `resync-after`: the `DrbdOptions/Disk/resync-after` chain LINSTOR's controller rewrites at
//! start-up (`CtrlResyncAfterHelper.updateResyncAfter`, 1.33.3: "Updated 246 resync-after entries" on a
//! database that lacked them). Unless `/CTRL` `DrbdOptions/auto-resync-after-disable` is `true`, per
//! storage pool of a node (diskless pools aside) the volumes of resources with a DRBD layer that are
//! neither diskless nor being deleted are ordered by DRBD minor; the first has no `resync-after`, each
//! other one resyncs after the one before, `<resource display name><suffix>/<volume number>`.
//!
//! A database that differs is still loaded (LINSTOR fixes it), so the rule reports without refusing a
//! write; a generated database must pass it, being one LINSTOR leaves unchanged. Volume definitions
//! flagged for deletion are not looked at (not needed for data LINSTOR left at rest).
//!
//! Memory: a few short strings per resource, layer resource id and volume.

use std::collections::{BTreeMap, HashMap};

use super::{Cells, Extension, Findings};
use crate::generate::RESYNC_AFTER_KEY;
use crate::objects::{PropsOwner, SHORT_INSTANCE_NAMES_SINCE};
use crate::row::Row;
use crate::schema::{DataVersion, Table};

/// The rule's name in reports.
pub const RULE: &str = "resync-after";

/// `Resource.Flags`: `DELETE` (2) and `DISKLESS` (4, part of `DRBD_DISKLESS` and `NVME_INITIATOR`).
const RSC_EXCLUDED_FLAGS: i64 = 2 | 4;

/// A layer resource of a resource (not a snapshot).
struct Layer {
    node: Box<str>,
    resource: Box<str>,
    kind: Box<str>,
    suffix: Box<str>,
}

/// The volumes of one storage pool of a node by minor: (resource, storage-layer suffix, volume).
type PoolVolumes<'a> = BTreeMap<i64, (&'a str, &'a str, i64)>;

#[derive(Default)]
pub(super) struct ResyncAfter {
    data_version: Option<DataVersion>,
    disabled: bool,
    display_names: HashMap<Box<str>, Box<str>>,
    /// (node, resource) of resources that take part (not diskless, not deleted).
    eligible: HashMap<(Box<str>, Box<str>), ()>,
    /// Layer resource id → its layer resource.
    layers: HashMap<i64, Layer>,
    /// (resource, DRBD suffix, volume) → minor.
    minors: HashMap<(Box<str>, Box<str>, i64), i64>,
    /// (storage layer id, volume, node, pool) of volumes in non-diskless pools.
    storage_volumes: Vec<(i64, i64, Box<str>, Box<str>)>,
    /// (node, resource, volume) → resync-after value.
    props: HashMap<(Box<str>, Box<str>, i64), Box<str>>,
}

impl ResyncAfter {
    pub(super) fn new(data_version: DataVersion) -> ResyncAfter {
        ResyncAfter { data_version: Some(data_version), ..ResyncAfter::default() }
    }

    fn volume_of_instance(&self, instance: &str) -> Option<(Box<str>, Box<str>, i64)> {
        let version = self.data_version?;
        let prefix = if version >= SHORT_INSTANCE_NAMES_SINCE { "/VLMS/" } else { "/VOLUMES/" };
        let mut parts = instance.strip_prefix(prefix)?.split('/');
        let (node, resource, volume) = (parts.next()?, parts.next()?, parts.next()?.parse().ok()?);
        parts.next().is_none().then(|| (node.into(), resource.into(), volume))
    }
}

impl Extension for ResyncAfter {
    fn row(&mut self, table: &Table, row: &Row, _findings: &mut Findings) {
        let cells = Cells { table, row };
        let snapshot = !cells.text("SNAPSHOT_NAME").is_empty();
        match table.name {
            "RESOURCE_DEFINITIONS" if !snapshot => {
                self.display_names.insert(cells.text("RESOURCE_NAME").into(), cells.text("RESOURCE_DSP_NAME").into());
            }
            "RESOURCES" if !snapshot && cells.int("RESOURCE_FLAGS").unwrap_or(0) & RSC_EXCLUDED_FLAGS == 0 => {
                self.eligible.insert((cells.text("NODE_NAME").into(), cells.text("RESOURCE_NAME").into()), ());
            }
            "LAYER_RESOURCE_IDS" if !snapshot => {
                if let Some(id) = cells.int("LAYER_RESOURCE_ID") {
                    self.layers.insert(
                        id,
                        Layer {
                            node: cells.text("NODE_NAME").into(),
                            resource: cells.text("RESOURCE_NAME").into(),
                            kind: cells.text("LAYER_RESOURCE_KIND").into(),
                            suffix: cells.text("LAYER_RESOURCE_SUFFIX").into(),
                        },
                    );
                }
            }
            "LAYER_DRBD_VOLUME_DEFINITIONS" if !snapshot => {
                if let (Some(volume), Some(minor)) = (cells.int("VLM_NR"), cells.int("VLM_MINOR_NR")) {
                    self.minors.insert(
                        (cells.text("RESOURCE_NAME").into(), cells.text("RESOURCE_NAME_SUFFIX").into(), volume),
                        minor,
                    );
                }
            }
            "LAYER_STORAGE_VOLUMES" if cells.text("PROVIDER_KIND") != "DISKLESS" => {
                if let (Some(id), Some(volume)) = (cells.int("LAYER_RESOURCE_ID"), cells.int("VLM_NR")) {
                    self.storage_volumes.push((
                        id,
                        volume,
                        cells.text("NODE_NAME").into(),
                        cells.text("STOR_POOL_NAME").into(),
                    ));
                }
            }
            "PROPS_CONTAINERS" if cells.text("PROP_KEY") == RESYNC_AFTER_KEY => {
                if let Some(volume) = self.volume_of_instance(cells.text("PROPS_INSTANCE")) {
                    self.props.insert(volume, cells.text("PROP_VALUE").into());
                }
            }
            "PROPS_CONTAINERS" if cells.text("PROP_KEY") == "DrbdOptions/auto-resync-after-disable" => {
                let controller =
                    PropsOwner::Controller.instance_name(self.data_version.unwrap_or(DataVersion::V1_31_1));
                if cells.text("PROPS_INSTANCE") == controller {
                    self.disabled = cells.text("PROP_VALUE").eq_ignore_ascii_case("true");
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, findings: &mut Findings) {
        if self.disabled {
            return;
        }
        // The DRBD layer's suffix of each resource that has one.
        let mut drbd_suffix: HashMap<(&str, &str), &str> = HashMap::new();
        for layer in self.layers.values().filter(|l| &*l.kind == "DRBD") {
            drbd_suffix.entry((&layer.node, &layer.resource)).or_insert(&layer.suffix);
        }
        let mut pools: BTreeMap<(&str, &str), PoolVolumes<'_>> = BTreeMap::new();
        for (id, volume, node, pool) in &self.storage_volumes {
            let Some(Layer { node: owner_node, resource, suffix: storage_suffix, .. }) = self.layers.get(id) else {
                continue;
            };
            if !self.eligible.contains_key(&(owner_node.clone(), resource.clone())) {
                continue;
            }
            let Some(suffix) = drbd_suffix.get(&(&**owner_node, &**resource)) else { continue };
            let Some(minor) = self.minors.get(&(resource.clone(), Box::from(*suffix), *volume)) else { continue };
            pools.entry((node, pool)).or_default().insert(*minor, (resource, storage_suffix, *volume));
        }
        let version = self.data_version.unwrap_or(DataVersion::V1_31_1);
        for ((node, _pool), volumes) in pools {
            let mut before: Option<String> = None;
            for (resource, suffix, volume) in volumes.into_values() {
                let key = (Box::from(node), Box::from(resource), volume);
                let actual = self.props.get(&key).map(|v| &**v);
                let instance = PropsOwner::Volume(node, resource, volume).instance_name(version);
                match (&before, actual) {
                    (None, Some(value)) => findings.add(
                        RULE,
                        false,
                        "PROPS_CONTAINERS",
                        format!("{instance}:{RESYNC_AFTER_KEY}"),
                        format!("the first volume of its storage pool by minor; LINSTOR removes resync-after '{value}' at start-up"),
                    ),
                    (Some(expected), actual) if actual != Some(expected.as_str()) => findings.add(
                        RULE,
                        false,
                        "PROPS_CONTAINERS",
                        format!("{instance}:{RESYNC_AFTER_KEY}"),
                        format!(
                            "LINSTOR sets resync-after to '{expected}' at start-up (found {})",
                            actual.map_or_else(|| "none".to_owned(), |v| format!("'{v}'"))
                        ),
                    ),
                    _ => {}
                }
                let display = self.display_names.get(resource).map_or(resource, |d| &**d);
                before = Some(format!("{display}{suffix}/{volume}"));
            }
        }
    }
}
