"""The HTTP API against its own OpenAPI description, on a live ``darekana serve``: schemathesis sends what
the description allows (and worse), and no answer may be a 500, leave the description, or hang."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from processes import free_port, start_server
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

TOKEN = "openapi-moderator"


@pytest.fixture(scope="module")
def live(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("openapi")
    port, log = free_port(), folder / "serve.log"
    unlimited = "100000/1"
    server = start_server(
        trained_bundle,
        f"sqlite:///{folder / 'db.sqlite3'}",
        port,
        log,
        cwd=folder,
        moderator_token=TOKEN,
        feedback_rate=unlimited,
        feedback_channel_rate=unlimited,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]  # no request raised inside


@pytest.fixture(scope="module")
def api(live: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live}/api/v1/openapi.json")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_answer_keeps_to_the_description(api: schemathesis.BaseSchema, live: str):
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 13
    for operation in operations:  # hypothesis drives schemathesis's cases for each route in turn

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers(case: schemathesis.Case) -> None:
            moderator = case.path.startswith("/api/v1/corrections")
            headers = {"Authorization": f"Bearer {TOKEN}"} if moderator else None
            case.call_and_validate(base_url=live, headers=headers, checks=CHECKS, timeout=20)

        answers()


def test_the_description_is_served_and_lists_every_route(live: str):
    served = requests.get(f"{live}/api/v1/openapi.json", timeout=10).json()
    assert served["openapi"].startswith("3.") and {
        "/api/v1/whois",
        "/api/v1/faces/{id}/corrections",
        "/api/v1/corrections/export",
    } <= set(served["paths"])
