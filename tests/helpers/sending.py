"""Fixtures and helpers of the sending tests (broadcasts, library, pages, and the sender): a domain
and a link through the API, contacts with tags and lists, and a real local HTTP server that plays
Twilio's Messages API and records requests. The conftest.py of each sending test folder imports
the fixtures from here, so they have one home."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import text

from admin.extensions import db
from sync import outbound

GALA = {
    "name": "Gala RSVP",
    "destination": "https://example.org/rsvp?first={{first_name}}",
    "domain": "go.example.test",
    "extension": "gala2021",
}


@pytest.fixture
def link(api: Any) -> dict[str, Any]:
    assert api.post("/api/v1/domains", {"hostname": "go.example.test"}).status_code == 201
    resp = api.post("/api/v1/links", GALA)
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


@pytest.fixture
def make_contact(api: Any) -> Callable[..., dict[str, Any]]:
    counter = iter(range(1000, 9999))

    def make(first_name: str = "", **extra: Any) -> dict[str, Any]:
        data = {"phone": f"+1555010{next(counter)}", "first_name": first_name, **extra}
        resp = api.post("/api/v1/contacts", data)
        assert resp.status_code == 201, resp.get_json()
        return dict(resp.get_json())

    return make


# For a tag and for a list: create it by name, then put the contact in it.
_PUT_IN = {
    "tag": (
        "INSERT INTO tags (org_id, name) VALUES (:o, :n) ON CONFLICT DO NOTHING",
        "INSERT INTO contact_tags (contact_id, tag_id) "
        "SELECT :c, id FROM tags WHERE org_id = :o AND name = :n",
    ),
    "list": (
        "INSERT INTO contact_lists (org_id, name) VALUES (:o, :n) ON CONFLICT DO NOTHING",
        "INSERT INTO list_members (list_id, contact_id) "
        "SELECT id, :c FROM contact_lists WHERE org_id = :o AND name = :n",
    ),
}


def put_in(
    org_id: int, contact_id: int, *, tag: str | None = None, list_: str | None = None
) -> None:
    """Tag a contact or add it to a list (by name, created when missing) with plain SQL."""
    for name, (create, put) in ((tag, _PUT_IN["tag"]), (list_, _PUT_IN["list"])):
        if name:
            db.session.execute(text(create), {"o": org_id, "n": name})
            db.session.execute(text(put), {"c": contact_id, "o": org_id, "n": name})
    db.session.commit()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    at: float


@dataclass
class FakeTwilio:
    """A real HTTP server on 127.0.0.1. ``responses`` are served in order (then 201s).
    Each message it accepts is kept, and ``GET .../Messages.json?To=`` lists those to a number
    newest first, as Twilio does (the sender's reconciliation after a crash asks it)."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    responses: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by To
    lookups: int = 0

    def auth_of(self, request: Recorded) -> tuple[str, str]:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        assert scheme == "Basic"
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user, password

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)


@pytest.fixture
def fake_twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    # The operator lets organisations aim their provider elsewhere: the fake one is local.
    monkeypatch.setenv("SMS_PROVIDER_BASE_URLS", "*")
    state = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Twilio's API
        disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            query = dict(parse_qsl(urlsplit(self.path).query))
            with state.lock:
                state.lookups += 1
                found = list(reversed(state.accepted.get(query.get("To", ""), [])))
            self._answer(200, {"messages": found[: int(query.get("PageSize", 50))]}, {})

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if len(raw) < length:  # the client was killed mid-request: a provider drops it
                self.close_connection = True
                return
            form = dict(parse_qsl(raw.decode()))
            with state.lock:
                state.requests.append(
                    Recorded("POST", self.path, dict(self.headers), form, time.monotonic())
                )
                number = len(state.requests)
                status, body, headers = (
                    state.responses.pop(0)
                    if state.responses
                    else (201, {"sid": f"SM{number:032d}", "status": "queued"}, {})
                )
                if status == 201:
                    kept = {
                        **body, "to": form.get("To"), "from": form.get("From"),
                        "messaging_service_sid": form.get("MessagingServiceSid"),
                        "body": form.get("Body"), "date_created": formatdate(usegmt=True),
                    }  # fmt: skip
                    state.accepted.setdefault(form.get("To", ""), []).append(kept)
            self._answer(status, body, headers)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    # The sender's guarded client, allowed to reach the local fake provider.
    with outbound.client(outbound.Policy(allow=outbound.LOOPBACK, read_timeout=5.0)) as client:
        yield client


@pytest.fixture
def web(client: Any, org: Any) -> Any:
    """The web UI through the test client, logged in as the owner of ``org`` (CSRF on),
    through the login form (as the sending pages' users do)."""
    from tests.helpers.web import Web

    w = Web(client)
    assert w.login().status_code == 302
    return w
