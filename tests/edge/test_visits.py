"""The edge's answers, through a real granian process and a real Redis."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import parse_qs, urlsplit

from core import keys
from core.records import DomainRecord
from edge.visit import UNREADABLE_AGENT
from tests.edge.conftest import GOOGLEBOT, HOST, IMESSAGE, IPHONE, Edge, World

INSTAGRAM = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 302.0.0.23.114 (iPhone14,3; iOS 17_0; en_US; en; "
    "scale=3.00; 1284x2778; 522498915)"
)
MERGED = "https://example.org/rsvp/%2E%2E%2Fadmin?first=Zo%C3%AB%20Secretname&src=mail%2Flist%3Fx%23y#Priv%C3%A9"
DEFAULTS = "https://example.org/rsvp/all?first=&src=sms#"


def test_person_gets_302_to_merged_destination_and_click_is_recorded(edge: Edge, world: World):
    r = edge.get(f"/{world.code}/gala2021", referer="https://sms.example/thread")
    assert r.status_code == 302
    assert r.headers["location"] == MERGED
    assert r.headers["cache-control"] == "private, no-store"
    [(event, ref)] = world.clicks()
    assert ref == "10:100:1"
    assert event.kind == "human" and event.reason == ""
    assert event.code == world.code and event.host == HOST
    assert re.fullmatch(r"[0-9a-f]{32}", event.click_id)
    assert event.user_agent == IPHONE
    assert event.referer == "https://sms.example/thread"
    assert event.ip == "127.0.0.1"
    assert abs(event.ts_ms - world.rdb.time()[0] * 1000) < 10_000


def test_every_click_gets_its_own_id(edge: Edge, world: World):
    for _ in range(3):
        assert edge.get(f"/{world.code}").status_code == 302
    ids = {event.click_id for event, _ in world.clicks()}
    assert len(ids) == 3


def test_extension_never_breaks_a_link(edge: Edge, world: World):
    for path in (
        f"/{world.code}",
        f"/{world.code}/",
        f"/{world.code}/gala2021",
        f"/{world.code}/old-extension",
        f"/{world.code}/a/b/c",
    ):
        r = edge.get(path)
        assert (r.status_code, r.headers["location"]) == (302, MERGED), path
    world.put_link(extension="renamed")
    assert edge.get(f"/{world.code}/gala2021").headers["location"] == MERGED
    assert len(world.clicks()) == 6


def test_generic_code_merges_defaults_and_records_empty_contact(edge: Edge, world: World):
    r = edge.get(f"/{world.generic}")
    assert r.status_code == 302
    assert r.headers["location"] == DEFAULTS
    [(_event, ref)] = world.clicks()
    assert ref == "10::1"


def test_in_app_browser_is_a_person(edge: Edge, world: World):
    r = edge.get(f"/{world.code}", ua=INSTAGRAM)
    assert r.status_code == 302 and r.headers["location"] == MERGED
    [(event, _)] = world.clicks()
    assert (event.kind, event.reason) == ("human", "in-app:Instagram")


def _assert_no_contact_data(text: str, world: World) -> None:
    c = world.contact
    for value in (c.first_name, "Secretname", c.last_name, "Priv", c.phone, "5551234567", c.email,
                  "mail", "admin", "Zo%C3%AB"):  # fmt: skip
        assert value not in text, value


def test_fetcher_gets_preview_page_without_contact_data(edge: Edge, world: World):
    r = edge.get(f"/{world.code}/gala2021", ua=IMESSAGE)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "location" not in r.headers
    page = r.text
    assert '<meta property="og:title" content="Gala 2021">' in page
    assert '<meta property="og:description" content="Join us">' in page
    assert '<meta property="og:image" content="https://img.example.org/gala.jpg">' in page
    assert f'<meta property="og:url" content="https://{HOST}/{world.code}/gala2021">' in page
    assert f'<meta property="og:site_name" content="{HOST}">' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    # a visible link to the destination merged with defaults only, for a person taken for a bot
    assert f'href="{DEFAULTS.replace("&", "&amp;")}"' in page
    _assert_no_contact_data(page, world)
    [(event, ref)] = world.clicks()
    assert (event.kind, event.reason) == ("preview", "fetcher:facebookexternalhit")
    assert ref == "10:100:1"


def test_known_bot_gets_preview_recorded_as_bot(edge: Edge, world: World):
    r = edge.get(f"/{world.code}", ua=GOOGLEBOT)
    assert r.status_code == 200 and "og:title" in r.text
    _assert_no_contact_data(r.text, world)
    [(event, _)] = world.clicks()
    assert event.kind == "bot" and event.reason == "crawler:Googlebot"


def test_empty_user_agent_is_a_bot(edge: Edge, world: World):
    r = edge.get(f"/{world.code}", ua="")
    assert r.status_code == 200
    [(event, _)] = world.clicks()
    assert (event.kind, event.reason) == ("bot", "no user agent")


def test_a_user_agent_not_in_visible_ascii_is_still_a_person(edge: Edge, world: World):
    """granian's RSGI gives no header value with a byte outside visible ASCII: such an agent
    (an app's name in UTF-8) is not read as absent, which would make the person a bot."""
    agent = IPHONE.encode() + " KakaoTalk 10.4 (카카오톡)".encode()
    r = edge.client.get(
        edge.base + f"/{world.code}/gala2021",
        headers={"Host": HOST, "User-Agent": agent, "Referer": "https://r.example/é".encode()},
    )
    assert r.status_code == 302 and r.headers["location"] == MERGED
    [(event, _)] = world.clicks()
    assert (event.kind, event.reason) == ("human", "")
    assert event.user_agent == UNREADABLE_AGENT
    assert event.referer == ""  # unreadable too; a referer only informs


def test_preview_page_escapes_everything_and_stays_small(edge: Edge, world: World):
    world.put_link(
        preview_title='"><script>alert(1)</script>',
        preview_description="<b>bold</b> & 'quoted'" + "x" * 2_000_000,
        preview_image_url='https://img.example.org/a.jpg?"onerror=alert(1)',
    )
    r = edge.get(f"/{world.code}", ua="WhatsApp/2.23.20.0 A")
    assert r.status_code == 200
    assert len(r.content) < 1_000_000
    assert "<script>" not in r.text and "<b>" not in r.text
    assert "&quot;&gt;&lt;script&gt;" in r.text
    assert 'content="https://img.example.org/a.jpg?&quot;onerror=alert(1)"' in r.text


def test_preview_without_image_uses_summary_card(edge: Edge, world: World):
    world.put_link(preview_image_url="javascript:alert(1)", preview_title="")
    r = edge.get(f"/{world.code}", ua="TelegramBot (like TwitterBot)")
    assert '<meta name="twitter:card" content="summary">' in r.text
    assert "javascript:" not in r.text and "og:image" not in r.text
    assert f'<meta property="og:title" content="{HOST}">' in r.text


def test_prefetch_gets_preview_recorded_as_prefetch(edge: Edge, world: World):
    for header in ({"sec-purpose": "prefetch;prerender"}, {"purpose": "prefetch"}):
        r = edge.get(f"/{world.code}", **header)
        assert r.status_code == 200 and "og:title" in r.text
        _assert_no_contact_data(r.text, world)
    events = [e for e, _ in world.clicks()]
    assert [(e.kind, e.reason) for e in events] == [("preview", "prefetch")] * 2


def test_head_shapes_like_get_without_body_or_contact_data_and_records_nothing(
    edge: Edge, world: World
):
    person = edge.head(f"/{world.code}/gala2021")
    assert person.status_code == 302
    assert person.headers["location"] == DEFAULTS  # never the merged URL
    assert person.content == b""
    fetcher = edge.head(f"/{world.code}", ua=IMESSAGE)
    get = edge.get(f"/{world.generic}", ua=IMESSAGE)
    assert fetcher.status_code == 200 and fetcher.content == b""
    assert fetcher.headers["content-type"] == get.headers["content-type"]
    assert int(fetcher.headers["content-length"]) > 500
    assert [e.code for e, _ in world.clicks()] == [world.generic]  # only the GET


def test_unknown_code_answers_fallback_or_404(edge: Edge, world: World):
    r = edge.get("/Zzzzzz9")
    assert r.status_code == 404 and "not found" in r.text.lower()
    world.put_domain(fallback_url="https://example.org/home")
    r = edge.get("/Zzzzzz9")
    assert (r.status_code, r.headers["location"]) == (302, "https://example.org/home")
    assert r.headers["cache-control"] == "private, no-store"
    assert world.clicks() == []


def test_code_of_another_domain_is_unknown(edge: Edge, world: World):
    world.store.put_domain(DomainRecord(id=2, org_id=8, hostname="other.example.test", version=1))
    r = edge.get(f"/{world.code}", host="other.example.test")
    assert r.status_code == 404
    assert world.clicks() == []


def test_unknown_or_deleted_host_is_404(edge: Edge, world: World):
    assert edge.get(f"/{world.code}", host="nope.example.test").status_code == 404
    assert edge.get(f"/{world.code}", host="bad host!").status_code == 404
    world.put_domain(deleted=True)
    assert edge.get(f"/{world.code}").status_code == 404
    assert world.clicks() == []


def test_host_header_is_normalised(edge: Edge, world: World):
    for host in ("GO.Example.TEST", "go.example.test:8080", "go.example.test."):
        r = edge.get(f"/{world.code}", host=host)
        assert r.status_code == 302, host
    assert {e.host for e, _ in world.clicks()} == {HOST}


def test_archived_link_answers_fallback_or_410_and_records_nothing(edge: Edge, world: World):
    world.put_link(archived=True)
    r = edge.get(f"/{world.code}")
    assert r.status_code == 410
    assert edge.head(f"/{world.code}").status_code == 410
    world.put_domain(fallback_url="https://example.org/expired")
    r = edge.get(f"/{world.code}", ua=IMESSAGE)
    assert (r.status_code, r.headers["location"]) == (302, "https://example.org/expired")
    assert world.clicks() == []


def test_deleted_contact_merges_defaults(edge: Edge, world: World):
    world.put_contact(deleted=True)
    r = edge.get(f"/{world.code}")
    assert r.headers["location"] == DEFAULTS


def test_new_destination_version_takes_effect(edge: Edge, world: World):
    assert edge.get(f"/{world.code}").headers["location"] == MERGED
    world.put_link(destination="https://example.net/new?n={{first_name}}")
    assert (
        edge.get(f"/{world.code}").headers["location"]
        == "https://example.net/new?n=Zo%C3%AB%20Secretname"
    )


def test_too_long_merged_url_falls_back_to_defaults_and_amends_the_click(edge: Edge, world: World):
    world.put_contact(fields={"source": "é" * 3000, "team": "x"})  # 27,000 bytes encoded
    r = edge.get(f"/{world.code}")
    assert r.status_code == 302
    assert r.headers["location"] == DEFAULTS
    [(event, _)] = world.clicks()
    [amendment] = world.amendments()
    assert amendment.click_id == event.click_id and amendment.merge_fallback


def test_code_outside_the_alphabet_is_404_without_touching_redis(edge: Edge, world: World):
    before = world.rdb.info("commandstats")
    for path in ("/abc-def", "/abcdefghi", "/ab%20cd", "/robots.txt", "/", "/abc_123/x"):
        assert edge.get(path).status_code == 404, path
    after = world.rdb.info("commandstats")
    assert after.get("cmdstat_evalsha") == before.get("cmdstat_evalsha")
    assert after.get("cmdstat_hget") == before.get("cmdstat_hget")


def test_one_redis_command_per_request(edge: Edge, world: World):
    """The edge sends exactly one command (EVALSHA) per request; what the script runs inside
    Redis is flagged "lua" by MONITOR."""
    with world.rdb.monitor() as monitor:
        edge.get(f"/{world.code}")
        world.rdb.echo("end-of-request")
        commands = []
        while True:
            entry = monitor.next_command()
            if "end-of-request" in entry["command"]:
                break
            commands.append(entry)

    def name(c: dict) -> str:
        return c["command"].split()[0].strip('"').upper()

    # our own second connection (for ECHO) says HELLO and CLIENT SETINFO; everything else is the edge
    ours = {"HELLO", "CLIENT", "ECHO"}
    from_edge = [name(c) for c in commands if c["client_type"] != "lua" and name(c) not in ours]
    in_script = [name(c) for c in commands if c["client_type"] == "lua"]
    assert from_edge == ["EVALSHA"]
    assert in_script[-1] == "XADD" and len(in_script) >= 4


def test_script_is_loaded_again_after_script_flush(edge: Edge, world: World):
    world.rdb.script_flush()
    assert edge.get(f"/{world.code}").status_code == 302
    assert len(world.clicks()) == 1


def test_request_target_limit(edge: Edge, world: World):
    path = f"/{world.code}?"
    assert edge.get(path + "q" * (2048 - len(path))).status_code == 302
    assert edge.get(path + "q" * (2049 - len(path))).status_code == 414
    # granian's own header buffer (EDGE_HTTP1.max_buffer_size) refuses a huge header block
    r = edge.get(f"/{world.code}", **{"x-padding": "p" * 20_000})
    assert r.status_code in (400, 413, 431)


def test_client_ip_from_trusted_proxy_forwarded_for(edge: Edge, world: World):
    edge.get(f"/{world.code}", **{"x-forwarded-for": "203.0.113.9"})
    edge.get(f"/{world.code}", **{"x-forwarded-for": "6.6.6.6, 203.0.113.10, 127.0.0.1"})
    edge.get(f"/{world.code}", **{"x-forwarded-for": "not-an-ip"})
    assert [e.ip for e, _ in world.clicks()] == ["203.0.113.9", "203.0.113.10", "127.0.0.1"]


def test_user_agent_and_referer_are_cropped(edge: Edge, world: World):
    edge.get(f"/{world.code}", ua=IPHONE + "x" * 2000, referer="https://r.example/" + "y" * 2000)
    [(event, _)] = world.clicks()
    assert len(event.user_agent) == 512 and event.user_agent.startswith(IPHONE)
    assert len(event.referer) == 512


def test_healthz_and_metrics(edge: Edge, world: World):
    assert edge.client.get(edge.base + "/healthz").status_code == 200
    edge.get(f"/{world.code}")
    edge.get(f"/{world.code}", ua=IMESSAGE)
    edge.get("/Zzzzzz9")
    text = edge.client.get(edge.base + "/metrics").text
    counts = dict(re.findall(r'smartlinks_edge_requests_total\{outcome="(\w+)"\} (\d+)', text))
    assert int(counts["redirect"]) >= 1 and int(counts["preview"]) >= 1
    assert int(counts["not_found"]) >= 1
    assert "# TYPE smartlinks_edge_request_duration_seconds histogram" in text
    inf = re.search(r'duration_seconds_bucket\{le="\+Inf"\} (\d+)', text)
    total = re.search(r"duration_seconds_count (\d+)", text)
    assert inf and total and inf.group(1) == total.group(1)
    assert int(total.group(1)) >= 3


def test_merged_location_keeps_origin(edge: Edge, world: World):
    world.put_contact(first_name="x@evil.example:81/\r\nSet-Cookie: a=b", fields={"team": "//evil"})
    r = edge.get(f"/{world.code}")
    parts = urlsplit(r.headers["location"])
    assert (parts.scheme, parts.hostname, parts.port) == ("https", "example.org", None)
    assert "set-cookie" not in r.headers
    assert parse_qs(parts.query)["first"] == ["x@evil.example:81/\r\nSet-Cookie: a=b"]
    assert keys.CLICK_STREAM  # the click still went to the stream
    assert len(world.clicks()) == 1


def test_slow_headers_are_cut_off(edge: Edge):
    """granian's header read timeout (smartlinks/serve.py EDGE_HTTP1, 5 s): a client that never
    finishes its headers is disconnected, it cannot hold a connection open."""
    host, port = edge.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(10)
        sock.sendall(b"GET /Ab3dEf7 HTTP/1.1\r\nHost: go.example.test\r\n")  # never finished
        started = time.monotonic()
        data = sock.recv(1000)
        elapsed = time.monotonic() - started
    assert 4 < elapsed < 8
    assert data == b"" or data.startswith(b"HTTP/1.1 408")
