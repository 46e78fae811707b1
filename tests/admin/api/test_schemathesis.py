"""Schemathesis against the admin's own OpenAPI document (issue 15): every operation, with
generated valid and invalid inputs, on a real admin process with a token of an organisation
that has one of everything. No answer is a 5xx, and every answer matches the document.

Examples per operation are bounded so that the whole run stays around a minute on CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from admin import create_app
from admin.extensions import db
from admin.services.orgs import create_org
from tests.conftest import Api, Servers, _app_config, _reset
from tests.helpers.routes import seed_theirs
from tests.servers import http_role

EXAMPLES_PER_OPERATION = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Site:
    base: str
    token: str
    ids: dict[str, int]  # of the organisation's things, by the path parameter naming them


@pytest.fixture(scope="module")
def site(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    _reset(servers)
    app = create_app(_app_config(servers))
    with app.app_context():
        org = create_org("Schema Campaign", "owner@schema.test", "correct horse battery")
        ids = seed_theirs(Api(app.test_client(), org.api_token))
        db.engine.dispose()
    logs: Path = tmp_path_factory.mktemp("schemathesis")
    # No rate limit here: thousands of generated requests from one token are the point.
    env = servers.env(API_REQUESTS_PER_MINUTE="0")
    with http_role("admin", env, logs, "ADMIN_PORT") as (_admin, base):
        yield Site(base, org.api_token, ids)


def _operations(site: Site) -> Iterator[Any]:
    schema = schemathesis.openapi.from_url(f"{site.base}/api/v1/openapi.json")
    for result in schema.get_all_operations():
        yield result.ok()  # a part of the document schemathesis cannot read fails here


def test_the_api_keeps_its_document(site: Site) -> None:
    """Every operation with valid and with invalid inputs. (One test looping over the
    operations: schemathesis's lazy pytest parametrisation does not run on pytest 9.) The
    failures of every operation are collected, so one run shows them all."""
    headers = {"Authorization": f"Bearer {site.token}"}
    failures: list[str] = []
    for operation in _operations(site):
        # Valid inputs on things that exist (else most would stop at a 404); invalid ones
        # with any ids.
        names = re.findall(r"{(\w+)}", operation.path)
        known = {name: site.ids[name] for name in names if name in site.ids}
        for mode, path_parameters in (
            (GenerationMode.POSITIVE, known),
            (GenerationMode.NEGATIVE, None),
        ):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,  # the same examples every run: a failure reproduces
                phases=[Phase.explicit, Phase.generate],  # no shrinking: report, move on
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

            try:
                check()
            except Exception as exc:  # every failure of every operation, reported together
                failures.append(f"{operation.label} ({mode}): {exc}"[:3000])
    assert not failures, "\n\n".join(failures)


def test_trace_answers_405_with_allow(site: Site) -> None:
    answer = httpx.request("TRACE", f"{site.base}/api/v1/links")
    assert answer.status_code == 405
    assert "GET" in answer.headers["Allow"]


def test_an_id_over_the_bigint_range_is_not_found(site: Site) -> None:
    headers = {"Authorization": f"Bearer {site.token}"}
    for path in ("/api/v1/links/9223372036854775808", "/api/v1/contacts/99999999999999999999"):
        assert httpx.get(site.base + path, headers=headers).status_code == 404, path
