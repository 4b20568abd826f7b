"""Real servers for the tests: one etcd (Debian's etcd on PATH, or $LINSTOR_DB_ETCD) and one
kube-apiserver (tools/kube-apiserver/start.sh) per test session, on loopback. A missing binary fails
the tests; nothing is skipped."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
os.environ.setdefault("LINSTOR_DB_LIBRARY", str(REPO / "target" / "debug" / "liblinstor_db.so"))

import linstor_db  # noqa: E402 - after the library path is known

_prefixes = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    def __init__(self) -> None:
        binary = os.environ.get("LINSTOR_DB_ETCD") or shutil.which("etcd")
        if not binary:
            raise RuntimeError("etcd is not installed (run scripts/setup.sh or set LINSTOR_DB_ETCD)")
        self.dir = tempfile.mkdtemp(prefix="linstordb-py-etcd-")
        client, peer = _free_port(), _free_port()
        self.url = f"etcd://127.0.0.1:{client}"
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        self.log = open(os.path.join(self.dir, "etcd.log"), "wb")
        self.process = subprocess.Popen(
            [binary, f"--data-dir={self.dir}/data", f"--listen-client-urls={client_url}",
             f"--advertise-client-urls={client_url}", f"--listen-peer-urls={peer_url}",
             f"--initial-advertise-peer-urls={peer_url}", f"--initial-cluster=default={peer_url}", "--log-level=error"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", client), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"etcd did not start on port {client}")
                time.sleep(0.05)

    def config_dir(self, parent: Path, name: str) -> Path:
        """A linstor.toml giving this etcd a key prefix no other test uses."""
        prefix = f"/py-{next(_prefixes)}-{name}/"
        (parent / "linstor.toml").write_text(f'[db]\nconnection_url = "{self.url}"\n[db.etcd]\nprefix = "{prefix}"\n')
        return parent

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class KubeApiServer:
    def __init__(self) -> None:
        started = subprocess.run(
            ["bash", str(REPO / "tools/kube-apiserver/start.sh"), "--watch-pid", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=True,
        )
        self.dir = started.stdout.decode().strip()
        self.env = dict(
            line.split("=", 1) for line in Path(self.dir, "env").read_text().splitlines() if "=" in line
        )
        self.kubeconfig = self.env["KUBE_TEST_ADMIN_KUBECONFIG"]
        self.user_kubeconfig = self.env["KUBE_TEST_USER_KUBECONFIG"]

    def stop(self) -> None:
        subprocess.run(["bash", str(REPO / "tools/kube-apiserver/stop.sh"), self.dir], check=False)


@pytest.fixture(scope="session")
def etcd():
    server = Etcd()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kube():
    server = KubeApiServer()
    yield server
    server.stop()


@pytest.fixture
def etcd_context(etcd, kube, tmp_path, request):
    """A Context whose linstor.toml gives the shared etcd a prefix of its own, and the test API server."""
    config = tmp_path / "config"
    config.mkdir()
    with linstor_db.Context(config_dir=etcd.config_dir(config, request.node.name), kubeconfig=kube.kubeconfig) as ctx:
        yield ctx
