"""The edge stands alone: it imports no Flask, SQLAlchemy, Postgres driver, admin or sync code.

Two proofs: import the app factory (and build the app) in a fresh interpreter and look at
sys.modules; and scan every module of edge/ for import statements."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("flask", "sqlalchemy", "psycopg", "alembic", "admin", "sync", "werkzeug", "smartlinks")
# granian: the edge speaks its RSGI protocol on the short-link route (edge/rsgi.py).
ALLOWED_ROOTS = {
    "core", "edge", "starlette", "granian", "hiredis", "msgspec", "crawlerdetect", "idna", "lmdb"
}  # fmt: skip


def _root(name: str) -> str:
    return name.split(".")[0]


def test_importing_and_building_the_edge_loads_no_admin_code():
    code = (
        "import sys, json\n"
        "import edge.app\n"
        "edge.app.create_app(redis_url='redis://127.0.0.1:1/0')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = {_root(m) for m in json.loads(out.stdout.strip().splitlines()[-1])}
    assert "edge" in loaded and "starlette" in loaded
    assert not loaded & set(FORBIDDEN), loaded & set(FORBIDDEN)


def test_edge_modules_import_only_allowed_packages():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    files = sorted((ROOT / "edge").rglob("*.py"))
    assert len(files) >= 8
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["edge"]
            else:
                continue
            for name in names:
                root = _root(name)
                assert root not in FORBIDDEN, f"{path.name} imports {name}"
                assert root in ALLOWED_ROOTS or root in stdlib, f"{path.name} imports {name}"
