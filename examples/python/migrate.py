#!/usr/bin/env python3
"""Generates a LINSTOR database into etcd, migrates it to the Kubernetes API (CRDs) and verifies the
copy row by row, using the Python binding of linstor-db.

    LINSTOR_DB_LIBRARY=target/release/liblinstor_db.so PYTHONPATH=bindings/python \\
        python3 examples/python/migrate.py --etcd etcd://127.0.0.1:2379 --kubeconfig ~/.kube/config

(or, after `pip install ./bindings/python`, which bundles the library, without the two variables).

It overwrites the LINSTOR CRDs of that cluster (replace=True), so point it at a test cluster.
"""

import argparse
import os
import signal
import sys
import tempfile
import threading

import linstor_db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--etcd", default="etcd://127.0.0.1:2379", help="etcd store to generate into (replaced)")
    parser.add_argument("--kubeconfig", help="kubeconfig of the target cluster")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--workdir", default=tempfile.gettempdir(), help="where the safety backup is written")
    args = parser.parse_args()

    with linstor_db.Context(kubeconfig=args.kubeconfig) as ctx:
        # Ctrl-C cancels the running job: the library stops it at its next batch.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, lambda *_: ctx.cancel())
        try:
            generated = ctx.generate(args.etcd, rows=args.rows, seed=1, replace=True)
            print(f"generated {generated['rows']} rows (LINSTOR {generated['linstor_version']}) in {args.etcd}")

            def on_progress(event: dict) -> None:
                if event["kind"] == "step":
                    print(f"  step: {event['step']}")

            migrated = ctx.migrate(
                args.etcd, "k8s", replace=True,
                backup_to=os.path.join(args.workdir, "linstor-before-migrate.tar.gz"), progress=on_progress,
            )
            if migrated["already_migrated"]:
                print(f"k8s already held the same {migrated['rows']} rows; nothing was written")
            else:
                print(f"migrated {migrated['rows']} rows to k8s (backup of the source: {migrated['backup']['target']})")

            report = ctx.verify(args.etcd, "k8s")
            if not report["equal"]:
                print(f"verify: {report['differences']} differences: {report['first_differences']}", file=sys.stderr)
                return 1
            print(f"verified: equal, {report['rows_a']} rows on both sides")
            for step in migrated["next_steps"]:
                print("next:", step)
        except linstor_db.CancelledError:
            print("cancelled", file=sys.stderr)
            return 130
        except linstor_db.LinstorDbError as error:
            print(f"error ({type(error).__name__}, code {error.code}): {error.message}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
