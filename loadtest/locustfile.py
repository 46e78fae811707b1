"""The bench's traffic mix for a real deployment, from as many locust workers as it takes.

90% phone browsers (302 to the merged destination), 8% link-preview fetchers (200 preview
page), 2% unknown codes (404, or 302 when the domain has a fallback URL), each request on a
distinct code from a codes file written by ``python -m loadtest.seed --export codes.txt``.
Redirects are not followed: the edge's answer is what is measured.

    locust -f loadtest/locustfile.py --headless --host https://go.example.org \\
        --codes-file codes.txt -u 500 -r 50 -t 5m --csv results/edge

Each user sends LOADTEST_RATE requests per second (default 1, a fixed schedule: total load =
users x rate), so the latency percentiles are taken at a known offered load. See
loadtest/README.md for distributed runs.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant_throughput, events, task

from loadtest.traffic import HUMAN, PREVIEW, Request, Target, build_requests, read_targets

_requests: list[Request] = []
_host_header = ""


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument(
        "--codes-file",
        default=os.environ.get("LOADTEST_CODES", "codes.txt"),
        help="host/code/extension lines from `python -m loadtest.seed --export`",
    )
    parser.add_argument(
        "--requests-per-process",
        type=int,
        default=100_000,
        help="distinct requests each locust process walks",
    )


@events.init.add_listener
def _load_codes(environment: Any, **_: Any) -> None:
    global _host_header
    options = environment.parsed_options
    if options is None or _requests:
        return
    targets: list[Target] = read_targets(Path(options.codes_file))
    if not targets:
        raise SystemExit(f"no codes in {options.codes_file}")
    _host_header = targets[0].host
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
    wait_time = constant_throughput(float(os.environ.get("LOADTEST_RATE", "1")))

    def on_start(self) -> None:
        self.position = random.randrange(len(_requests)) if _requests else 0

    @task
    def visit(self) -> None:
        r = _requests[self.position % len(_requests)]
        self.position += 1
        headers = {"Host": _host_header, "User-Agent": r.user_agent, "Accept": "*/*"}
        with self.client.get(
            r.path,
            headers=headers,
            name=f"/[code] {r.kind}",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code in expected_statuses(r.kind):
                response.success()
            else:
                response.failure(f"{r.kind}: status {response.status_code}")
