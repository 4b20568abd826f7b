"""Loading liblinstor_db and declaring the C functions of linstor_db.h for ctypes."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

PROGRESS_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)

_ctx = ctypes.c_void_p
_str = ctypes.c_char_p
_out = ctypes.POINTER(ctypes.c_void_p)  # char **: kept as void* so that ctypes does not copy and lose it
_status = ctypes.c_uint32

# name: (argument types, result type)
_SIGNATURES = {
    "lsdb_version": ([], _str),
    "lsdb_status_describe": ([ctypes.c_uint32], _str),
    "lsdb_string_free": ([ctypes.c_void_p], None),
    "lsdb_context_new": ([], _ctx),
    "lsdb_context_free": ([_ctx], None),
    "lsdb_context_set_config_dir": ([_ctx, _str], _status),
    "lsdb_context_set_kubeconfig": ([_ctx, _str], _status),
    "lsdb_context_set_kube_context": ([_ctx, _str], _status),
    "lsdb_context_set_retry_timeout": ([_ctx, ctypes.c_uint64], _status),
    "lsdb_context_set_progress": ([_ctx, PROGRESS_CALLBACK, ctypes.c_void_p], _status),
    "lsdb_context_cancel": ([_ctx], _status),
    "lsdb_context_reset_cancel": ([_ctx], _status),
    "lsdb_context_last_error": ([_ctx], ctypes.c_void_p),
    "lsdb_export": ([_ctx, _str, _str, _str, _out], _status),
    "lsdb_import": ([_ctx, _str, _str, _str, _out], _status),
    "lsdb_info": ([_ctx, _str, _out], _status),
    "lsdb_verify": ([_ctx, _str, _str, _str, _out], _status),
    "lsdb_generate": ([_ctx, _str, ctypes.c_uint64, ctypes.c_uint64, _str, _str, _out], _status),
    "lsdb_backup": ([_ctx, _str, _str, _str, _out], _status),
    "lsdb_restore": ([_ctx, _str, _str, _str, _out], _status),
    "lsdb_migrate": ([_ctx, _str, _str, _str, _out], _status),
    "lsdb_list_backups": ([_ctx, _str, _out], _status),
    "lsdb_prune_backups": ([_ctx, _str, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_bool, _out], _status),
    "lsdb_purge": ([_ctx, _str, _str, _str, _out], _status),
}


def _candidates() -> list[str]:
    explicit = os.environ.get("LINSTOR_DB_LIBRARY")
    if explicit:
        return [explicit]
    # Bundled by `pip install` (named liblinstor_db.abi3.so by setuptools-rust), or copied here by hand.
    here = Path(__file__).parent
    found = [str(path) for path in sorted(here.glob("liblinstor_db*.so"))]
    system = ctypes.util.find_library("linstor_db")
    if system:
        found.append(system)
    return found


def load() -> ctypes.CDLL:
    """Loads the library: $LINSTOR_DB_LIBRARY, else the liblinstor_db*.so bundled in this package, else
    the system's library path."""
    errors = []
    for candidate in _candidates():
        try:
            library = ctypes.CDLL(candidate)
        except OSError as error:
            errors.append(f"{candidate}: {error}")
            continue
        for name, (argtypes, restype) in _SIGNATURES.items():
            function = getattr(library, name)
            function.argtypes = argtypes
            function.restype = restype
        return library
    raise OSError(
        "cannot load liblinstor_db (`pip install ./bindings/python` bundles it; or build it with "
        "`cargo build -p linstor-db-ffi` and set LINSTOR_DB_LIBRARY to the .so): "
        + "; ".join(errors or ["not found"])
    )
