"""deploy/Caddyfile in front of a real edge, with Caddy's internal CA standing in for ACME:
a verified domain gets a certificate and its link's 302 over HTTPS; a pending or unknown
hostname gets no certificate at all (the TLS handshake fails); plain HTTP moves to HTTPS."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from admin.services.ownership import operator_verify
from smartlinks.embedded import free_port, wait_for_port
from tests.conftest import Api, Servers
from tests.helpers.publish import publish_once
from tests.servers import ROOT, Process, http_role

pytestmark = pytest.mark.slow

VERIFIED = "go.verified.test"
PENDING = "go.pending.test"
UNKNOWN = "nobody.unknown.test"
CADDYFILE = ROOT / "deploy" / "Caddyfile"


def caddy_binary() -> str:
    found = shutil.which("caddy")
    if found is None:
        pytest.skip("no caddy on PATH (python3 dev.py test installs Debian's caddy when root)")
    return found


@dataclass
class Caddy:
    proc: Process
    http_port: int
    https_port: int
    root_cert: Path

    def curl(self, host: str, path: str, *, https: bool = True) -> subprocess.CompletedProcess[str]:
        port = self.https_port if https else self.http_port
        scheme = "https" if https else "http"
        return subprocess.run(
            [
                "curl", "-sS", "-o", "/dev/null", "--max-time", "20",
                "-w", "%{http_code} %{redirect_url}",
                "--resolve", f"{host}:{port}:127.0.0.1",
                "--cacert", str(self.root_cert),
                "-A", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1",
                f"{scheme}://{host}:{port}{path}",
            ],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip


@contextmanager
def start_caddy(edge_base: str, tmp_path: Path) -> Iterator[Caddy]:
    binary = caddy_binary()
    http_port, https_port, admin_port = free_port(), free_port(), free_port()
    home = tmp_path / "caddy-home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "EDGE_UPSTREAM": edge_base.removeprefix("http://"),
        "ACME_EMAIL": "ops@example.test",
        "CADDY_HTTP_PORT": str(http_port),
        "CADDY_HTTPS_PORT": str(https_port),
        "CADDY_ADMIN": f"127.0.0.1:{admin_port}",
        # Caddy's own CA instead of a public ACME CA, and no change to the system's trust.
        "CADDY_GLOBAL_EXTRA": "local_certs\n\tskip_install_trust",
    }
    proc = Process(
        [binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env,
        tmp_path / "caddy.log",
    )
    try:
        wait_for_port("127.0.0.1", https_port, 30, proc.proc)
        root = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + 20
        while not root.exists():
            assert time.monotonic() < deadline, f"no internal CA root:\n{proc.log()}"
            time.sleep(0.1)
        yield Caddy(proc, http_port, https_port, root)
    finally:
        proc.stop()


@pytest.fixture
def served(api: Api, clean: Servers) -> str:
    """A verified domain with a link (its path returned) and a pending one, published."""
    for host in (VERIFIED, PENDING):
        assert api.post("/api/v1/domains", {"hostname": host}).status_code == 201
    operator_verify(VERIFIED)
    link = api.post("/api/v1/links", {"destination": "https://example.org/rsvp", "domain": VERIFIED})
    api.post("/api/v1/links", {"destination": "https://example.org/other", "domain": PENDING})
    publish_once(clean)
    return urlsplit(link.get_json()["url"]).path


def test_caddy_serves_verified_domains_over_https_and_refuses_others(
    served: str, clean: Servers, tmp_path: Path
) -> None:
    with (
        http_role("edge", clean.env(), tmp_path, "EDGE_PORT") as (_, edge_base),
        start_caddy(edge_base, tmp_path) as caddy,
    ):
        ok = caddy.curl(VERIFIED, served)
        assert ok.returncode == 0, f"{ok.stderr}\n{caddy.proc.log()[-3000:]}"
        assert ok.stdout == "302 https://example.org/rsvp"
        for host in (PENDING, UNKNOWN):
            refused = caddy.curl(host, served)
            # curl 35: the handshake failed, there is no certificate for the name.
            assert refused.returncode == 35, (host, refused.returncode, refused.stderr)
        # The public cannot ask for certificates through Caddy.
        assert caddy.curl(VERIFIED, f"/tls/ask?domain={VERIFIED}").stdout.startswith("404")
        # Plain HTTP moves to HTTPS; health checks stay on HTTP.
        plain = caddy.curl(VERIFIED, served, https=False)
        assert plain.stdout == f"308 https://{VERIFIED}{served}"
        assert caddy.curl(VERIFIED, "/healthz", https=False).stdout.startswith("200")
        issued = list((caddy.root_cert.parents[3] / "certificates").rglob("*.crt"))
        assert [p.name for p in issued] == [f"{VERIFIED}.crt"]
