//! What a benchmark run records: one JSON document, from which `report` renders BENCHMARKS.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole run (one or more sizes on one machine).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Free text shown at the top of the report (e.g. "phase 1: 10k only, busy machine").
    pub label: String,
    /// The command line that produced these results.
    pub command: String,
    /// Machine description.
    pub machine: BTreeMap<String, String>,
    /// Versions of every program involved.
    pub versions: BTreeMap<String, String>,
    /// Settings of the run (trials, concurrency of the raw baselines, …).
    pub settings: BTreeMap<String, String>,
    /// One entry per database size, in the order run.
    pub sizes: Vec<SizeResult>,
}

/// Every measurement of one generated database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizeResult {
    /// `--rows` given to `linstor-db generate`.
    pub rows_requested: u64,
    /// LINSTOR rows the generated database holds (what rows/s is computed from).
    pub rows: u64,
    /// etcd keys under the LINSTOR prefix.
    pub etcd_keys: u64,
    /// Custom resources in the `internal.linstor.linbit.com` group after an import into Kubernetes.
    pub k8s_objects: Option<u64>,
    /// Bytes of the export-db JSON file.
    pub export_bytes: u64,
    /// Wall-clock seconds from the start to the end of this size (setup included).
    pub duration_s: f64,
    /// 1-minute load average when this size started and ended (other work on the machine).
    pub load_start: f64,
    /// See `load_start`.
    pub load_end: f64,
    /// The measurements.
    pub entries: Vec<Entry>,
    /// Ours ÷ baseline, with the target where there is one.
    pub comparisons: Vec<Comparison>,
    /// Things that were skipped or went wrong, in words.
    pub notes: Vec<String>,
}

/// Who did the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// linstor-db.
    Ours,
    /// etcdctl, kubectl or bench-raw.
    Baseline,
}

/// Repeated measurements of one command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Stable id, e.g. `etcd.export.ours`.
    pub id: String,
    /// Ours or a baseline.
    pub side: Side,
    /// Short name shown in the report.
    pub label: String,
    /// The command as run (temporary paths included).
    pub command: String,
    /// How the result was checked (e.g. "40349 keys counted in the target").
    pub check: String,
    /// One per trial.
    pub trials: Vec<Trial>,
}

impl Entry {
    /// Median wall time over the trials.
    pub fn median_wall(&self) -> Option<f64> {
        median(self.trials.iter().map(|t| t.wall_s).collect())
    }

    /// Highest peak RSS over the trials.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.trials.iter().map(|t| t.max_rss_kib).max()
    }

    /// Median CPU seconds (user + system) of the measured process tree.
    pub fn median_cpu(&self) -> Option<f64> {
        median(self.trials.iter().map(|t| t.user_s + t.sys_s).collect())
    }

    /// Median CPU seconds of the servers (etcd, kube-apiserver) during the trials, if watched.
    pub fn median_server_cpu(&self) -> Option<f64> {
        median(self.trials.iter().filter_map(|t| t.server_cpu_s).collect())
    }
}

/// One run of a command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// Wall-clock seconds from spawn to exit.
    pub wall_s: f64,
    /// Peak resident set size in KiB (GNU time `%M`: the largest process of the tree).
    pub max_rss_kib: u64,
    /// User CPU seconds of the process tree.
    pub user_s: f64,
    /// System CPU seconds of the process tree.
    pub sys_s: f64,
    /// CPU seconds the watched servers used meanwhile.
    pub server_cpu_s: Option<f64>,
    /// 1-minute load average just before the trial.
    pub load_before: f64,
}

/// What the issue asks of a ratio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// ours ÷ baseline ≤ factor ("within 1.3× of").
    AtMost(f64),
    /// baseline ÷ ours ≥ factor ("≥ 10× faster than").
    FasterBy(f64),
}

impl Target {
    /// Whether `ratio` (ours ÷ baseline) meets the target.
    pub fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtMost(factor) => ratio <= factor,
            Target::FasterBy(factor) => ratio * factor <= 1.0,
        }
    }

    /// The target in words.
    pub fn describe(self) -> String {
        match self {
            Target::AtMost(factor) => format!("≤ {factor}×"),
            Target::FasterBy(factor) => format!("≤ {:.2}× (≥ {factor}× faster)", 1.0 / factor),
        }
    }
}

/// ours ÷ baseline for one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// The job, e.g. "etcd export".
    pub job: String,
    /// Entry id of our command.
    pub ours: String,
    /// Entry ids whose median walls add up to the baseline (usually one).
    pub baseline: Vec<String>,
    /// What the issue asks, if anything.
    pub target: Option<Target>,
}

/// The median of `values` (mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}
