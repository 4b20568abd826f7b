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
//! Memory: none per row. The chain is a pipeline of joins over external sorts ([`crate::spill`]):
//! resources with their layers, layers with their storage volumes, volumes with their DRBD minors
//! and resource display names, then per storage pool by minor, and last with the properties.

use std::io;

use super::{Cells, Extension, Findings};
use crate::generate::RESYNC_AFTER_KEY;
use crate::objects::{PropsOwner, SHORT_INSTANCE_NAMES_SINCE};
use crate::row::Row;
use crate::schema::{DataVersion, Table};
use crate::spill::{ExternalSort, Scratch};

/// The rule's name in reports.
pub const RULE: &str = "resync-after";

/// `Resource.Flags`: `DELETE` (2) and `DISKLESS` (4, part of `DRBD_DISKLESS` and `NVME_INITIATOR`).
const RSC_EXCLUDED_FLAGS: i64 = 2 | 4;

/// By (node, resource): side 0, the resource takes part (not diskless, not deleted); side 1, a DRBD
/// layer resource (id, suffix); side 2, another layer resource (id, suffix).
type ResourceFact = (String, String, u8, i64, String);
/// By layer resource id: side 0, its resource (node, resource, own suffix, DRBD suffix, -); side 1,
/// a storage volume in a non-diskless pool (node, pool, -, -, volume number).
type LayerFact = (i64, u8, String, String, String, String, i64);
/// By (resource, DRBD suffix, volume): side 0, the DRBD minor; side 1, a storage volume (node, pool,
/// storage suffix).
type MinorFact = (String, String, i64, u8, i64, String, String, String);
/// By resource: side 0, its display name; side 1, a storage volume (node, pool, minor, storage
/// suffix, volume).
type NameFact = (String, u8, String, String, String, i64, String, i64);
/// By (node, pool, minor): resource, display name, storage suffix, volume.
type PoolVolume = (String, String, i64, String, String, String, i64);
/// By (node, resource, volume): side 0, the `resync-after` LINSTOR holds; side 1, the one it sets
/// (`None`: the first of its pool, which has none).
type ResyncFact = (String, String, i64, u8, Option<String>);

pub(super) struct ResyncAfter {
    data_version: DataVersion,
    scratch: Option<Scratch>,
    run_bytes: usize,
    disabled: bool,
    resources: ExternalSort<ResourceFact>,
    layers: ExternalSort<LayerFact>,
    minors: ExternalSort<MinorFact>,
    names: ExternalSort<NameFact>,
    props: ExternalSort<ResyncFact>,
}

impl ResyncAfter {
    pub(super) fn new(data_version: DataVersion, scratch: Option<Scratch>, run_bytes: usize) -> ResyncAfter {
        ResyncAfter {
            data_version,
            scratch,
            run_bytes,
            disabled: false,
            resources: ExternalSort::new(scratch, run_bytes),
            layers: ExternalSort::new(scratch, run_bytes),
            minors: ExternalSort::new(scratch, run_bytes),
            names: ExternalSort::new(scratch, run_bytes),
            props: ExternalSort::new(scratch, run_bytes),
        }
    }

    fn volume_of_instance(&self, instance: &str) -> Option<(String, String, i64)> {
        let prefix = if self.data_version >= SHORT_INSTANCE_NAMES_SINCE { "/VLMS/" } else { "/VOLUMES/" };
        let mut parts = instance.strip_prefix(prefix)?.split('/');
        let (node, resource, volume) = (parts.next()?, parts.next()?, parts.next()?.parse().ok()?);
        parts.next().is_none().then(|| (node.to_owned(), resource.to_owned(), volume))
    }

    fn sorter<T: crate::spill::Field + Ord>(&self) -> ExternalSort<T> {
        ExternalSort::new(self.scratch, self.run_bytes)
    }
}

impl Extension for ResyncAfter {
    fn row(&mut self, table: &Table, row: &Row, _findings: &mut Findings) -> io::Result<()> {
        let cells = Cells { table, row };
        let snapshot = !cells.text("SNAPSHOT_NAME").is_empty();
        let text = |column: &str| cells.text(column).to_owned();
        match table.name {
            "RESOURCE_DEFINITIONS" if !snapshot => self.names.push((
                text("RESOURCE_NAME"),
                0,
                text("RESOURCE_DSP_NAME"),
                String::new(),
                String::new(),
                0,
                String::new(),
                0,
            )),
            "RESOURCES" if !snapshot && cells.int("RESOURCE_FLAGS").unwrap_or(0) & RSC_EXCLUDED_FLAGS == 0 => {
                self.resources.push((text("NODE_NAME"), text("RESOURCE_NAME"), 0, 0, String::new()))
            }
            "LAYER_RESOURCE_IDS" if !snapshot => match cells.int("LAYER_RESOURCE_ID") {
                Some(id) => {
                    let side = if cells.text("LAYER_RESOURCE_KIND") == "DRBD" { 1 } else { 2 };
                    self.resources.push((
                        text("NODE_NAME"),
                        text("RESOURCE_NAME"),
                        side,
                        id,
                        text("LAYER_RESOURCE_SUFFIX"),
                    ))
                }
                None => Ok(()),
            },
            "LAYER_DRBD_VOLUME_DEFINITIONS" if !snapshot => match (cells.int("VLM_NR"), cells.int("VLM_MINOR_NR")) {
                (Some(volume), Some(minor)) => self.minors.push((
                    text("RESOURCE_NAME"),
                    text("RESOURCE_NAME_SUFFIX"),
                    volume,
                    0,
                    minor,
                    String::new(),
                    String::new(),
                    String::new(),
                )),
                _ => Ok(()),
            },
            "LAYER_STORAGE_VOLUMES" if cells.text("PROVIDER_KIND") != "DISKLESS" => {
                match (cells.int("LAYER_RESOURCE_ID"), cells.int("VLM_NR")) {
                    (Some(id), Some(volume)) => self.layers.push((
                        id,
                        1,
                        text("NODE_NAME"),
                        text("STOR_POOL_NAME"),
                        String::new(),
                        String::new(),
                        volume,
                    )),
                    _ => Ok(()),
                }
            }
            "PROPS_CONTAINERS" if cells.text("PROP_KEY") == RESYNC_AFTER_KEY => {
                match self.volume_of_instance(cells.text("PROPS_INSTANCE")) {
                    Some((node, resource, volume)) => {
                        self.props.push((node, resource, volume, 0, Some(text("PROP_VALUE"))))
                    }
                    None => Ok(()),
                }
            }
            "PROPS_CONTAINERS" if cells.text("PROP_KEY") == "DrbdOptions/auto-resync-after-disable" => {
                if cells.text("PROPS_INSTANCE") == PropsOwner::Controller.instance_name(self.data_version) {
                    self.disabled = cells.text("PROP_VALUE").eq_ignore_ascii_case("true");
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn finish(&mut self, findings: &mut Findings) -> io::Result<()> {
        if self.disabled {
            return Ok(());
        }
        // The layer resources of each resource that takes part and has a DRBD layer.
        let mut layers = std::mem::take(&mut self.layers);
        let mut current: Option<(String, String, bool, Option<String>)> = None;
        for fact in std::mem::take(&mut self.resources).into_sorted()? {
            let (node, resource, side, id, suffix) = fact?;
            if current.as_ref().is_none_or(|(n, r, _, _)| *n != node || *r != resource) {
                current = Some((node.clone(), resource.clone(), false, None));
            }
            let Some((_, _, eligible, drbd_suffix)) = current.as_mut() else { continue };
            match side {
                0 => *eligible = true,
                _ => {
                    if side == 1 && drbd_suffix.is_none() {
                        *drbd_suffix = Some(suffix.clone());
                    }
                    if let (true, Some(drbd)) = (*eligible, drbd_suffix.as_ref()) {
                        layers.push((id, 0, node, resource, suffix, drbd.clone(), 0))?;
                    }
                }
            }
        }
        // Each storage volume with its resource, then with its DRBD minor.
        let mut minors = std::mem::take(&mut self.minors);
        let mut owner: Option<(i64, String, String, String)> = None;
        for fact in layers.into_sorted()? {
            let (id, side, a, b, c, d, volume) = fact?;
            if side == 0 {
                if owner.as_ref().is_none_or(|o| o.0 != id) {
                    owner = Some((id, b, c, d));
                }
                continue;
            }
            let Some((_, resource, storage_suffix, drbd_suffix)) = owner.as_ref().filter(|o| o.0 == id) else {
                continue;
            };
            minors.push((resource.clone(), drbd_suffix.clone(), volume, 1, 0, a, b, storage_suffix.clone()))?;
        }
        let mut names = std::mem::take(&mut self.names);
        let mut minor: Option<(String, String, i64, i64)> = None;
        for fact in minors.into_sorted()? {
            let (resource, suffix, volume, side, value, node, pool, storage_suffix) = fact?;
            if side == 0 {
                if minor.as_ref().is_none_or(|m| (&m.0, &m.1, m.2) != (&resource, &suffix, volume)) {
                    minor = Some((resource, suffix, volume, value));
                }
                continue;
            }
            let Some(m) = minor.as_ref().filter(|m| (&m.0, &m.1, m.2) == (&resource, &suffix, volume)) else {
                continue;
            };
            names.push((resource, 1, String::new(), node, pool, m.3, storage_suffix, volume))?;
        }
        // With the resource's display name, by storage pool and minor.
        let mut pools = self.sorter::<PoolVolume>();
        let mut display: Option<(String, String)> = None;
        for fact in names.into_sorted()? {
            let (resource, side, name, node, pool, minor, storage_suffix, volume) = fact?;
            if side == 0 {
                display = Some((resource, name));
                continue;
            }
            let shown = display.as_ref().filter(|(r, _)| *r == resource).map_or(resource.clone(), |(_, d)| d.clone());
            pools.push((node, pool, minor, resource, shown, storage_suffix, volume))?;
        }
        // The chain of each pool: what LINSTOR sets on each volume.
        let mut props = std::mem::take(&mut self.props);
        let mut before: Option<(String, String, i64, String)> = None;
        for fact in pools.into_sorted()? {
            let (node, pool, minor, resource, shown, storage_suffix, volume) = fact?;
            let expected = match &before {
                Some((n, p, m, _)) if (n, p, *m) == (&node, &pool, minor) => continue,
                Some((n, p, _, link)) if (n, p) == (&node, &pool) => Some(link.clone()),
                _ => None,
            };
            before = Some((node.clone(), pool, minor, format!("{shown}{storage_suffix}/{volume}")));
            props.push((node, resource, volume, 1, expected))?;
        }
        // Against what the database holds.
        let mut actual: Option<(String, String, i64, Option<String>)> = None;
        for fact in props.into_sorted()? {
            let (node, resource, volume, side, value) = fact?;
            if side == 0 {
                actual = Some((node, resource, volume, value));
                continue;
            }
            let held = actual
                .as_ref()
                .filter(|a| (&a.0, &a.1, a.2) == (&node, &resource, volume))
                .and_then(|a| a.3.as_deref());
            let instance = PropsOwner::Volume(&node, &resource, volume).instance_name(self.data_version);
            match (&value, held) {
                (None, Some(held)) => findings.add(
                    RULE,
                    false,
                    "PROPS_CONTAINERS",
                    format!("{instance}:{RESYNC_AFTER_KEY}"),
                    format!("the first volume of its storage pool by minor; LINSTOR removes resync-after '{held}' at start-up"),
                ),
                (Some(expected), held) if held != Some(expected.as_str()) => findings.add(
                    RULE,
                    false,
                    "PROPS_CONTAINERS",
                    format!("{instance}:{RESYNC_AFTER_KEY}"),
                    format!(
                        "LINSTOR sets resync-after to '{expected}' at start-up (found {})",
                        held.map_or_else(|| "none".to_owned(), |v| format!("'{v}'"))
                    ),
                ),
                _ => {}
            }
        }
        Ok(())
    }
}
