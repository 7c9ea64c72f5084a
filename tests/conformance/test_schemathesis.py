"""schemathesis over the app's own OpenAPI schema, against a real served app, signed in as
a user and as an administrator: every operation, positive and negative examples, with the
checks not_a_server_error, status_code_conformance, content_type_conformance and
response_schema_conformance. Each generated request is also sent again with the ids of a
meeting, a guest session and a flag that exist, so that successes are checked too.

A short run by default: on PostgreSQL, a few examples per operation, derandomized (the same
examples every run). `scripts/conformance.sh` runs the long one: more examples, a seed of
its choice, SQLite too (CONFORMANCE_MAX_EXAMPLES, CONFORMANCE_SEED, CONFORMANCE_BACKENDS).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from conformance_helpers import Caller, ThreadedServer, sign_in
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gomeet.app import create_app
from gomeet.migrate import upgrade
from support.apps import app_settings
from support.servers import reset_database

MAX_EXAMPLES = int(os.environ.get("CONFORMANCE_MAX_EXAMPLES", "4"))
SEED = os.environ.get("CONFORMANCE_SEED")  # unset: derandomized (the same examples each run)
BACKENDS = os.environ.get("CONFORMANCE_BACKENDS", "postgresql").split(",")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", params=BACKENDS)
def conformance_database(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    upgrade(url)  # idempotent: the suite may have migrated it already
    return url


@pytest.fixture(scope="module")
def served(
    conformance_database: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedServer]:
    database_url = conformance_database
    asyncio.run(reset_database(database_url))
    settings = app_settings(database_url, redis_url, tmp_path_factory.mktemp("var"))
    with ThreadedServer(create_app(settings)) as server:
        yield server


@pytest.fixture
def callers(served: ThreadedServer, conformance_database: str, redis_url: str) -> list[Caller]:
    """A fresh user and administrator per operation: a logout or a deletion in one
    operation's examples spoils no other operation's."""
    return [
        sign_in(served.url, conformance_database, redis_url, role) for role in ("user", "admin")
    ]


# The schema the app serves at /openapi.json, built from an app that is never started (the
# served app builds the very same one): one test per operation.
schema = schemathesis.openapi.from_dict(  # the servers' own schema: nothing is started here
    create_app(app_settings("sqlite+aiosqlite://", "redis://unused", Path("var"))).openapi()
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=SEED is None,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(
    case: Case, served: ThreadedServer, callers: list[Caller]
) -> None:
    generated = dict(case.path_parameters or {})
    for caller in callers:
        case.path_parameters = generated
        case.call_and_validate(base_url=served.url, headers=caller.headers, checks=CHECKS)
        existing = caller.existing(generated)
        if existing != generated:
            case.path_parameters = existing
            case.call_and_validate(base_url=served.url, headers=caller.headers, checks=CHECKS)
