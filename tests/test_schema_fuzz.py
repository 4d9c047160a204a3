"""schemathesis against the live API's own OpenAPI document, over real HTTP, as three users.

Every operation of ``/openapi.json`` gets generated requests — valid ones and (negative mode)
invalid ones: wrong types, missing fields, out-of-range numbers, odd strings — sent to the
``live_server`` with the bearer token of an officer (姑苏区), an enterprise contact or the
province's admin (drawn with each request). Each answer is checked:

- ``not_a_server_error``: never a 5xx;
- ``status_code_conformance``: the status is one the schema declares — the error answers
  (401/403/404/409/413/422/429/503) are declared on every route by ``api/openapi_errors.py``;
- ``response_schema_conformance`` and ``content_type_conformance``: the body has the declared
  shape (errors: ``ErrorBody`` — ``error`` and a Chinese ``message``) and media type;
- ``negative_data_rejection``: an invalid request is refused with a 4xx, not accepted.

Bounded: ``MAX_EXAMPLES`` generated requests per operation and mode (fuzzing, with the schema's
examples), no shrinking, no example database, no deadline (timing is not asserted). Runs on both
databases. The world has cases in several states, so small ids name real resources.
"""
from __future__ import annotations

import os
from datetime import timedelta

import httpx
import hypothesis
import hypothesis.errors
import pytest
from hypothesis import strategies as st
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from cases.platform.security import issue_token
from tests.conftest import complete_project
from tests.machine_paths import HttpDriver

# Generated requests per operation and mode (valid / invalid), each as a random user; raise it for a
# deeper run: ANJIAN_FUZZ_EXAMPLES=100 (≈ 9,000 requests).
MAX_EXAMPLES = int(os.environ.get("ANJIAN_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance,
          negative_data_rejection]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)

pytestmark = pytest.mark.slow


@pytest.fixture
def fuzz_world(live_server, world, clock, api, db):
    """A world worth requesting: cases of every kind in a few states (small ids name real resources)."""
    complete_project(db, world, clock)
    driver = HttpDriver(api, world, clock)
    for kind, state in (("hazard", "rectifying"), ("hazard", "found"), ("major_hazard", "registered"),
                        ("accident", "registered"), ("dangerous_building", "registered")):
        driver.drive(kind, state)
    return world


def load_schema(base_url: str):
    """The served /openapi.json; an explicit config (no schemathesis.toml discovered from the cwd)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=schemathesis.Config(), timeout=30)
    schema.config.update(base_url=base_url)
    return schema


def fuzz(schema, tokens: dict[str, dict[str, str]]) -> tuple[dict[str, int], list[str]]:
    """Every operation × mode: ``MAX_EXAMPLES`` generated requests, each sent as one of the users
    (drawn with the request), each answer checked. Returns the requests sent per user and one line
    per failing operation (the checks' own message, first lines).

    (A loop over the operations rather than schemathesis' pytest plugin: its ``parametrize`` on a
    fixture renames pytest's node through a private attribute that pytest 9 no longer has.)"""
    sent: dict[str, int] = {who: 0 for who in tokens}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:
            @hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                                 phases=[hypothesis.Phase.generate], suppress_health_check=list(hypothesis.HealthCheck))
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode), who=st.sampled_from(sorted(tokens)))
            def one(case, who):
                sent[who] += 1
                case.call_and_validate(headers=tokens[who], checks=CHECKS, timeout=60)

            try:
                one()
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing in this operation can be made invalid (no parameters, or free text only)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every failing operation
                text = "\n    ".join(str(exc).strip().splitlines()[:14])
                failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {text}")
    return sent, failures


def test_every_operation_answers_as_its_schema_declares(live_server, fuzz_world, clock):
    schema = load_schema(live_server.url)
    tokens = {who: {"Authorization": "Bearer " + issue_token(getattr(fuzz_world, who).id, live_server.signing_key,
                                                              clock.now(), timedelta(days=30))}
              for who in ("officer", "contact", "admin")}
    sent, failures = fuzz(schema, tokens)
    operations = len(list(schema.get_all_operations()))
    print(f"schemathesis: {sum(sent.values())} requests over {operations} operations ({sent})")
    assert operations > 40 and all(n > 50 for n in sent.values()), sent
    assert not failures, f"{len(failures)} operations failed:\n" + "\n".join(failures)


def test_the_schema_declares_the_error_answers(live_server):
    """What the fuzzing checks against: the error answers declared with their shape and a Chinese
    description, FastAPI's default ``{"detail": …}`` validation shape gone."""
    doc = httpx.get(f"{live_server.url}/openapi.json").json()
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["error", "message"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    act = doc["paths"]["/api/cases/{case_id}/actions/{action}"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "422", "503"} <= set(act)
    assert act["409"]["content"]["application/json"]["schema"] == ref
    assert act["422"]["content"]["application/json"]["schema"] == ref
    assert "冲突" in act["409"]["description"]
    login = doc["paths"]["/api/auth/token"]["post"]["responses"]
    assert {"401", "429"} <= set(login) and "403" not in login and "404" not in login
    assert "Retry-After" in login["429"]["headers"]
    listing = doc["paths"]["/api/cases"]["get"]["responses"]
    assert {"401", "403", "422", "503"} <= set(listing) and "409" not in listing
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if op.get("security"):
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_an_undecodable_body_is_a_400_with_a_chinese_message(live_server, api, world):
    """Found by the fuzzing: bytes that are not UTF-8 got FastAPI's English "There was an error
    parsing the body"."""
    r = api(world.officer).post("/api/cases", content=b"{\"title\": \"\x80\x81\"}", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": "http_400", "message": "请求体无法解析：应为UTF-8编码的JSON或表单"}
