//! BENCHMARKS.md from the results: per size a table of measurements, a table of ratios against the
//! issue's targets, and the peak RSS of every job of ours.

use std::fmt::Write as _;

use crate::model::{Entry, Results, Side, SizeResult};

/// Peak RSS every job of ours must stay under at 1M rows.
const RSS_LIMIT_MIB: f64 = 100.0;

/// Renders the whole report. `preface` (Markdown) goes between the header and the tables.
pub fn render(results: &Results, preface: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(out, "**{}**\n", results.label);
    if !preface.trim().is_empty() {
        let _ = writeln!(out, "{}\n", preface.trim());
    }
    let _ = writeln!(out, "Reproduce with:\n\n```sh\n{}\n```\n", results.command);
    let _ = writeln!(out, "## Machine and versions\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    for (key, value) in results.machine.iter().chain(results.versions.iter()) {
        let _ = writeln!(out, "| {key} | {} |", value.replace('|', "\\|"));
    }
    let _ = writeln!(out, "\nSettings of this run:\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    for (key, value) in &results.settings {
        let _ = writeln!(out, "| {key} | {value} |");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", METHOD.trim());
    for size in &results.sizes {
        render_size(&mut out, size);
    }
    out
}

const METHOD: &str = r#"
## How it is measured

* Every row is a separate process run under GNU time: **wall** is our own clock from spawn to exit
  (process start-up included, for ours and for the baselines alike), **peak RSS** is GNU time's `%M`
  (the largest process of the tree, from `wait4`), **CPU** is user + system of the tree. **Server CPU**
  is what etcd and kube-apiserver (with its etcd) used during the run, read from `/proc/PID/stat`.
* The wall time shown is the median of the trials; peak RSS is the highest of the trials.
* **rows/s** = LINSTOR rows of the database ÷ wall. Every command moves the same database: the one
  `linstor-db generate --seed 1` wrote to a file and `import-db` put into the source etcd; the
  baselines read that etcd (or the objects our first Kubernetes import created from it; at a size
  where migrate is the only Kubernetes write, the objects migrate created).
* Every write goes into a fresh, empty etcd or a fresh kube-apiserver (with its own etcd, started by
  `tools/kube-apiserver/start.sh`); afterwards the keys or custom resources in the target are counted
  and must equal the source (where one of our jobs writes a different number of etcd keys, its rows
  must be equal by `linstor-db verify`, and the difference is listed under Notes). Files written by
  ours are compared with the source row by row by `linstor-db verify`; the kubectl backup is counted
  object by object.
* **ours ÷ baseline** < 1 means we are faster. "≥ 10× faster" targets are met when the ratio ≤ 0.1.
* Baselines: `etcdctl get --prefix` is one Range request for the whole prefix (`-w protobuf` writes
  the response as it came, the simple format prints keys and values). `bench-raw` (tools/bench-raw,
  Go) is the raw limit without our logic: etcd transactions of 128 puts over one clientv3 connection;
  Kubernetes LIST with `limit=500` and continue tokens; POST of the same custom resources (JSON with
  apiVersion, kind, name, spec) after POSTing the CRDs, over HTTP/2. The kubectl rows are LINSTOR's
  documented manual procedure and `kubectl create -f` of the YAML it saved, with kubectl v1.34.4 built
  from the pinned upstream module (tools/kubectl).
* `restore` and `migrate` verify what they wrote row by row before they report success, so they read
  the target back; the baselines do not.
"#;

fn entry<'a>(size: &'a SizeResult, id: &str) -> Option<&'a Entry> {
    size.entries.iter().find(|e| e.id == id)
}

fn render_size(out: &mut String, size: &SizeResult) {
    let _ = writeln!(out, "\n## {} rows (generate --rows {})\n", thousands(size.rows), thousands(size.rows_requested));
    let _ = writeln!(
        out,
        "{} LINSTOR rows, {} etcd keys, {} custom resources, export file {:.1} MiB. \
         This size took {:.0} s in all (setup included); 1-minute load average {:.2} at the start, {:.2} at the end.\n",
        thousands(size.rows),
        thousands(size.etcd_keys),
        size.k8s_objects.map_or("—".into(), thousands),
        size.export_bytes as f64 / 1048576.0,
        size.duration_s,
        size.load_start,
        size.load_end,
    );
    let _ = writeln!(out, "### Measurements\n");
    let _ = writeln!(
        out,
        "| | command | trials | wall (median) | rows/s | peak RSS | CPU | server CPU | load | checked |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for e in &size.entries {
        let Some(wall) = e.median_wall() else { continue };
        let loads: Vec<f64> = e.trials.iter().map(|t| t.load_before).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            match e.side {
                Side::Ours => "**ours**",
                Side::Baseline => "baseline",
            },
            cell(&e.label),
            e.trials.len(),
            seconds(wall),
            thousands((size.rows as f64 / wall).round() as u64),
            e.peak_rss_kib().map_or("—".into(), mib),
            e.median_cpu().map_or("—".into(), seconds),
            e.median_server_cpu().map_or("—".into(), seconds),
            loads.iter().map(|l| format!("{l:.1}")).collect::<Vec<_>>().join("/"),
            cell(&e.check),
        );
    }
    if !size.comparisons.is_empty() {
        let _ = writeln!(out, "\n### Ours ÷ baseline (wall time)\n");
        let _ = writeln!(out, "| job | ours | baseline | ours ÷ baseline | target | met |\n|---|---|---|---:|---|---|");
        for c in &size.comparisons {
            let Some(ours) = entry(size, &c.ours) else { continue };
            let baselines: Vec<&Entry> = c.baseline.iter().filter_map(|id| entry(size, id)).collect();
            let (Some(ours_wall), Some(base_wall)) =
                (ours.median_wall(), baselines.iter().map(|b| b.median_wall()).sum::<Option<f64>>())
            else {
                continue;
            };
            let ratio = ours_wall / base_wall;
            let _ = writeln!(
                out,
                "| {} | {} ({}) | {} ({}) | {:.2} | {} | {} |",
                c.job,
                cell(&ours.label),
                seconds(ours_wall),
                cell(&baselines.iter().map(|b| b.label.as_str()).collect::<Vec<_>>().join(" + ")),
                seconds(base_wall),
                ratio,
                c.target.map_or("—".into(), |t| t.describe()),
                c.target.map_or("", |t| if t.met(ratio) { "yes" } else { "**no**" }),
            );
        }
    }
    let ours: Vec<&Entry> = size.entries.iter().filter(|e| e.side == Side::Ours && !e.trials.is_empty()).collect();
    if !ours.is_empty() {
        let _ = writeln!(out, "\n### Peak RSS of ours (target: < {RSS_LIMIT_MIB} MiB at 1M rows)\n");
        let _ = writeln!(out, "| job | peak RSS | under {RSS_LIMIT_MIB} MiB |\n|---|---:|---|");
        for e in ours {
            let peak = e.peak_rss_kib().unwrap_or_default();
            let under = (peak as f64 / 1024.0) < RSS_LIMIT_MIB;
            let _ = writeln!(out, "| {} | {} | {} |", cell(&e.label), mib(peak), if under { "yes" } else { "**no**" });
        }
    }
    if !size.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:\n");
        for note in &size.notes {
            let _ = writeln!(out, "* {note}");
        }
    }
    let _ = writeln!(out, "\n<details><summary>Commands as run ({} rows)</summary>\n", thousands(size.rows));
    for e in &size.entries {
        let _ = writeln!(out, "* `{}`: `{}`", e.id, e.command.replace('`', "'"));
    }
    let _ = writeln!(out, "\n</details>");
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.3} s")
    } else {
        format!("{s:.1} s")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
