"""Run by scripts/test-bindings.sh (suite python-package) with the package installed by pip, from outside
the repository and without LINSTOR_DB_LIBRARY. Not a pytest module. Usage: installed_job.py ETCD_URL ROWS"""

import sys

import linstor_db

print("version:", linstor_db.version())
print("library:", linstor_db.library()._name)
with linstor_db.Context() as ctx:
    generated = ctx.generate(sys.argv[1], rows=int(sys.argv[2]), seed=1, replace=True)
    info = ctx.info(sys.argv[1])
print(f"rows: generated {generated['rows']}, info {info['rows']}")
