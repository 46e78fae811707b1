"""`smartlinks health [ROLE]`: is this host's ROLE process healthy? Exit 0 if so, 1 if not.

A container's HEALTHCHECK (and compose's) runs it next to the process it checks:

- ``edge`` and ``admin``: their ``/healthz`` on 127.0.0.1 answers 200 (the edge's says Redis
  answers; the admin's says it can serve);
- ``sync``, ``drain``, ``webhooks``, ``sender``: the worker's heartbeat key in Redis
  (``sl:w:ROLE:HOST:PID``, written by sync/worker.py with a 15 s TTL) exists for a
  ``smartlinks ROLE`` process of this host. A worker that is stuck, or cannot reach Redis,
  stops beating and turns unhealthy within its TTL.

Without ROLE, the role of the one ``smartlinks ROLE`` process on this host is checked (an
image's HEALTHCHECK does not know which role its container runs).
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from core import config, keys
from smartlinks import roles

HTTP_ROLES = tuple(role.name for role in roles.ROLES if role.http)
ROLES = tuple(role.name for role in roles.ROLES)
TIMEOUT_SECONDS = 2.0


def _role_of(cmdline: list[str]) -> str | None:
    """``smartlinks ROLE`` or ``python -m smartlinks.cli ROLE`` -> ROLE."""
    for i, arg in enumerate(cmdline[:-1]):
        if Path(arg).name == "smartlinks" or arg == "smartlinks.cli":
            role = cmdline[i + 1]
            return role if role in ROLES else None
    # granian names its processes "smartlinks edge" / "smartlinks admin" (process_name).
    if cmdline and cmdline[0].startswith("smartlinks "):
        role = cmdline[0].split()[1]
        return role if role in HTTP_ROLES else None
    return None


def role_processes() -> dict[str, list[int]]:
    """This host's ``smartlinks ROLE`` processes by role (our own health command excluded)."""
    import psutil  # not at import time: `smartlinks health edge` runs without it

    found: dict[str, list[int]] = {}
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.info["pid"] == me:
            continue
        role = _role_of(proc.info.get("cmdline") or [])
        if role is not None:
            found.setdefault(role, []).append(proc.info["pid"])
    return found


def check_http(role: str, settings: config.Settings) -> tuple[bool, str]:
    port = settings.edge.port if role == "edge" else settings.admin.port
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 (our URL)
            return answer.status == 200, f"{url} answered {answer.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def check_worker(role: str, redis_url: str, cluster: bool = False) -> tuple[bool, str]:
    # Imported here: the edge's image runs `smartlinks health` too, and holds neither redis-py
    # nor sync/ (tests/test_packaging.py).
    import redis

    from sync.connections import connect

    pids = role_processes().get(role, [])
    if not pids:
        return False, f"no `smartlinks {role}` process on this host"
    host = socket.gethostname()
    names = [keys.worker(role, f"{host}:{pid}") for pid in pids]
    client = connect(redis_url, cluster, socket_timeout=TIMEOUT_SECONDS,
                     socket_connect_timeout=TIMEOUT_SECONDS)  # fmt: skip
    try:
        beating = client.exists(*names)
    except redis.RedisError as exc:
        return False, f"Redis did not answer: {exc}"
    finally:
        client.close()
    if beating:
        return True, f"{role} heartbeat present ({beating} of {len(pids)} processes)"
    return False, f"no heartbeat from `smartlinks {role}` (pids {pids}) in Redis"


def check(role: str | None, settings: config.Settings) -> tuple[bool, str]:
    if role is None:
        roles = sorted(role_processes())
        if len(roles) != 1:
            return False, f"name the role: this host runs {roles or 'no smartlinks role'}"
        role = roles[0]
    if role in HTTP_ROLES:
        return check_http(role, settings)
    return check_worker(role, config.redis_url(settings), config.redis_cluster(settings))
