"""The data folder of `smartlinks up`: one `up` at a time, and the servers' remembered ports."""

from __future__ import annotations

import fcntl
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from smartlinks.embedded import free_port


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port in TIME_WAIT is free for them too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def remembered_ports(
    data_dir: Path, names: tuple[str, ...], choose: Callable[[], int] = free_port
) -> dict[str, int]:
    """Ports chosen (by ``choose``) on the first start and kept in the data folder; a taken one
    is replaced."""
    path = data_dir / "ports.json"
    try:
        ports = {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        ports = {}
    changed = False
    for name in names:
        if not ports.get(name) or not port_is_free(ports[name]):
            ports[name] = choose()
            changed = True
    if changed:
        path.write_text(json.dumps(ports))
    return ports


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """One `smartlinks up` per data folder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "up.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"smartlinks up: another `smartlinks up` is running with the data folder {data_dir}"
            ) from None
        yield
