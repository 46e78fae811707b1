"""The long-running roles: each is one process, `smartlinks <name>`, and `smartlinks up` runs
every one of them as a child. One table, read by the command line (a subcommand per role) and
by the supervisor (what to start, and which roles serve HTTP)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from core import config


@dataclass(frozen=True)
class Role:
    name: str
    help: str
    run: Callable[[argparse.Namespace, config.Settings], int]  # settings read once, by main
    burst: str = ""  # the help of its --burst option; "" when it has none
    http: bool = False  # serves HTTP: `up` starts it while the migrations run


# The roles' modules are imported when a role starts: `smartlinks edge` imports no admin.


def _edge(args: argparse.Namespace, settings: config.Settings) -> int:
    from smartlinks.serve import serve_edge

    serve_edge(settings)
    return 0


def _admin(args: argparse.Namespace, settings: config.Settings) -> int:
    from smartlinks.serve import serve_admin

    serve_admin(settings)
    return 0


def _sync(args: argparse.Namespace, settings: config.Settings) -> int:
    from sync.publish import publisher

    return publisher.main(settings, full=args.full, burst=args.burst)


def _drain(args: argparse.Namespace, settings: config.Settings) -> int:
    from sync.clicks import drain

    return drain.main(settings, burst=args.burst)


def _webhooks(args: argparse.Namespace, settings: config.Settings) -> int:
    from sync.webhooks import delivery

    return delivery.main(settings, burst=args.burst)


def _sender(args: argparse.Namespace, settings: config.Settings) -> int:
    from admin.sender import worker

    return worker.main(settings, burst=args.burst)


ROLES: tuple[Role, ...] = (
    Role("edge", "serve redirects and previews (reads Redis only)", _edge, http=True),
    Role("admin", "serve the web UI and the JSON API", _admin, http=True),
    Role(
        "sync",
        "publish Postgres changes to Redis",
        _sync,
        burst="process what is pending and exit",
    ),
    Role(
        "drain",
        "record clicks from the click stream and run their actions",
        _drain,
        burst="drain what is in the stream and exit",
    ),
    Role(
        "webhooks",
        "deliver click webhooks (signed POSTs, with retries)",
        _webhooks,
        burst="deliver what is due and exit",
    ),
    Role(
        "sender",
        "send queued messages through each organisation's provider",
        _sender,
        burst="send what is queued and exit",
    ),
)
