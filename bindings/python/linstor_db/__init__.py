"""Python binding of linstor-db: back up, restore, migrate and verify the LINSTOR controller database
in etcd, in the Kubernetes API and in export files, through the C library liblinstor_db (ctypes).

    from linstor_db import Context, TargetNotEmptyError

    with Context(kubeconfig="~/.kube/config") as ctx:
        ctx.migrate("etcd://127.0.0.1:2379", "k8s", backup_to="before.tar.gz")
        assert ctx.verify("etcd://127.0.0.1:2379", "k8s")["equal"]
"""

from ._context import Context, library, version
from .errors import *  # noqa: F401,F403 - the exception hierarchy is part of the API
from .errors import LinstorDbError, error_for

__all__ = ["Context", "LinstorDbError", "error_for", "library", "version"] + [
    name for name in dir() if name.endswith("Error") and name not in ("LinstorDbError",)
]
