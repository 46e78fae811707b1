"""A pending domain serves nothing at a real edge; once verified its links redirect; a second
organisation's claim of a verified hostname never disturbs what the edge serves for it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis

from core import keys
from tests.conftest import Servers
from tests.helpers.dns_server import Zone
from tests.helpers.publish import publish
from tests.servers import http_role

HOST = "go.acme.test"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_pending_serves_404_verified_redirects_and_a_rival_claim_changes_nothing(
    api, other_api, dns: Zone, publish, rdb: redis.Redis, clean: Servers, tmp_path: Path
) -> None:
    domain = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    link = api.post(
        "/api/v1/links", {"destination": "https://example.org/mine", "domain": HOST}
    ).get_json()
    code = urlsplit(link["url"]).path.strip("/")
    with (
        http_role("edge", clean.env(), tmp_path, "EDGE_PORT") as (_, base),
        httpx.Client(base_url=base, headers={"User-Agent": IPHONE}, timeout=5) as http,
    ):

        def visit(path: str) -> httpx.Response:
            return http.get(path, headers={"Host": HOST})

        publish()
        assert not rdb.exists(keys.domain(HOST))  # pending: never published
        assert visit(f"/{code}").status_code == 404
        assert http.get("/tls/ask", params={"domain": HOST}).status_code == 404

        dns.set(f"_smartlinks.{HOST}", "TXT", domain["verification"]["value"])
        assert api.post(f"/api/v1/domains/{domain['id']}/verify").get_json()["status"] == (
            "verified"
        )
        publish()
        answer = visit(f"/{code}")
        assert answer.status_code == 302
        assert answer.headers["location"] == "https://example.org/mine"
        assert http.get("/tls/ask", params={"domain": HOST}).status_code == 200

        # A second organisation claims the hostname and makes a link on its claim.
        rival = other_api.post("/api/v1/domains", {"hostname": HOST}).get_json()
        rival_link = other_api.post(
            "/api/v1/links", {"destination": "https://evil.example/", "domain": HOST}
        ).get_json()
        dns.set(HOST, "CNAME", "edge.smartlinks.test")
        other_api.post(f"/api/v1/domains/{rival['id']}/verify")
        publish()
        assert visit(f"/{code}").headers.get("location") == "https://example.org/mine"
        rival_code = urlsplit(rival_link["url"]).path.strip("/")
        assert visit(f"/{rival_code}").status_code == 404  # the rival's link never serves


__all__ = ["publish"]  # fixtures
