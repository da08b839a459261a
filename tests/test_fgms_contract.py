"""The FGMS HTTP contract, in process over real shards (`LocalShards`, no Ray): every bad input gets a
compact 4xx, nothing is stored, and schemathesis finds no response that breaks the OpenAPI document."""

import json

import pytest
import schemathesis
from fastapi.testclient import TestClient

from glyph_dist.fgms.api import EXCERPT_CHARS, MAX_ERRORS, ErrorResponse, create_app
from glyph_dist.fgms.routing import LocalShards
from glyph_dist.fgms.schema import MAX_BATCH, MAX_TEXT_CHARS, MAX_WEIGHT

FUZZ_SEED = 1337
FUZZ_EXAMPLES = 40  # generated examples per operation in the fuzzing phase


@pytest.fixture(scope="module")
def local_app(hybrid, tmp_path_factory):
    shards = LocalShards(hybrid, tmp_path_factory.mktemp("fgms-contract"), shards=2)
    yield create_app(shards)
    shards.close()


@pytest.fixture(scope="module")
def client(local_app):
    return TestClient(local_app)


def _post(client, endpoint: str, body: dict | bytes):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"/memory/{endpoint}", content=raw, headers={"content-type": "application/json"})


RECORD = {"actor_id": "c", "record_id": "r", "text": "A valid memory."}
READ = {"actor_id": "c", "token_budget": 64}


def _lone_surrogate(body: dict, key: str) -> bytes:
    """The body with a lone surrogate escape as the value of `key`, as a JSON text can carry one."""
    return json.dumps(body | {key: "@"}).encode().replace(b'"@"', b'"\\ud800"')


BAD_INPUT = [  # endpoint, body, status, a field the error must name (None: no field, e.g. malformed JSON)
    ("write", _lone_surrogate(RECORD, "text"), 400, None),
    ("write", _lone_surrogate(RECORD, "record_id"), 400, None),
    ("write", _lone_surrogate(RECORD, "role"), 400, None),
    ("read", _lone_surrogate(READ, "query"), 400, None),
    ("read", b'{"actor_id": "c", "token_budget": 9, "weights": {"relevance": NaN}}', 400, None),
    ("read", b'{"actor_id": "c", "token_budget": 9, "weights": {"recency": Infinity}}', 400, None),
    ("read", b'{"actor_id": "c", "token_budget": 9, "weights": {"recency": 1e400}}', 400, None),
    ("write", b'{"actor_id": "c", "record_id": "r", "text": "caf\xe9"}', 400, None),
    ("write", b'{"actor_id": "c", "record_id": ', 400, None),
    ("read", READ | {"weights": {"relevance": 1e39}}, 422, "relevance"),
    ("read", READ | {"weights": {"latest": MAX_WEIGHT * 2}}, 422, "latest"),
    ("read", READ | {"weights": {"foveal": -1}}, 422, "foveal"),
    ("read", READ | {"policy": "foveated", "weights": {"earliest": 0, "foveal": 0.0, "latest": 0}}, 422, "weights"),
    ("read", READ | {"token_budget": True}, 422, "token_budget"),
    ("read", READ | {"token_budget": 64.5}, 422, "token_budget"),
    ("read", READ | {"token_budget": "64"}, 422, "token_budget"),
    ("read", READ | {"weights": {"verbatim_share": False}}, 422, "verbatim_share"),
    ("read", READ | {"filters": {"since": 1700000000}}, 422, "since"),
    ("write", RECORD | {"created_at": 1700000000}, 422, "created_at"),
    ("write", RECORD | {"created_at": "1700000000"}, 422, "created_at"),
    ("write", RECORD | {"created_at": "2024-05-01T12:00:00"}, 422, "created_at"),  # no offset
    ("write", RECORD | {"created_at": "2024-05-01 12:00:00Z"}, 422, "created_at"),  # not RFC 3339
    ("write", RECORD | {"text": ""}, 422, "text"),
    ("write", RECORD | {"text": "   "}, 422, "text"),
    ("write", RECORD | {"text": "\u2003\x1c\n"}, 422, "text"),
    ("write", RECORD | {"record_id": "a\u0000b"}, 422, "record_id"),
    ("write", RECORD | {"record_id": "line\nbreak"}, 422, "record_id"),
    ("write", RECORD | {"record_id": "c1\u0085"}, 422, "record_id"),
    ("write", RECORD | {"tags": ["ok", "tab\there"]}, 422, "tags"),
    ("write", RECORD | {"turn": 2**31}, 422, "turn"),
    ("write", RECORD | {"turn": True}, 422, "turn"),
    ("write", RECORD | {"colour": "red"}, 422, "colour"),
    ("write", {"records": []}, 422, "records"),
    ("write", {"records": [RECORD | {"text": "x" * (MAX_TEXT_CHARS + 1)}]}, 422, "text"),
    ("read", READ | {"mode": "zip"}, 422, "mode"),
    ("read", READ | {"token_budget": 0}, 422, "token_budget"),
]


@pytest.mark.parametrize("endpoint, body, status, field", BAD_INPUT,
                         ids=[f"{k}-{endpoint}-{field or 'not-json'}" for k, (endpoint, _, _, field) in enumerate(BAD_INPUT)])
def test_bad_input_gets_a_compact_4xx_and_changes_nothing(client, endpoint, body, status, field):
    before = client.get("/memory/stats").json()
    response = _post(client, endpoint, body)
    assert response.status_code == status, response.text
    error = ErrorResponse.model_validate_json(response.content)
    assert error.errors and len(response.content) < 2_000
    if field:
        assert any(field in error.loc for error in error.errors), error
        assert field in error.detail
    else:
        assert error.detail.startswith("malformed JSON") and error.errors[0].type == "json_invalid"
    assert client.get("/memory/stats").json() == before
    assert client.get("/memory/health").json()["status"] == "ok"


def test_a_huge_invalid_body_gets_a_small_error(client):
    """30 MB of records that are all too long: the error names the first few, with short excerpts."""
    too_long = {"records": [RECORD | {"record_id": f"r{k}", "text": "y" * (4 * MAX_TEXT_CHARS - 1000)}
                            for k in range(MAX_BATCH)]}
    body = json.dumps(too_long).encode()
    assert len(body) > 30_000_000
    response = _post(client, "write", body)
    assert response.status_code == 422 and len(response.content) < 10_000
    error = ErrorResponse.model_validate_json(response.content)
    assert len(error.errors) == MAX_ERRORS and f"and {MAX_BATCH - 1} more" in error.detail
    assert all(len(e.excerpt) == EXCERPT_CHARS and e.excerpt.endswith("y…") for e in error.errors)


def test_malformed_json_and_oversized_bodies_use_the_error_model(client):
    from glyph_dist.fgms.api import MAX_BODY_BYTES

    for response, status in ((_post(client, "read", b"[1, 2"), 400), (_post(client, "write", b"x" * (MAX_BODY_BYTES + 1)), 413),
                             (client.get("/memory/nowhere"), 404), (client.delete("/memory/write"), 405)):
        assert response.status_code == status
        assert ErrorResponse.model_validate_json(response.content).detail


@pytest.mark.parametrize("created_at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_extreme_offsets_are_written_and_read_back_as_written(client, created_at):
    actor = f"edge{created_at[:4]}"
    written = _post(client, "write", {"actor_id": actor, "record_id": "e", "text": "At the edge.", "created_at": created_at})
    assert written.status_code == 200 and written.json()["written"] == 1
    after = _post(client, "write", {"actor_id": actor, "record_id": "f", "text": "And after it."})
    assert after.status_code == 200 and after.json()["written"] == 1
    read = _post(client, "read", {"actor_id": actor, "token_budget": 200, "mode": "text"}).json()
    assert [i["created_at"] for i in read["items"] if i["record_id"] == "e"] == [created_at]
    assert client.get("/memory/health").json()["status"] == "ok"


def test_a_fault_in_a_shard_gives_a_compact_500_and_stores_nothing(local_app, monkeypatch):
    from glyph_dist.fgms.memory import ActorSpans

    def broken(self, entry):
        raise RuntimeError("index step failed at /some/path")

    monkeypatch.setattr(ActorSpans, "append", broken)
    client = TestClient(local_app, raise_server_exceptions=False)
    before = client.get("/memory/stats").json()
    response = _post(client, "write", {"actor_id": "fault", "record_id": "1", "text": "Lost?"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error (RuntimeError); see the service log", "errors": []}
    assert client.get("/memory/stats").json()["records"] == before["records"]
    health = client.get("/memory/health").json()
    assert health["status"] == "degraded" and "index step failed" in health["degraded"][0]["last_write_error"]
    monkeypatch.undo()
    assert _post(client, "write", {"actor_id": "fault", "record_id": "1", "text": "Kept."}).json()["written"] == 1
    assert client.get("/memory/health").json()["status"] == "ok"


def test_the_error_model_is_in_the_openapi_document(client):
    document = client.get("/openapi.json").json()
    expected = {"/memory/write": {"400", "413", "422", "500", "503"}, "/memory/read": {"400", "413", "422", "500", "503"},
                "/memory/health": {"500", "503"}, "/memory/stats": {"500", "503"}}
    for path, codes in expected.items():
        (operation,) = document["paths"][path].values()
        assert codes <= operation["responses"].keys()
        for code in codes:
            schema = operation["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def fuzz_config(examples: int):
    """schemathesis with a fixed seed and every check (server errors, status codes, content types,
    response schemas and headers, invalid data rejected, valid data accepted, ...)."""
    from schemathesis.config import SchemathesisConfig

    return SchemathesisConfig.from_dict({"seed": FUZZ_SEED, "generation": {"max-examples": examples},
                                         "checks": {"enabled": True}, "request-timeout": 120})


def fuzz(schema) -> tuple[list[str], int, set[str]]:
    """Run every phase (coverage, fuzzing, stateful): the failures, the cases sent, the checks that ran."""
    from schemathesis.engine import Status, events, from_schema

    failures, cases, checks = [], 0, set()
    for event in from_schema(schema).execute():
        assert not isinstance(event, (events.NonFatalError, events.FatalError)), event
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for node in (node for nodes in event.recorder.checks.values() for node in nodes):
                checks.add(node.name)
                if node.status == Status.FAILURE:
                    failures.append(f"{event.recorder.label}: {node.name}: {node.failure_info.failure.title}\n"
                                    f"{node.failure_info.code_sample[:2000]}")
    return failures, cases, checks


def test_the_api_keeps_its_openapi_contract(local_app):
    """Generated valid and invalid requests, in process; about 800 cases."""
    failures, cases, checks = fuzz(schemathesis.openapi.from_asgi("/openapi.json", local_app,
                                                                  config=fuzz_config(FUZZ_EXAMPLES)))
    assert not failures, "\n\n".join(failures[:5])
    assert cases >= 4 * FUZZ_EXAMPLES and {"not_a_server_error", "negative_data_rejection", "positive_data_acceptance",
                                            "response_schema_conformance", "status_code_conformance"} <= checks
