"""The admin's layers, read from the source: services and providers never read the request or
the app (routes pass them values), the API Structs import no Flask and nothing of the admin,
and API routes read query parameters only through admin/api/params.py."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ADMIN = Path(__file__).resolve().parent.parent / "admin"
# What a service reading Flask's globals would import (the app, the request, the session...).
FLASK_GLOBALS = {"current_app", "has_app_context", "request", "g", "session", "has_request_context"}


def _modules(*packages: str) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        for path in sorted((ADMIN / package).rglob("*.py")):
            yield str(path.relative_to(ADMIN.parent)), ast.parse(path.read_text(), str(path))


def _imported_names(tree: ast.Module) -> Iterator[tuple[str, str]]:
    """(module, name) of every ``from module import name``, and (module, "") of ``import``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield from ((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, "") for alias in node.names)


def test_services_and_providers_read_no_flask_globals() -> None:
    found = [
        (path, f"{module}.{name}")
        for path, tree in _modules("services", "providers")
        for module, name in _imported_names(tree)
        if module.split(".")[0] == "flask" and (name in FLASK_GLOBALS or module == "flask.globals")
    ]
    assert not found, f"pass these values from the route instead: {found}"


def test_schemas_import_neither_flask_nor_the_admin() -> None:
    modules = list(_modules("schemas"))
    assert len(modules) > 1  # the package and its modules (resources, sending...)
    found = [
        (path, module)
        for path, tree in modules
        for module, _ in _imported_names(tree)
        if module.split(".")[0] in ("flask", "admin", "sqlalchemy")
    ]
    assert not found, found


def test_api_routes_read_query_parameters_through_params() -> None:
    found = []
    for path, tree in _modules("api"):
        if path.endswith("params.py"):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "args"
                and isinstance(node.value, ast.Name)
                and node.value.id == "request"
            ):
                found.append((path, node.lineno))
    assert not found, f"use admin.api.params (one 422 for a bad value): {found}"
