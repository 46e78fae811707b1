"""The bench's traffic mix for a running Smart Links, with the admin's metrics page polling.

Two kinds of users:

- ``ShortLinkVisitor`` (the edge): 90% phone browsers (302 to the merged destination), 8%
  link-preview fetchers (200 preview page), 2% unknown codes (404, or 302 when the domain has
  a fallback URL), each request on a distinct code. Redirects are not followed: the edge's
  answer is what is measured. Each user sends LOADTEST_RATE requests per second (default 1, a
  fixed schedule: total load = users x rate), so the percentiles are taken at a known load.
- ``MetricsPoller`` (the admin's JSON API): what the link's metrics page does, every 0.5 s
  the counters, and the minute series and the device/OS breakdown whenever a counter moved.

Requests are named by kind (``edge phone``, ``edge preview``, ``edge unknown``, ``admin
counters``, ``admin series``, ``admin breakdown``), so Locust's table is latency per kind.
``python -m loadtest.seed --contacts N`` writes what this file reads (loadtest/results/
seed.json: edge and admin URLs, host, link, API token, codes file); against a local
`smartlinks up`, a minute:

    locust -f loadtest/locustfile.py --headless -u 63 -r 21 -t 1m --only-summary

``--host`` is the edge's URL (default: the seed file's); ``--admin-url`` the admin's. For a
deployment from many machines, see loadtest/README.md.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant_throughput, events, task

from loadtest.traffic import HUMAN, PREVIEW, Request, Target, build_requests, read_targets

SEED_FILE = Path(__file__).with_name("results") / "seed.json"
NAMES = {HUMAN: "edge phone", PREVIEW: "edge preview"}
POLL_SECONDS = 0.5  # the metrics page's period (admin/web/static/link-metrics.js)

_requests: list[Request] = []
_seeded: dict[str, Any] = {}


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument(
        "--seed-file",
        default=os.environ.get("LOADTEST_SEED", str(SEED_FILE)),
        help="written by `python -m loadtest.seed --contacts N`",
    )
    parser.add_argument(
        "--codes-file",
        default=os.environ.get("LOADTEST_CODES", ""),
        help="host/code/extension lines (default: the seed file's)",
    )
    parser.add_argument("--admin-url", default="", help="the admin (default: the seed file's)")
    parser.add_argument(
        "--requests-per-process",
        type=int,
        default=100_000,
        help="distinct requests each locust process walks",
    )


@events.init.add_listener
def _load(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or _requests:
        return
    seed_path = Path(options.seed_file)
    if seed_path.exists():
        _seeded.update(json.loads(seed_path.read_text()))
    if options.admin_url:
        _seeded["admin_url"] = options.admin_url
    codes_file = options.codes_file or _seeded.get("codes_file", "")
    if not codes_file:
        raise SystemExit(f"no {seed_path}: run `python -m loadtest.seed --contacts 10000` first")
    targets: list[Target] = read_targets(Path(codes_file))
    if not targets:
        raise SystemExit(f"no codes in {codes_file}")
    _seeded["host"] = targets[0].host
    if not environment.host:  # --host wins; else the edge the seed found
        environment.host = _seeded.get("edge_url")
    # Another shuffle in each worker process, so that workers do not walk the same codes.
    seed = random.SystemRandom().randrange(1 << 30)
    _requests.extend(build_requests(targets, options.requests_per_process, seed=seed))


def expected_statuses(kind: str) -> tuple[int, ...]:
    if kind == HUMAN:
        return (302,)
    if kind == PREVIEW:
        return (200,)
    return (404, 302)  # an unknown code: 404, or the domain's fallback URL


class ShortLinkVisitor(FastHttpUser):
    weight = 20
    wait_time = constant_throughput(float(os.environ.get("LOADTEST_RATE", "1")))

    def on_start(self) -> None:
        self.position = random.randrange(len(_requests)) if _requests else 0

    @task
    def visit(self) -> None:
        r = _requests[self.position % len(_requests)]
        self.position += 1
        headers = {"Host": _seeded["host"], "User-Agent": r.user_agent, "Accept": "*/*"}
        with self.client.get(
            r.path,
            headers=headers,
            name=NAMES.get(r.kind, f"edge {r.kind}"),
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code in expected_statuses(r.kind):
                response.success()
            else:
                response.failure(f"{r.kind}: status {response.status_code}")


class MetricsPoller(FastHttpUser):
    """One person with the link's metrics page open."""

    weight = 1
    wait_time = constant_throughput(1 / POLL_SECONDS)

    def on_start(self) -> None:
        if not _seeded.get("admin_url") or not _seeded.get("api_token"):
            raise SystemExit("the metrics poller needs the seed file's admin URL and API token")
        self.base = f"{_seeded['admin_url']}/api/v1/links/{_seeded['link_id']}"
        self.headers = {"Authorization": f"Bearer {_seeded['api_token']}"}
        self.shown: Any = None

    def get(self, path: str, name: str) -> Any:
        with self.client.get(
            self.base + path, headers=self.headers, name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{name}: status {response.status_code}")
                return None
            return response.json()

    @task
    def poll(self) -> None:
        counters = self.get("/metrics", "admin counters")
        if counters is None or counters == self.shown:
            return
        self.shown = counters  # a counter moved: the page redraws its chart and bars
        self.get("/series?bucket=minute", "admin series")
        self.get("/breakdown", "admin breakdown")
