"""deploy/compose.yaml: valid by the compose specification's JSON schema, every setting a
deployment must set named in deploy/env.example, and the topology replayed as plain processes
(the services' own commands, environment and health checks; local PostgreSQL and Valkey stand
in for the postgres and valkey services) until every role reports healthy."""

from __future__ import annotations

import json
import re
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from core import config
from smartlinks.embedded import free_port
from tests.conftest import Servers
from tests.deploy import composefile
from tests.servers import ROOT, SMARTLINKS, Process

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial

SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
ROLES = ("admin", "edge", "sync", "drain", "webhooks", "sender")
SUBSTITUTED = ("postgres", "valkey", "caddy")  # local servers here; Caddy: test_caddy.py
OTHER_IMAGES_SETTINGS = {"EDGE_UPSTREAM", "ACME_EMAIL"}


def test_the_compose_file_follows_the_compose_specification() -> None:
    doc = composefile.load()
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    # The validator does reject a broken file (a healthcheck that is not a list or string).
    broken = json.loads(json.dumps(doc))
    broken["services"]["sync"]["healthcheck"]["test"] = {"cmd": "smartlinks health"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)

    services = doc["services"]
    assert set(services) == {*ROLES, *SUBSTITUTED, "migrate"}
    assert services["migrate"]["command"] == ["smartlinks", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        if name != "migrate":
            assert service["restart"] == "unless-stopped", name
            assert service["healthcheck"]["test"][0] == "CMD", name
    for role in ROLES:
        service = services[role]
        assert service["command"] == ["smartlinks", role]
        assert service["healthcheck"]["test"] == ["CMD", "smartlinks", "health", role]
        # Every variable of our images is a Smart Links setting (a typo would be ignored).
        known = {s.env for s in config.SETTINGS}
        assert set(service["environment"]) <= known, set(service["environment"]) - known
        if role != "edge":
            assert service["depends_on"]["migrate"]["condition"] == (
                "service_completed_successfully"
            )


def test_every_required_setting_is_named_with_an_example() -> None:
    text = composefile.COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = composefile.read_env_file(composefile.ENV_EXAMPLE)
    assert required == {
        "POSTGRES_PASSWORD",
        "SECRET_KEY",
        "PUBLIC_ADMIN_URL",
        "EDGE_CNAME_TARGET",
        "ACME_EMAIL",
    }
    for name in required:
        assert example.get(name), name
        missing = {k: v for k, v in example.items() if k != name}
        with pytest.raises(composefile.MissingVariable, match=name):
            composefile.load(missing)
    # The forgotten three are named, with examples.
    for name in ("PUBLIC_ADMIN_URL", "TRUSTED_PROXIES", "EDGE_CNAME_TARGET"):
        assert example.get(name) and name in text


def _order(services: dict[str, Any]) -> list[str]:
    """Services in an order that honours depends_on (the substituted ones are up already)."""
    done: list[str] = list(SUBSTITUTED)
    while len(done) < len(services):
        ready = [
            name
            for name, service in services.items()
            if name not in done and all(dep in done for dep in service.get("depends_on", {}))
        ]
        assert ready, f"a depends_on cycle among {set(services) - set(done)}"
        done += sorted(ready)
    return [name for name in done if name not in SUBSTITUTED]


def _env(service: dict[str, Any], servers: Servers, ports: dict[str, int]) -> dict[str, str]:
    env = {str(k): str(v) for k, v in service.get("environment", {}).items()}
    # The stand-ins for the postgres and valkey services, and this machine's free ports.
    for name, value in servers.env().items():
        if name in ("DATABASE_URL", "REDIS_URL") and name not in env:
            continue  # the edge has no DATABASE_URL in the compose file: keep it so
        env.setdefault(name, value)
    if "DATABASE_URL" in env:
        env["DATABASE_URL"] = servers.database_url
    env["REDIS_URL"] = servers.redis_url
    for var in ("EDGE_HOST", "ADMIN_HOST"):
        if var in env:
            env[var] = "127.0.0.1"
    for var, port in ports.items():
        if var in env:
            env[var] = str(port)
    if "EDGE_WORKERS" in env:
        env["EDGE_WORKERS"] = "1"  # a shared 2-core machine
    if "ADMIN_WORKERS" in env:
        env["ADMIN_WORKERS"] = "1"
    return env


def _argv(command: list[str]) -> list[str]:
    assert command[0] == "smartlinks", command
    return [*SMARTLINKS, *command[1:]]


def _health(service: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD"
    return subprocess.run(
        _argv(test[1:]), env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
    )


@pytest.mark.slow
def test_the_topology_runs_as_plain_processes_and_becomes_healthy(
    clean: Servers, tmp_path: Path
) -> None:
    services = composefile.load()["services"]
    ports = {"EDGE_PORT": free_port(), "ADMIN_PORT": free_port()}
    envs = {name: _env(services[name], clean, ports) for name in _order(services)}
    with ExitStack() as stack:
        procs: dict[str, Process] = {}
        for name, env in envs.items():
            service = services[name]
            if name == "migrate":  # one-shot: the others wait for it to complete
                done = subprocess.run(
                    _argv(service["command"]), env=env, cwd=ROOT, capture_output=True,
                    text=True, timeout=120,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
                continue
            # Not healthy before it runs: the check means something.
            assert _health(service, env).returncode == 1, name
            proc = Process(_argv(service["command"]), env, tmp_path / f"{name}.log")
            stack.callback(proc.stop)
            procs[name] = proc
        pending = dict(procs)
        deadline = time.monotonic() + 90
        answers: dict[str, str] = {}
        while pending:
            for name in list(pending):
                assert pending[name].proc.poll() is None, f"{name} exited:\n{pending[name].log()}"
                result = _health(services[name], envs[name])
                answers[name] = result.stdout.strip()
                if result.returncode == 0:
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"not healthy in 90 s: {answers}")
            time.sleep(0.5)
        # A worker that stops is unhealthy at once (its heartbeat goes with it).
        procs["sync"].stop()
        stopped = _health(services["sync"], envs["sync"])
        assert stopped.returncode == 1, stopped.stdout
