"""The Python binding against a real etcd and a real kube-apiserver."""

from __future__ import annotations

import threading
import time

import pytest

import linstor_db
from linstor_db import (
    BackupExistsError,
    CancelledError,
    ClosedError,
    ConfigError,
    ConnectError,
    Context,
    ForbiddenError,
    IncompleteImportError,
    InvalidArgumentError,
    InvalidStoreError,
    InvalidUtf8Error,
    LinstorDbError,
    TargetNotEmptyError,
    UnsupportedVersionError,
)


def test_version_and_hierarchy():
    assert "." in linstor_db.version()
    assert issubclass(TargetNotEmptyError, LinstorDbError)
    assert TargetNotEmptyError.code == 19
    assert type(linstor_db.error_for(12, "x")) is ConnectError
    assert type(linstor_db.error_for(4242, "x")) is LinstorDbError


def test_generate_info_export_verify_with_progress(etcd, etcd_context, tmp_path):
    events = []
    generated = etcd_context.generate(etcd.url, rows=1000, seed=3, progress=events.append)
    assert generated["rows"] >= 500 and generated["data_version"] == "v1-31-1"
    tables = [e for e in events if e["kind"] == "table"]
    rows = [e["rows"] for e in events if e["kind"] == "rows"]
    assert [t["index"] for t in tables] == list(range(len(tables))) and len(tables) > 20
    assert rows == sorted(rows) and rows[-1] == generated["rows"]

    info = etcd_context.info(etcd.url)
    assert info["rows"] == generated["rows"] and info["etcd_version"] is not None

    export = tmp_path / "export.json"
    exported = etcd_context.export_db(None, export)  # None: connection_url of linstor.toml
    assert exported["target"] == str(export) and export.stat().st_size > 0
    report = etcd_context.verify(etcd.url, str(export))
    assert report["equal"] and report["rows_a"] == report["rows_b"] == exported["rows"] and report["first_differences"] == []


def test_verify_lists_differences(tmp_path):
    with Context() as ctx:
        a, b = tmp_path / "a.json", tmp_path / "b.json"
        ctx.generate(a, rows=300, seed=1)
        ctx.generate(b, rows=300, seed=2)
        report = ctx.verify(str(a), str(b), max_differences=2)
    assert not report["equal"] and report["differences"] > 2
    assert len(report["first_differences"]) == 2 and report["first_differences_truncated"]


def test_target_not_empty_is_refused_with_its_message(etcd, etcd_context):
    etcd_context.generate(etcd.url, rows=200, seed=1)
    with pytest.raises(TargetNotEmptyError, match="already holds a LINSTOR database") as raised:
        etcd_context.generate(etcd.url, rows=200, seed=2)
    assert raised.value.code == 19
    assert etcd_context.generate(etcd.url, rows=200, seed=2, replace=True)["rows"] > 0


def test_errors_are_exceptions_per_code(tmp_path):
    with pytest.raises(ValueError, match="retry_timeout"):
        Context(retry_timeout=0)
    # Connecting tries each endpoint once, whatever the retry timeout.
    with Context(retry_timeout=2) as ctx:
        with pytest.raises(ConnectError, match="cannot connect to etcd at 127.0.0.1:1"):
            ctx.info("etcd://127.0.0.1:1")
        with pytest.raises(InvalidStoreError, match="unknown scheme"):
            ctx.info("ftp://somewhere")
        with pytest.raises(UnsupportedVersionError, match="v9-9-9"):
            ctx.generate(tmp_path / "x.json", rows=10, data_version="v9-9-9")
        with pytest.raises(InvalidUtf8Error, match="`store` is not valid UTF-8"):
            ctx.info(b"bad-\xff.json")
    with Context(config_dir=tmp_path / "nowhere") as ctx:
        with pytest.raises(ConfigError, match="no LINSTOR configuration"):
            ctx.info()


def test_invalid_options_json_is_refused(tmp_path):
    # The binding builds valid options; the library's own check is reached through the raw call.
    with Context() as ctx:
        with pytest.raises(InvalidArgumentError, match="unknown field `typo`"):
            ctx._job("lsdb_export", None, str(tmp_path / "x.json").encode(), options={"typo": 1})


def test_cancel_from_another_thread_stops_a_running_job(etcd, etcd_context):
    first_rows = threading.Event()
    done = threading.Event()

    def on_progress(event):
        if event["kind"] == "rows" and not first_rows.is_set():
            first_rows.set()
            done.wait(10)  # hold the job until the other thread has cancelled it

    def cancel_after_first_rows():
        first_rows.wait(30)
        etcd_context.cancel()
        done.set()

    canceller = threading.Thread(target=cancel_after_first_rows)
    canceller.start()
    started = time.monotonic()
    with pytest.raises(CancelledError, match="cancelled"):
        etcd_context.generate(etcd.url, rows=20000, seed=1, progress=on_progress)
    canceller.join()
    assert time.monotonic() - started < 30

    # Sticky until reset; then the interrupted target is refused, and finished with replace.
    with pytest.raises(CancelledError):
        etcd_context.info(etcd.url)
    etcd_context.reset_cancel()
    with pytest.raises(IncompleteImportError, match="incomplete import"):
        etcd_context.generate(etcd.url, rows=200, seed=1)
    assert etcd_context.generate(etcd.url, rows=200, seed=1, replace=True)["rows"] > 0


def test_exception_in_progress_callback_stops_the_job_and_propagates(tmp_path):
    def fail(_event):
        raise KeyError("from the callback")

    with Context() as ctx:
        with pytest.raises(KeyError, match="from the callback"):
            ctx.generate(tmp_path / "x.json", rows=5000, progress=fail)
        # The context stays usable.
        assert ctx.generate(tmp_path / "y.json", rows=100)["rows"] > 0


def test_backup_and_restore_round_trip(etcd, kube, etcd_context, tmp_path, request):
    generated = etcd_context.generate(etcd.url, rows=500, seed=11)
    archive = tmp_path / "backup.tar.gz"
    to_file = etcd_context.backup(etcd.url, archive)
    assert to_file["rows"] == generated["rows"] and len(to_file["sha256"]) == 64 and to_file["parts"] == 0
    secret = f"secret://default/py-backup-{time.time_ns()}"
    to_secret = etcd_context.backup(etcd.url, secret)
    assert to_secret["target"] == secret and to_secret["parts"] >= 1
    with pytest.raises(BackupExistsError, match="never overwritten"):
        etcd_context.backup(etcd.url, secret)
    listed = [b for b in etcd_context.list_backups("default") if b["address"] == secret]
    assert len(listed) == 1 and listed[0]["complete"] and listed[0]["rows"] == generated["rows"]
    # A dry run of a prune that keeps every backup deletes nothing and says why it keeps this one.
    pruned = etcd_context.prune_backups("default", 1000, older_than=3600, dry_run=True)
    assert pruned["dry_run"] and pruned["deleted"] == 0 and not any(c["delete"] for c in pruned["choices"])
    assert [c["secrets"][0] for c in pruned["choices"] if c["address"] == secret] == [secret.rsplit("/", 1)[1]]
    with pytest.raises(ValueError, match="at least 1"):
        etcd_context.prune_backups("default", 0)

    other = tmp_path / "other"
    other.mkdir()
    with Context(config_dir=etcd.config_dir(other, "restore-target"), kubeconfig=kube.kubeconfig) as target:
        restored = target.restore(secret, etcd.url)
        assert restored["rows"] == generated["rows"] and restored["previous_backup"] is None
        assert target.verify(etcd.url, str(archive))["equal"]
        with pytest.raises(TargetNotEmptyError):
            target.restore(str(archive), etcd.url)
        dry = target.restore(str(archive), etcd.url, dry_run=True)
        assert all(c["add"] + c["remove"] + c["change"] == 0 for c in dry["changes"])
        previous = tmp_path / "previous.tar.gz"
        replaced = target.restore(str(archive), etcd.url, replace=True, backup_to=previous)
        assert replaced["previous_backup"]["target"] == str(previous) and previous.exists()


def test_migrate_etcd_to_kubernetes_and_verify(etcd, etcd_context, tmp_path):
    generated = etcd_context.generate(etcd.url, rows=800, seed=21)
    backup = tmp_path / "before-migrate.tar.gz"
    steps = []
    # replace: other tests may have left a database in the cluster-wide CRDs.
    migrated = etcd_context.migrate(
        etcd.url, "k8s", replace=True, backup_to=backup,
        progress=lambda e: steps.append(e["step"]) if e["kind"] == "step" else None,
    )
    assert migrated["rows"] == generated["rows"] and migrated["verify"]["differences"] == 0
    assert migrated["backup"]["target"] == str(backup) and migrated["next_steps"]
    assert {"backup", "write", "verify"} <= set(steps)
    report = etcd_context.verify(etcd.url, "k8s")
    assert report["equal"] and report["rows_b"] == generated["rows"]
    again = etcd_context.migrate(etcd.url, "k8s", backup_to=tmp_path / "again.tar.gz")
    assert again["already_migrated"]


def test_kubernetes_without_permission_is_forbidden(kube):
    with Context(kubeconfig=kube.user_kubeconfig) as ctx:
        with pytest.raises(ForbiddenError, match="refused"):
            ctx.info("k8s")


def test_contexts_in_parallel_threads(etcd, kube, tmp_path):
    errors = []

    def run(i):
        directory = tmp_path / f"c{i}"
        directory.mkdir()
        try:
            with Context(config_dir=etcd.config_dir(directory, f"parallel{i}")) as ctx:
                ctx.generate(etcd.url, rows=500, seed=i)
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_closed_context_raises():
    ctx = Context()
    ctx.close()
    ctx.close()
    with pytest.raises(ClosedError):
        ctx.info("x.json")
