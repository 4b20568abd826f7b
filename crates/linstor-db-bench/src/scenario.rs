//! The benchmark of one database size: generate into etcd, then every job of ours and every baseline
//! over the same data, each write into a fresh, empty server, each result counted in the target.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

use crate::measure::{load_average, Cmd};
use crate::model::{Comparison, Entry, SizeResult, Target};
use crate::servers::{ApiServer, Etcd};
use crate::tools::{Tools, ETCDCTL_TIMEOUT};

/// The LINSTOR prefix in etcd (default configuration).
const PREFIX: &str = "/LINSTOR/";
const MIGRATE_LABEL: &str = "linstor-db migrate (etcd → k8s: backup, write, verify)";

/// How many times to run what, and how hard the raw baselines push.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Trials of every etcd job and every Kubernetes read.
    pub trials: usize,
    /// Trials of every Kubernetes write (ours and raw); each needs a fresh API server.
    pub k8s_write_trials: usize,
    /// Trials of each kubectl procedure.
    pub kubectl_trials: usize,
    /// Skip the kubectl baselines above this many rows.
    pub kubectl_max_rows: Option<u64>,
    /// Skip Kubernetes entirely above this many rows.
    pub k8s_max_rows: Option<u64>,
    /// Above this many rows, the only Kubernetes write is `migrate` (each 1M-row Kubernetes write
    /// takes tens of minutes on a small machine; migrate exercises every path: etcd read, archive,
    /// Kubernetes write, and the verification that reads Kubernetes back); the Kubernetes reads and
    /// their baselines run on what it wrote.
    pub k8s_migrate_only_write_above: Option<u64>,
    /// Skip the `etcdctl txn` baseline (one process per transaction) above this many rows.
    pub etcdctl_txn_max_rows: Option<u64>,
    /// Transactions in flight of the raw etcd writer (ours uses 8).
    pub etcd_txn_concurrency: usize,
    /// CRDs listed at a time by the concurrent raw list.
    pub raw_list_concurrency: usize,
    /// POSTs in flight of the raw create (ours uses 32).
    pub raw_create_concurrency: usize,
    /// Seed of the generated database.
    pub seed: u64,
}

/// Runs one size in `work` (created, and emptied again at the end).
pub fn run_size(tools: &Tools, settings: &Settings, rows_requested: u64, work: &Path) -> Result<SizeResult> {
    let started = Instant::now();
    if work.exists() {
        fs::remove_dir_all(work).with_context(|| format!("removing {}", work.display()))?;
    }
    fs::create_dir_all(work)?;
    let mut bench = Bench {
        tools,
        settings,
        work: work.to_owned(),
        source: String::new(),
        size: SizeResult {
            rows_requested,
            rows: 0,
            etcd_keys: 0,
            k8s_objects: None,
            export_bytes: 0,
            duration_s: 0.0,
            load_start: load_average(),
            load_end: 0.0,
            entries: Vec::new(),
            comparisons: Vec::new(),
            notes: Vec::new(),
        },
    };
    bench.run()?;
    bench.size.duration_s = started.elapsed().as_secs_f64();
    bench.size.load_end = load_average();
    let _ = fs::remove_dir_all(work);
    Ok(bench.size)
}

struct Bench<'a> {
    tools: &'a Tools,
    settings: &'a Settings,
    work: PathBuf,
    /// Address of the source etcd.
    source: String,
    size: SizeResult,
}

/// What a write trial needs: a fresh target and a way to count what landed in it.
enum WriteTarget<'a> {
    Etcd(&'a Etcd),
    K8s(&'a ApiServer),
}

impl Bench<'_> {
    fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    fn log(&self, text: &str) {
        eprintln!("bench [{} rows]: {text}", self.size.rows_requested);
    }

    fn ours(&self, args: &[&str]) -> Cmd {
        Cmd::new(&self.tools.linstor_db, &["-q"]).args(args)
    }

    fn has_command(&self, name: &str) -> bool {
        Cmd::new(&self.tools.linstor_db, &[name, "--help"]).output().is_ok()
    }

    fn entry(&mut self, id: &str, side: crate::model::Side, label: &str) -> usize {
        self.size.entries.push(Entry {
            id: id.to_owned(),
            side,
            label: label.to_owned(),
            command: String::new(),
            check: String::new(),
            trials: Vec::new(),
        });
        self.size.entries.len() - 1
    }

    /// Measures `cmd` once as a trial of entry `index`.
    fn trial(&mut self, index: usize, cmd: &Cmd, watch: &[u32]) -> Result<()> {
        let trial = cmd.measure(&self.work, watch)?;
        let entry = &self.size.entries[index];
        self.log(&format!(
            "{} trial {}: {:.3} s, peak RSS {:.1} MiB, CPU {:.2} s{}",
            entry.id,
            entry.trials.len() + 1,
            trial.wall_s,
            trial.max_rss_kib as f64 / 1024.0,
            trial.user_s + trial.sys_s,
            trial.server_cpu_s.map_or(String::new(), |s| format!(", servers {s:.2} s CPU")),
        ));
        let entry = &mut self.size.entries[index];
        entry.command = cmd.display();
        entry.trials.push(trial);
        Ok(())
    }

    fn check(&mut self, index: usize, text: String) {
        self.size.entries[index].check = text;
    }

    fn compare(&mut self, job: &str, ours: &str, baseline: &[&str], target: Option<Target>) {
        let known = |id: &str| self.size.entries.iter().any(|e| e.id == id && !e.trials.is_empty());
        if known(ours) && baseline.iter().all(|b| known(b)) {
            self.size.comparisons.push(Comparison {
                job: job.to_owned(),
                ours: ours.to_owned(),
                baseline: baseline.iter().map(|b| (*b).to_owned()).collect(),
                target,
            });
        }
    }

    fn run(&mut self) -> Result<()> {
        use crate::model::Side::{Baseline, Ours};
        let settings = self.settings.clone();
        let tools = self.tools;
        let trials = settings.trials.max(1);

        // --- the source database, and the inputs of the baselines (not measured)
        self.log("generating the source database in etcd");
        let source = Etcd::start(tools, &self.path("etcd-source"))?;
        self.source = source.address();
        let rows_arg = self.size.rows_requested.to_string();
        let seed_arg = settings.seed.to_string();
        // Through a file and import-db, so that the source holds exactly the keys an import writes
        // (`generate --to etcd://` leaves out the PK-column keys of the SEC_ACCESS_TYPES init rows).
        let generated = self.path("generated.json").display().to_string();
        self.ours(&["generate", "--rows", &rows_arg, "--seed", &seed_arg, "--to", &generated]).output()?;
        self.ours(&["import-db", "--to", &source.address(), &generated]).output()?;
        let info = self.ours(&["--output", "json", "info", &source.address()]).output()?;
        let info: serde_json::Value = serde_json::from_str(&info).context("linstor-db info --output json")?;
        self.size.rows = info["rows"].as_u64().context("info reports no rows")?;
        self.size.etcd_keys = source.key_count(tools, PREFIX)?;
        let keys = self.size.etcd_keys;
        let kv_json = self.path("etcdctl-get.json");
        Cmd::new(
            &tools.etcdctl,
            &["--endpoints", &source.endpoint, ETCDCTL_TIMEOUT, "get", "--prefix", PREFIX, "-w", "json"],
        )
        .env("ETCDCTL_API", "3")
        .stdout_to(&kv_json)
        .output()?;
        let txn_dir = self.path("etcdctl-txn");
        Cmd::new(&tools.bench_raw, &["etcdctl-txn-files", "-ops", "128"])
            .arg(kv_json.display().to_string())
            .arg(txn_dir.display().to_string())
            .output()?;
        self.log(&format!("{} rows, {keys} etcd keys", self.size.rows));

        // --- etcd reads
        let export = self.path("export.json");
        let export_arg = export.display().to_string();
        let e = self.entry("etcd.export.ours", Ours, "linstor-db export-db (etcd → export file)");
        for _ in 0..trials {
            let cmd = self.ours(&["export-db", "--from", &source.address(), &export_arg]);
            self.trial(e, &cmd, &[source.pid()])?;
        }
        self.verify(e, &source.address(), &export_arg)?;
        self.size.export_bytes = fs::metadata(&export)?.len();

        let simple = self.path("etcdctl-get.txt");
        let e = self.entry("etcd.get.etcdctl", Baseline, "etcdctl get --prefix (simple output)");
        for _ in 0..trials {
            let cmd = Cmd::new(
                &tools.etcdctl,
                &["--endpoints", &source.endpoint, ETCDCTL_TIMEOUT, "get", "--prefix", PREFIX],
            )
            .env("ETCDCTL_API", "3")
            .stdout_to(&simple);
            self.trial(e, &cmd, &[source.pid()])?;
        }
        let lines = fs::read_to_string(&simple)?.lines().count() as u64;
        ensure!(lines >= 2 * keys, "etcdctl get printed {lines} lines for {keys} keys");
        self.check(e, format!("{lines} lines of key and value for {keys} keys"));
        let _ = fs::remove_file(&simple);

        let protobuf = self.path("etcdctl-get.pb");
        let e = self.entry("etcd.get.etcdctl-pb", Baseline, "etcdctl get --prefix -w protobuf");
        for _ in 0..trials {
            let cmd = Cmd::new(
                &tools.etcdctl,
                &["--endpoints", &source.endpoint, ETCDCTL_TIMEOUT, "get", "--prefix", PREFIX],
            )
            .args(&["-w", "protobuf"])
            .env("ETCDCTL_API", "3")
            .stdout_to(&protobuf);
            self.trial(e, &cmd, &[source.pid()])?;
        }
        let bytes = fs::metadata(&protobuf)?.len();
        ensure!(bytes > 0, "etcdctl get -w protobuf wrote nothing");
        self.check(e, format!("{bytes} bytes of RangeResponse (all {keys} keys in one response)"));
        let _ = fs::remove_file(&protobuf);

        let has_backup = self.has_command("backup");
        let has_restore = self.has_command("restore");
        let has_migrate = self.has_command("migrate");
        let etcd_backup = self.path("backup-etcd.tar.gz");
        if has_backup {
            let e = self.entry("etcd.backup.ours", Ours, "linstor-db backup (etcd → tar.gz)");
            for _ in 0..trials {
                let _ = fs::remove_file(&etcd_backup);
                let cmd = self.ours(&["backup", "--from", &source.address(), "-o", &etcd_backup.display().to_string()]);
                self.trial(e, &cmd, &[source.pid()])?;
            }
            self.verify(e, &source.address(), &etcd_backup.display().to_string())?;
        } else {
            self.size.notes.push("`linstor-db backup` does not exist in this build: no backup rows".into());
        }

        // --- etcd writes, each into a fresh etcd
        let e = self.entry("etcd.import.ours", Ours, "linstor-db import-db (export file → etcd)");
        for _ in 0..trials {
            let target = self.fresh_etcd()?;
            let cmd = self.ours(&["import-db", "--to", &target.address(), &export_arg]);
            self.write_trial(e, &cmd, &WriteTarget::Etcd(&target), keys)?;
        }
        let concurrency = settings.etcd_txn_concurrency.to_string();
        let e = self.entry(
            "etcd.txn.raw",
            Baseline,
            &format!("bench-raw etcd-txn (Go clientv3, 128 puts/txn, {concurrency} in flight)"),
        );
        for _ in 0..trials {
            let target = self.fresh_etcd()?;
            let cmd = Cmd::new(&tools.bench_raw, &["etcd-txn", "-ops", "128", "-c", &concurrency])
                .args(&["-endpoints", &target.endpoint])
                .arg(kv_json.display().to_string());
            self.write_trial(e, &cmd, &WriteTarget::Etcd(&target), keys)?;
        }
        if settings.etcd_txn_concurrency != 32 {
            let e = self.entry("etcd.txn.raw32", Baseline, "bench-raw etcd-txn (128 puts/txn, 32 in flight)");
            for _ in 0..trials {
                let target = self.fresh_etcd()?;
                let cmd = Cmd::new(&tools.bench_raw, &["etcd-txn", "-ops", "128", "-c", "32"])
                    .args(&["-endpoints", &target.endpoint])
                    .arg(kv_json.display().to_string());
                self.write_trial(e, &cmd, &WriteTarget::Etcd(&target), keys)?;
            }
        }
        if settings.etcdctl_txn_max_rows.is_none_or(|max| self.size.rows_requested <= max) {
            let e = self.entry(
                "etcd.txn.etcdctl",
                Baseline,
                &format!("etcdctl txn (one process per 128-put txn, {concurrency} at a time)"),
            );
            for _ in 0..trials {
                let target = self.fresh_etcd()?;
                let script = format!(
                    "ls {dir}/*.txn | xargs -P {concurrency} -n 1 sh -c '{etcdctl} --endpoints {ep} {ETCDCTL_TIMEOUT} txn < \"$0\" > /dev/null'",
                    dir = txn_dir.display(),
                    etcdctl = tools.etcdctl,
                    ep = target.endpoint,
                );
                let cmd = Cmd::shell(script).env("ETCDCTL_API", "3");
                self.write_trial(e, &cmd, &WriteTarget::Etcd(&target), keys)?;
            }
        } else {
            self.size.notes.push(format!(
                "`etcdctl txn` baseline skipped at this size (--etcdctl-txn-max-rows {}); bench-raw etcd-txn is the raw write limit",
                settings.etcdctl_txn_max_rows.unwrap_or_default()
            ));
        }
        if has_restore && has_backup {
            let e = self.entry("etcd.restore.ours", Ours, "linstor-db restore (tar.gz → etcd, verified)");
            for _ in 0..trials {
                let target = self.fresh_etcd()?;
                let cmd =
                    self.ours(&["restore", "--from", &etcd_backup.display().to_string(), "--to", &target.address()]);
                self.write_trial(e, &cmd, &WriteTarget::Etcd(&target), keys)?;
            }
        }

        self.compare("etcd export", "etcd.export.ours", &["etcd.get.etcdctl-pb"], Some(Target::AtMost(1.3)));
        self.compare("etcd export", "etcd.export.ours", &["etcd.get.etcdctl"], None);
        self.compare("etcd import", "etcd.import.ours", &["etcd.txn.raw"], Some(Target::AtMost(1.5)));
        self.compare("etcd import", "etcd.import.ours", &["etcd.txn.raw32"], None);
        self.compare("etcd import", "etcd.import.ours", &["etcd.txn.etcdctl"], None);
        self.compare("etcd backup", "etcd.backup.ours", &["etcd.get.etcdctl-pb"], None);
        self.compare("etcd restore", "etcd.restore.ours", &["etcd.txn.raw"], None);

        if settings.k8s_max_rows.is_some_and(|max| self.size.rows_requested > max) {
            self.size.notes.push(format!(
                "Kubernetes skipped at this size (--k8s-max-rows {})",
                settings.k8s_max_rows.unwrap_or_default()
            ));
            return Ok(());
        }
        if settings.k8s_migrate_only_write_above.is_some_and(|max| self.size.rows_requested > max) {
            self.size.notes.push(format!(
                "The only Kubernetes write at this size is migrate (--k8s-migrate-only-write-above {}): \
                 no import, restore or create baselines; the reads ran on what migrate wrote",
                settings.k8s_migrate_only_write_above.unwrap_or_default()
            ));
            return self.migrate_then_reads(&source, has_backup);
        }
        self.kubernetes(&source, &export_arg, has_backup, has_restore, has_migrate)
    }

    /// `migrate` etcd → k8s into a fresh API server, then every Kubernetes read of it.
    fn migrate_then_reads(&mut self, source: &Etcd, has_backup: bool) -> Result<()> {
        // One custom resource per row, plus LinstorVersion (as every full run's import shows).
        let objects = self.size.rows + 1;
        let e = self.entry("migrate.ours", crate::model::Side::Ours, MIGRATE_LABEL);
        let backup = self.path("migrate-backup.tar.gz");
        self.log("starting a kube-apiserver for migrate");
        let cluster = ApiServer::start(self.tools)?;
        let cmd = self.migrate_cmd(source, &cluster, &backup);
        self.write_trial(e, &cmd, &WriteTarget::K8s(&cluster), objects)?;
        self.size.k8s_objects = Some(objects);
        self.k8s_reads(source, &cluster, objects, has_backup)?;
        self.compare_k8s();
        Ok(())
    }

    fn migrate_cmd(&self, source: &Etcd, target: &ApiServer, backup: &Path) -> Cmd {
        self.ours(&["--kubeconfig", target.kubeconfig(), "migrate", "--from", &source.address(), "--to", "k8s"])
            .arg("--backup-to")
            .arg(backup.display().to_string())
    }

    /// Whether the kubectl baselines run at this size.
    fn with_kubectl(&self) -> bool {
        self.settings.kubectl_max_rows.is_none_or(|max| self.size.rows_requested <= max)
    }

    /// `PATH` with the pinned kubectl first.
    fn kubectl_path_env(&self) -> String {
        let kubectl_dir = Path::new(&self.tools.kubectl).parent().map(Path::to_path_buf).unwrap_or_default();
        format!("{}:{}", kubectl_dir.display(), std::env::var("PATH").unwrap_or_default())
    }

    /// Every Kubernetes read (ours, raw, kubectl) of `cluster`, which holds `objects` objects of the
    /// source's rows; leaves the backups in `backup-k8s.tar.gz` and `kubectl-backup/`.
    fn k8s_reads(&mut self, source: &Etcd, cluster: &ApiServer, objects: u64, has_backup: bool) -> Result<()> {
        use crate::model::Side::{Baseline, Ours};
        let settings = self.settings.clone();
        let tools = self.tools;
        let trials = settings.trials.max(1);
        let with_kubectl = self.with_kubectl();
        let kubectl_trials = settings.kubectl_trials.max(1);
        let path_env = self.kubectl_path_env();
        let kubeconfig = cluster.kubeconfig().to_owned();
        let k8s_export = self.path("export-k8s.json");
        let e = self.entry("k8s.export.ours", Ours, "linstor-db export-db (k8s → export file)");
        for _ in 0..trials {
            let cmd = self
                .ours(&["--kubeconfig", &kubeconfig, "export-db", "--from", "k8s"])
                .arg(k8s_export.display().to_string());
            self.trial(e, &cmd, &cluster.pids())?;
        }
        self.verify(e, &source.address(), &k8s_export.display().to_string())?;
        let k8s_backup = self.path("backup-k8s.tar.gz");
        if has_backup {
            let e = self.entry("k8s.backup.ours", Ours, "linstor-db backup (k8s → tar.gz)");
            for _ in 0..trials {
                let _ = fs::remove_file(&k8s_backup);
                let cmd = self
                    .ours(&["--kubeconfig", &kubeconfig, "backup", "--from", "k8s", "-o"])
                    .arg(k8s_backup.display().to_string());
                self.trial(e, &cmd, &cluster.pids())?;
            }
            self.verify(e, &source.address(), &k8s_backup.display().to_string())?;
        }
        for (id, concurrency) in [("k8s.list.raw", 1), ("k8s.list.raw-concurrent", settings.raw_list_concurrency)] {
            let label = format!("bench-raw k8s-list (LIST limit=500, {concurrency} CRD(s) at a time)");
            let e = self.entry(id, Baseline, &label);
            let out = self.path("raw-list.out");
            for _ in 0..trials {
                let mut cmd =
                    Cmd::new(&tools.bench_raw, &["k8s-list", "-limit", "500", "-c", &concurrency.to_string()]);
                for flag in cluster.raw_flags() {
                    cmd = cmd.arg(flag);
                }
                self.trial(e, &cmd.stdout_to(&out), &cluster.pids())?;
                let listed = count_field(&fs::read_to_string(&out)?, "objects")?;
                ensure!(listed == objects, "bench-raw k8s-list listed {listed} of {objects} objects");
            }
            self.check(e, format!("{objects} objects listed (bench-raw's own count)"));
        }
        let kubectl_backup = self.path("kubectl-backup");
        if with_kubectl {
            let e = self.entry(
                "k8s.backup.kubectl",
                Baseline,
                "kubectl procedure (get crds, grep, xargs kubectl get -oyaml per CRD)",
            );
            for _ in 0..kubectl_trials {
                let _ = fs::remove_dir_all(&kubectl_backup);
                fs::create_dir_all(&kubectl_backup)?;
                // LINSTOR's documented backup of the k8s database, verbatim.
                let script = concat!(
                    r#"kubectl get crds | grep -o ".*.internal.linstor.linbit.com" | xargs kubectl get crds -oyaml > crds.yaml && "#,
                    r#"kubectl get crds | grep -o ".*.internal.linstor.linbit.com" | xargs -i{} sh -c "kubectl get {} -oyaml > {}.yaml""#
                );
                let cmd = Cmd::shell(script).env("KUBECONFIG", &kubeconfig).env("PATH", &path_env).cwd(&kubectl_backup);
                self.trial(e, &cmd, &cluster.pids())?;
            }
            let mut saved = 0u64;
            for file in fs::read_dir(&kubectl_backup)? {
                let file = file?.path();
                if file.to_string_lossy().ends_with(".internal.linstor.linbit.com.yaml") {
                    let text = fs::read_to_string(&file)?;
                    saved +=
                        text.lines().filter(|l| l.starts_with("- apiVersion: internal.linstor.linbit.com/")).count()
                            as u64;
                }
            }
            ensure!(saved == objects, "the kubectl procedure saved {saved} of {objects} objects");
            self.check(e, format!("{saved} objects in the YAML files"));
        } else {
            self.size.notes.push(format!(
                "kubectl baselines skipped at this size (--kubectl-max-rows {})",
                settings.kubectl_max_rows.unwrap_or_default()
            ));
        }
        Ok(())
    }

    fn kubernetes(
        &mut self,
        source: &Etcd,
        export_arg: &str,
        has_backup: bool,
        has_restore: bool,
        has_migrate: bool,
    ) -> Result<()> {
        use crate::model::Side::{Baseline, Ours};
        let settings = self.settings.clone();
        let tools = self.tools;
        let write_trials = settings.k8s_write_trials.max(1);
        let with_kubectl = self.with_kubectl();
        let kubectl_trials = settings.kubectl_trials.max(1);
        let path_env = self.kubectl_path_env();

        // The first import's API server is the source of every Kubernetes read.
        self.log("starting the source kube-apiserver");
        let import = self.entry("k8s.import.ours", Ours, "linstor-db import-db (export file → k8s)");
        let cluster = ApiServer::start(tools)?;
        let kubeconfig = cluster.kubeconfig().to_owned();
        let cmd = self.ours(&["--kubeconfig", &kubeconfig, "import-db", "--to", "k8s", export_arg]);
        self.trial(import, &cmd, &cluster.pids())?;
        let objects = cluster.object_count(tools)?;
        ensure!(
            objects > self.size.rows,
            "{objects} custom resources after importing {} rows (expected one per row plus bookkeeping)",
            self.size.rows
        );
        self.size.k8s_objects = Some(objects);
        self.check(import, format!("{objects} custom resources counted in each fresh target"));

        self.k8s_reads(source, &cluster, objects, has_backup)?;
        let k8s_backup = self.path("backup-k8s.tar.gz");
        let kubectl_backup = self.path("kubectl-backup");
        let dump = self.path("k8s-dump");
        let mut cmd = Cmd::new(&tools.bench_raw, &["k8s-list", "-dump"]).arg(dump.display().to_string());
        for flag in cluster.raw_flags() {
            cmd = cmd.arg(flag);
        }
        cmd.output()?;
        drop(cluster);

        // --- writes, each into a fresh API server
        for _ in 1..write_trials {
            let target = ApiServer::start(tools)?;
            let cmd = self.ours(&["--kubeconfig", target.kubeconfig(), "import-db", "--to", "k8s", export_arg]);
            self.write_trial(import, &cmd, &WriteTarget::K8s(&target), objects)?;
        }
        let concurrency = settings.raw_create_concurrency.to_string();
        let e = self.entry(
            "k8s.create.raw",
            Baseline,
            &format!("bench-raw k8s-create (CRDs, then POSTs, {concurrency} in flight)"),
        );
        for _ in 0..write_trials {
            let target = ApiServer::start(tools)?;
            let mut cmd = Cmd::new(&tools.bench_raw, &["k8s-create", "-c", &concurrency]);
            for flag in target.raw_flags() {
                cmd = cmd.arg(flag);
            }
            let cmd = cmd.arg(dump.display().to_string());
            self.write_trial(e, &cmd, &WriteTarget::K8s(&target), objects)?;
        }
        if has_restore && has_backup {
            let e = self.entry("k8s.restore.ours", Ours, "linstor-db restore (tar.gz → k8s, verified)");
            for _ in 0..write_trials {
                let target = ApiServer::start(tools)?;
                let cmd = self
                    .ours(&["--kubeconfig", target.kubeconfig(), "restore", "--from"])
                    .arg(k8s_backup.display().to_string())
                    .args(&["--to", "k8s"]);
                self.write_trial(e, &cmd, &WriteTarget::K8s(&target), objects)?;
            }
        }
        if with_kubectl {
            // The objects exactly as the kubectl procedure saved them, CRDs apart.
            let objects_dir = kubectl_backup.join("objects");
            fs::create_dir_all(&objects_dir)?;
            for file in fs::read_dir(&kubectl_backup)? {
                let file = file?.path();
                if file.to_string_lossy().ends_with(".internal.linstor.linbit.com.yaml") {
                    let name = file.file_name().context("file name")?.to_owned();
                    fs::rename(&file, objects_dir.join(name))?;
                }
            }
            let e = self.entry("k8s.create.kubectl", Baseline, "kubectl create -f (CRDs, wait Established, objects)");
            for _ in 0..kubectl_trials {
                let target = ApiServer::start(tools)?;
                let script = "kubectl create -f crds.yaml >/dev/null && \
                              kubectl wait --for=condition=established --timeout=120s crd --all >/dev/null && \
                              kubectl create -f objects/ >/dev/null";
                let cmd = Cmd::shell(script)
                    .env("KUBECONFIG", target.kubeconfig())
                    .env("PATH", &path_env)
                    .cwd(&kubectl_backup);
                self.write_trial(e, &cmd, &WriteTarget::K8s(&target), objects)?;
            }
        }
        if has_migrate {
            let e = self.entry("migrate.ours", Ours, MIGRATE_LABEL);
            let backup = self.path("migrate-backup.tar.gz");
            for _ in 0..write_trials {
                let _ = fs::remove_file(&backup);
                let target = ApiServer::start(tools)?;
                let cmd = self.migrate_cmd(source, &target, &backup);
                self.write_trial(e, &cmd, &WriteTarget::K8s(&target), objects)?;
            }
        }

        self.compare_k8s();
        Ok(())
    }

    /// The ratios of the Kubernetes jobs to their baselines (those that ran).
    fn compare_k8s(&mut self) {
        self.compare("k8s export", "k8s.export.ours", &["k8s.list.raw"], None);
        self.compare("k8s export", "k8s.export.ours", &["k8s.backup.kubectl"], None);
        self.compare("k8s backup", "k8s.backup.ours", &["k8s.backup.kubectl"], Some(Target::FasterBy(10.0)));
        self.compare("k8s backup", "k8s.backup.ours", &["k8s.list.raw-concurrent"], Some(Target::AtMost(1.5)));
        self.compare("k8s backup", "k8s.backup.ours", &["k8s.list.raw"], None);
        self.compare("k8s import", "k8s.import.ours", &["k8s.create.raw"], None);
        self.compare("k8s import", "k8s.import.ours", &["k8s.create.kubectl"], None);
        self.compare("k8s restore", "k8s.restore.ours", &["k8s.create.kubectl"], Some(Target::FasterBy(10.0)));
        self.compare("k8s restore", "k8s.restore.ours", &["k8s.create.raw"], Some(Target::AtMost(2.0)));
        self.compare("migrate etcd → k8s", "migrate.ours", &["etcd.get.etcdctl-pb", "k8s.create.raw"], None);
    }

    fn fresh_etcd(&self) -> Result<Etcd> {
        Etcd::start(self.tools, &self.path("etcd-target"))
    }

    /// One write trial into `target`, then counts what landed there.
    fn write_trial(&mut self, index: usize, cmd: &Cmd, target: &WriteTarget, expected: u64) -> Result<()> {
        let watch = match target {
            WriteTarget::Etcd(etcd) => vec![etcd.pid()],
            WriteTarget::K8s(cluster) => cluster.pids(),
        };
        self.trial(index, cmd, &watch)?;
        let (found, what) = match target {
            WriteTarget::Etcd(etcd) => (etcd.key_count(self.tools, PREFIX)?, "etcd keys"),
            WriteTarget::K8s(cluster) => (cluster.object_count(self.tools)?, "custom resources"),
        };
        if found == expected {
            self.check(index, format!("{found} {what} counted in each fresh target"));
            return Ok(());
        }
        let id = self.size.entries[index].id.clone();
        // Ours may lay out the same rows in other keys (e.g. with or without the PK-column keys of
        // LINSTOR's init rows); then the rows must be equal, and the difference is reported.
        if let (WriteTarget::Etcd(etcd), crate::model::Side::Ours) = (target, self.size.entries[index].side) {
            let source = self.source.clone();
            self.ours(&["verify", &source, &etcd.address()])
                .output()
                .with_context(|| format!("{id}: {found} etcd keys (source {expected}) and rows differ"))?;
            self.check(index, format!("{found} etcd keys (source: {expected}); `linstor-db verify`: rows equal"));
            let note = format!("{id} writes {found} etcd keys where import-db writes {expected}; the rows are equal");
            if !self.size.notes.contains(&note) {
                self.size.notes.push(note);
            }
            return Ok(());
        }
        bail!("{id}: {found} {what} in the target after the write, expected {expected}")
    }

    /// `linstor-db verify A B` (row by row), not measured.
    fn verify(&mut self, index: usize, a: &str, b: &str) -> Result<()> {
        self.ours(&["verify", a, b])
            .output()
            .with_context(|| format!("{}: output differs from the source", self.size.entries[index].id))?;
        self.check(
            index,
            format!("`linstor-db verify` of the output against the source: equal, {} rows", self.size.rows),
        );
        Ok(())
    }
}

fn count_field(json: &str, field: &str) -> Result<u64> {
    let value: serde_json::Value = serde_json::from_str(json.trim()).with_context(|| format!("parsing {json:?}"))?;
    value[field].as_u64().with_context(|| format!("no {field} in {json:?}"))
}
