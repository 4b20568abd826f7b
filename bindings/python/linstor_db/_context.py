"""The Context: one handle of the C library, and one method per job."""

from __future__ import annotations

import ctypes
import json
import math
import os
import threading
from typing import Any, Callable, Optional, Union

from . import _library
from .errors import ClosedError, LinstorDbError, error_for

PathLike = Union[str, bytes, "os.PathLike[str]"]
ProgressFn = Callable[[dict], None]

_lib: Optional[ctypes.CDLL] = None
_lib_lock = threading.Lock()


def library() -> ctypes.CDLL:
    """The loaded liblinstor_db (loaded on first use)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            _lib = _library.load()
        return _lib


def version() -> str:
    """Version of the loaded library."""
    return library().lsdb_version().decode()


def _c_string(value: Optional[PathLike]) -> Optional[bytes]:
    """A C string argument; None stays NULL. Undecodable path bytes pass through as they are, so the
    library reports them (InvalidUtf8Error) instead of Python guessing."""
    if value is None:
        return None
    value = os.fspath(value)
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape")


class Context:
    """How to reach stores, plus the library state of the jobs run through it.

    Use it as a context manager (or call :meth:`close`). Jobs on one Context run one after the other
    (a lock serialises them); use one Context per thread that should run jobs in parallel.
    :meth:`cancel` may be called from any thread.

    ``config_dir`` is the directory holding linstor.toml (etcd TLS, credentials, prefix; the store when a
    job's address is None); ``kubeconfig`` and ``kube_context`` select the Kubernetes API for ``k8s``
    stores (default: $KUBECONFIG, ~/.kube/config, in-cluster). ``retry_timeout`` is how many seconds
    a job keeps retrying a store that fails with transient errors (an etcd member down, a leader
    election, an API server that does not answer) without any request succeeding (default 180;
    rounded up to whole seconds).
    """

    def __init__(
        self,
        config_dir: Optional[PathLike] = None,
        kubeconfig: Optional[PathLike] = None,
        kube_context: Optional[str] = None,
        retry_timeout: Optional[float] = None,
    ):
        self._lib = library()
        self._lock = threading.Lock()
        self._handle = self._lib.lsdb_context_new()
        if not self._handle:
            raise LinstorDbError("cannot create a linstor-db context (out of file descriptors or memory)", 6)
        try:
            for setter, value in (
                (self._lib.lsdb_context_set_config_dir, config_dir),
                (self._lib.lsdb_context_set_kubeconfig, kubeconfig),
                (self._lib.lsdb_context_set_kube_context, kube_context),
            ):
                if value is not None:
                    self._check(setter(self._handle, _c_string(value)))
            if retry_timeout is not None:
                if retry_timeout <= 0:
                    raise ValueError("retry_timeout must be positive (seconds)")
                self._check(self._lib.lsdb_context_set_retry_timeout(self._handle, math.ceil(retry_timeout)))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Only frees what close() did not; never raises from the garbage collector.
        try:
            self.close()
        except Exception:
            pass

    def close(self) -> None:
        """Frees the library context, after a running job ended. Calling it again does nothing."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if getattr(self, "_handle", None):
                self._lib.lsdb_context_free(self._handle)
                self._handle = None

    def cancel(self) -> None:
        """Cancels the running job (it raises CancelledError at its next batch) and every job started
        afterwards, until :meth:`reset_cancel`. Safe from any thread, and from a progress callback."""
        handle = self._handle
        if handle:
            self._lib.lsdb_context_cancel(handle)

    def reset_cancel(self) -> None:
        """Lets jobs run again after :meth:`cancel`."""
        handle = self._handle
        if handle:
            self._lib.lsdb_context_reset_cancel(handle)

    # --- plumbing ---------------------------------------------------------------------------------

    def _check(self, status: int) -> None:
        if status == 0:
            return
        message_ptr = self._lib.lsdb_context_last_error(self._handle)
        if message_ptr:
            message = ctypes.string_at(message_ptr).decode("utf-8", "replace")
            self._lib.lsdb_string_free(message_ptr)
        else:
            message = self._lib.lsdb_status_describe(status).decode()
        raise error_for(status, message)

    def _job(self, function: str, *args: Any, options: Optional[dict] = None, progress: Optional[ProgressFn] = None) -> Any:
        with self._lock:
            if not self._handle:
                raise ClosedError("the context is closed")
            callback_errors: list[BaseException] = []

            def on_progress(_user_data: Any, progress_json: bytes) -> None:
                if callback_errors or progress is None:
                    return
                try:
                    progress(json.loads(progress_json))
                except BaseException as error:  # re-raised after the job; the job is stopped
                    callback_errors.append(error)
                    self._lib.lsdb_context_cancel(self._handle)

            callback = _library.PROGRESS_CALLBACK(on_progress) if progress else _library.PROGRESS_CALLBACK()
            self._check(self._lib.lsdb_context_set_progress(self._handle, callback, None))
            out = ctypes.c_void_p()
            try:
                call_args = list(args)
                if options is not None:
                    call_args.append(json.dumps(options).encode())
                status = getattr(self._lib, function)(self._handle, *call_args, ctypes.byref(out))
            finally:
                self._lib.lsdb_context_set_progress(self._handle, _library.PROGRESS_CALLBACK(), None)
            if callback_errors:
                self._lib.lsdb_context_reset_cancel(self._handle)
                self._lib.lsdb_string_free(out)
                raise callback_errors[0]
            self._check(status)
            try:
                return json.loads(ctypes.string_at(out.value))
            finally:
                self._lib.lsdb_string_free(out)

    @staticmethod
    def _options(**values: Any) -> dict:
        return {key: value for key, value in values.items() if value not in (None, False)}

    # --- jobs -------------------------------------------------------------------------------------

    def export_db(self, source: Optional[str], file: PathLike, *, progress: Optional[ProgressFn] = None) -> dict:
        """Writes the store ``source`` (None: connection_url of linstor.toml) to a LINSTOR export-db
        JSON file. Returns the copy report (``rows``, ``tables``, ``data_version``, …)."""
        return self._job("lsdb_export", _c_string(source), _c_string(file), options={}, progress=progress)

    def import_db(
        self, file: PathLike, target: Optional[str], *, replace: bool = False, controller: Optional[str] = None,
        allow_running_controller: bool = False, no_check: bool = False, progress: Optional[ProgressFn] = None,
    ) -> dict:
        """Writes a LINSTOR export-db JSON file into the store ``target`` (None: linstor.toml). Data LINSTOR
        would refuse to load is refused (``RefusedError``) before anything is written, unless ``no_check``."""
        options = self._options(
            replace=replace, controller=controller, allow_running_controller=allow_running_controller, no_check=no_check,
        )
        return self._job("lsdb_import", _c_string(file), _c_string(target), options=options, progress=progress)

    def info(self, store: Optional[str] = None) -> dict:
        """The LINSTOR release, data version, migration numbers and rows per table of ``store``."""
        return self._job("lsdb_info", _c_string(store))

    def verify(self, a: str, b: str, *, max_differences: Optional[int] = None) -> dict:
        """Compares two stores row by row. Different stores are a result (``equal`` False, and up to
        ``max_differences`` entries in ``first_differences``), not an exception."""
        return self._job("lsdb_verify", _c_string(a), _c_string(b), options=self._options(max_differences=max_differences))

    def generate(
        self, target: PathLike, rows: int = 10_000, seed: int = 1, data_version: Optional[str] = None, *,
        replace: bool = False, progress: Optional[ProgressFn] = None,
    ) -> dict:
        """Writes a synthetic LINSTOR database of about ``rows`` rows into ``target`` (a store or a
        file), deterministic for ``seed``; ``data_version`` None is v1-31-1 (LINSTOR 1.33)."""
        return self._job(
            "lsdb_generate", _c_string(target), ctypes.c_uint64(rows), ctypes.c_uint64(seed), _c_string(data_version),
            options=self._options(replace=replace), progress=progress,
        )

    def backup(self, source: Optional[str], target: PathLike, *, progress: Optional[ProgressFn] = None) -> dict:
        """Writes ``source`` (None: linstor.toml) as a backup archive to a file or ``secret://NS/NAME``."""
        return self._job("lsdb_backup", _c_string(source), _c_string(target), options={}, progress=progress)

    def restore(
        self, source: PathLike, target: Optional[str] = None, *, replace: bool = False, dry_run: bool = False,
        allow_downgrade: bool = False, backup_to: Optional[PathLike] = None, controller: Optional[str] = None,
        allow_running_controller: bool = False, accept_lost_columns: bool = False, no_check: bool = False,
        progress: Optional[ProgressFn] = None,
    ) -> dict:
        """Writes a backup (file, Secret, export file or store) into ``target``, verified row by row. A backup
        whose objects lack columns the API server pruned is refused unless ``accept_lost_columns``; data
        LINSTOR would refuse to load is refused (``RefusedError``) before anything is written, unless
        ``no_check``. ``allow_downgrade`` (with ``replace``) writes older data over LINSTOR CRDs that store newer
        data (a failed upgrade): they are deleted after the safety backup and created as the backup's release
        has them; the report's ``next_steps`` say which release must run and how to pin its image."""
        options = self._options(
            replace=replace, dry_run=dry_run, allow_downgrade=allow_downgrade, backup_to=os.fspath(backup_to) if backup_to else None,
            controller=controller, allow_running_controller=allow_running_controller,
            accept_lost_columns=accept_lost_columns, no_check=no_check,
        )
        return self._job("lsdb_restore", _c_string(source), _c_string(target), options=options, progress=progress)

    def migrate(
        self, source: Optional[str], target: str, *, replace: bool = False, backup_to: Optional[PathLike] = None,
        controller: Optional[str] = None, allow_running_controller: bool = False, no_check: bool = False,
        progress: Optional[ProgressFn] = None,
    ) -> dict:
        """Copies the live store ``source`` into ``target`` (e.g. etcd → ``k8s``): backup first, write,
        verify row by row; the source is never modified. Data LINSTOR would refuse to load is refused
        (``RefusedError``) before the target is written, unless ``no_check``."""
        options = self._options(
            replace=replace, backup_to=os.fspath(backup_to) if backup_to else None, controller=controller,
            allow_running_controller=allow_running_controller, no_check=no_check,
        )
        return self._job("lsdb_migrate", _c_string(source), _c_string(target), options=options, progress=progress)

    def list_backups(self, namespace: str) -> list:
        """The backup Secrets of a Kubernetes namespace."""
        return self._job("lsdb_list_backups", _c_string(namespace))

    def prune_backups(
        self, namespace: str, keep: int, *, older_than: Optional[float] = None, dry_run: bool = False,
    ) -> dict:
        """Deletes the complete backups of a Kubernetes namespace beyond the ``keep`` newest complete
        ones (``keep`` at least 1), with ``older_than`` (seconds) only those at least that old; with
        ``dry_run`` nothing. Never the newest complete backup, one still being written or one that
        cannot be read."""
        if keep < 1:
            raise ValueError("keep must be at least 1: prune never deletes the newest complete backup")
        older_than_s = 0 if older_than is None else max(1, int(older_than))
        return self._job("lsdb_prune_backups", _c_string(namespace), keep, older_than_s, dry_run)

    def purge(
        self, store: Optional[str], backup: PathLike, *, controller: Optional[str] = None,
        allow_running_controller: bool = False, progress: Optional[ProgressFn] = None,
    ) -> dict:
        """Deletes LINSTOR's database from ``store`` after ``backup`` verified equal to it."""
        options = self._options(controller=controller, allow_running_controller=allow_running_controller)
        return self._job("lsdb_purge", _c_string(store), _c_string(backup), options=options, progress=progress)
