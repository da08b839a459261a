"""FGMS on real Ray: shard restarts, service restarts, node loss, quarantine, and the HTTP API under bad input."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import requests

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.api import ErrorResponse
from glyph_dist.fgms.app import bindable_port
from glyph_dist.fgms.client import MemoryClient
from glyph_dist.fgms.schema import MAX_TOKEN_BUDGET, MemoryRecord, ReadRequest, ReadResponse
from glyph_dist.fgms.shard import ShardRouter, shard_for

pytestmark = pytest.mark.ray  # every test here starts Ray: shard actors, a multi-node cluster or Serve


def _records(actor, n, start=0):
    return [MemoryRecord(actor_id=actor, record_id=f"{actor}-{k}", turn=k,
                         text=f"Remember that order {k} ships to warehouse {k % 7} on Monday.")
            for k in range(start, start + n)]


def _all_ids(ray, router, actor):
    response = ReadResponse.model_validate_json(
        ray.get(router.read(ReadRequest(actor_id=actor, token_budget=MAX_TOKEN_BUDGET, mode="text"))))
    return {i.record_id for i in response.items}


def test_killed_shard_loses_no_acknowledged_write(ray_session, tape_root, tmp_path):
    ray = ray_session
    router = ShardRouter(str(tape_root), str(tmp_path), shards=1)
    try:
        refs = [router.write([r])[0] for r in _records("a", 60)]
        acknowledged = ray.get(refs[:20])
        ray.kill(router.handles[0], no_restart=False)  # dies with writes still queued
        acknowledged += ray.get(refs[20:])
        # a write that committed just before the kill is retried and then reported as a duplicate
        assert all(r.written + r.duplicates == 1 for r in acknowledged)
        assert _all_ids(ray, router, "a") == {f"a-{k}" for k in range(60)}
        assert ray.get(router.stats()[0])["records"] == 60
    finally:
        router.shutdown()


def test_whole_service_restarts_with_every_memory(ray_session, tape_root, tmp_path):
    ray = ray_session
    router = ShardRouter(str(tape_root), str(tmp_path), shards=2)
    actors = ["ann", "bob", "cy", "dee"]
    ray.get([ref for a in actors for ref in router.write(_records(a, 15))])
    before = {a: _all_ids(ray, router, a) for a in actors}
    router.shutdown()
    restarted = ShardRouter(str(tape_root), str(tmp_path), shards=2)
    try:
        assert {a: _all_ids(ray, restarted, a) for a in actors} == before
        assert all(len(ids) == 15 for ids in before.values())
        assert len({shard_for(a, 2) for a in actors}) == 2, "the actors spread over both shards"
        with pytest.raises(GlyphDistError, match="holds 2 shards"):
            ShardRouter(str(tape_root), str(tmp_path), shards=3)
    finally:
        restarted.shutdown()


def test_a_restarted_shard_quarantines_a_poisoned_row_and_answers(ray_session, tape_root, tmp_path):
    """The rows an earlier version committed for created_at 9999-12-31T23:59:59-12:00 (then failed to
    index) made every restart fail; now the restart sets them aside, serves the rest and says so."""
    import sqlite3

    from fastapi.testclient import TestClient

    from glyph_dist.fgms.api import create_app
    from glyph_dist.fgms.app import RayShards

    ray = ray_session
    router = ShardRouter(str(tape_root), str(tmp_path), shards=1)
    try:
        ray.get(router.write(_records("p", 5)))
        with sqlite3.connect(tmp_path / "shard-000.sqlite") as db:
            seq = db.execute("SELECT MAX(seq) + 1 FROM spans").fetchone()[0]
            dim = json.loads(db.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()[0])
            body = {"actor_id": "p", "record_id": "poison", "role": "user", "text": "Edge.", "created_at": 253402343999.0}
            db.execute("INSERT INTO records VALUES ('p', 'poison', ?)", (json.dumps(body),))
            db.execute("INSERT INTO spans VALUES (?, 'p', 'poison', 0, 'Edge.', -1, 0.0, ?)", (seq, bytes(4 * dim)))
        ray.kill(router.handles[0], no_restart=False)
        assert _all_ids(ray, router, "p") == {f"p-{k}" for k in range(5)}
        stats = ray.get(router.stats()[0])
        assert stats["quarantined"] == 1 and "created_at" in stats["quarantine"][0]["reason"]
        assert ray.get(router.write(_records("p", 1, start=5)))[0].written == 1, "the sequence counter moved on"
        health = TestClient(create_app(RayShards(router))).get("/memory/health").json()
        assert health["status"] == "degraded" and health["degraded"][0]["quarantined"] == 1
    finally:
        router.shutdown()


def test_an_unavailable_shard_gets_a_compact_503(ray_session, tape_root, tmp_path):
    """No traceback, path or colour code: one line to retry by, in the error model."""
    from fastapi.testclient import TestClient

    from glyph_dist.fgms.api import create_app
    from glyph_dist.fgms.app import RayShards

    router = ShardRouter(str(tape_root), str(tmp_path), shards=1)
    client = TestClient(create_app(RayShards(router)))
    assert client.get("/memory/health").json()["status"] == "ok"
    router.shutdown()  # killed for good
    for response in (client.get("/memory/health"), client.get("/memory/stats"),
                     client.post("/memory/write", json={"actor_id": "u", "record_id": "1", "text": "Anyone there?"}),
                     client.post("/memory/read", json={"actor_id": "u", "token_budget": 10})):
        assert response.status_code == 503
        assert response.json() == {"detail": "memory shard unavailable: retry", "errors": []}


def test_shard_survives_the_loss_of_its_node(tape_root, tmp_path):
    """Runs in its own process: it starts a multi-node cluster of its own."""
    done = subprocess.run([sys.executable, "-m", "tests.fgms_multinode", str(tape_root), str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "with all 30 memories" in done.stdout


@pytest.fixture(scope="module")
def service(ray_session, tape_root, tmp_path_factory):
    from ray import serve

    from glyph_dist.fgms.app import build_app

    storage = tmp_path_factory.mktemp("fgms")
    port = bindable_port("127.0.0.1")
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(str(tape_root), str(storage), shards=2), name="fgms", route_prefix="/")
    yield MemoryClient(f"http://127.0.0.1:{port}")
    serve.shutdown()
    ShardRouter(str(tape_root), str(storage), shards=2).shutdown()


def test_http_write_read_health_stats_docs(service):
    assert service.health() == {"status": "ok", "shards": 2, "degraded": []}
    written = service.write([r.model_dump() for r in _records("web", 12)])
    assert (written.written, written.duplicates) == (12, 0)
    assert service.write([_records("web", 1)[0]]).duplicates == 1
    response = service.read("web", "which warehouse gets order 3", token_budget=40, policy="relevant", mode="text")
    assert 0 < response.token_estimate <= 40 and response.items
    assert all(i.record_id.startswith("web-") for i in response.items)
    single = requests.post(f"{service.url}/memory/write", json={"actor_id": "web", "record_id": "one",
                                                                "text": "A single record works too."})
    assert single.status_code == 200 and single.json()["written"] == 1
    assert service.stats()["records"] == 13
    assert requests.get(f"{service.url}/docs").status_code == 200
    assert "/memory/read" in requests.get(f"{service.url}/openapi.json").json()["paths"]


BAD_REQUESTS = [
    ("write", json.dumps({"actor_id": "x", "record_id": "1", "text": ""}).encode(), "text"),
    ("write", json.dumps({"actor_id": "x", "record_id": "1", "text": "   "}).encode(), "blank"),
    ("write", b'{"actor_id": "x", "record_id": "1", "text": "caf\xe9"}', None),
    ("write", b'{"actor_id": "x", "record_id": ', None),
    ("write", json.dumps({"records": []}).encode(), "records"),
    ("read", json.dumps({"actor_id": "x", "token_budget": 0}).encode(), "token_budget"),
    ("read", json.dumps({"actor_id": "x", "token_budget": 10**9}).encode(), "token_budget"),
    ("read", json.dumps({"actor_id": "x", "token_budget": 10, "mode": "zip"}).encode(), "mode"),
    ("read", json.dumps({"actor_id": "x", "token_budget": 10, "policy": "psychic"}).encode(), "policy"),
    ("read", json.dumps({"actor_id": "x", "token_budget": 10, "colour": "red"}).encode(), "colour"),
]


@pytest.mark.parametrize("endpoint, body, field", BAD_REQUESTS)
def test_bad_input_gets_4xx_and_changes_nothing(service, endpoint, body, field):
    before = service.stats()
    response = requests.post(f"{service.url}/memory/{endpoint}", data=body,
                             headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    ErrorResponse.model_validate_json(response.content)
    if field:
        assert field in response.text
    assert service.stats() == before
    assert service.health()["status"] == "ok"


def test_oversized_body_is_refused(service):
    from glyph_dist.fgms.api import MAX_BODY_BYTES

    before = service.stats()
    response = requests.post(f"{service.url}/memory/write", data=b"x" * (MAX_BODY_BYTES + 1),
                             headers={"content-type": "application/json"})
    assert response.status_code == 413 and "request body over" in ErrorResponse.model_validate_json(response.content).detail
    chunked = requests.post(f"{service.url}/memory/write", data=iter([b"x" * 65536] * (MAX_BODY_BYTES // 65536 + 2)),
                            headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and "request body over" in ErrorResponse.model_validate_json(chunked.content).detail
    assert service.stats() == before


def test_client_reports_errors_clearly(service):
    with pytest.raises(GlyphDistError, match="token_budget"):
        service.read("x", token_budget=0)
    with pytest.raises(GlyphDistError, match="cannot reach"):
        MemoryClient("http://127.0.0.1:9", timeout=2).health()


def test_fgms_cli_write_and_read_under_both_names(service, tmp_path, capsys):
    from glyph_dist.cli import main

    url = ["--url", service.url]
    assert main(["fgms", "write", *url, "--actor", "cli", "--record-id", "c1", "--turn", "0",
                 "My flight to Denver leaves at 6 am on Friday."]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 1
    batch = tmp_path / "records.jsonl"
    batch.write_text("\n".join(json.dumps({"actor_id": "cli", "record_id": f"f{k}", "text": f"Gate B{k} opens late."})
                               for k in range(3)))
    assert main(["fgms", "write", *url, "--file", str(batch)]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 3
    assert main(["memory", "read", *url, "--actor", "cli", "when does my flight leave", "--budget", "64",
                 "--mode", "text"]) == 0
    out = capsys.readouterr().out
    assert "Denver" in out and "/64 tokens" in out
    assert main(["memory", "read", *url, "--actor", "cli", "--budget", "0"]) == 2
    assert "token_budget" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("deployment", ["service", "served"])
def test_the_serve_deployment_keeps_its_openapi_contract(deployment, request):
    """schemathesis, every check, against the real Ray Serve deployment over HTTP (fixed seed): through
    Serve's proxy, and on the port `glyph-dist fgms serve` answers itself."""
    import schemathesis

    from tests.test_fgms_contract import fuzz, fuzz_config

    url = request.getfixturevalue(deployment).url
    failures, cases, _ = fuzz(schemathesis.openapi.from_url(f"{url}/openapi.json", config=fuzz_config(25)))
    assert not failures, "\n\n".join(failures[:5])
    assert cases > 100


@pytest.fixture(scope="module")
def served(tape_root, tmp_path_factory):
    """`glyph-dist fgms serve` in its own process with its own Ray, started with SIGINT ignored (as a
    shell's background job starts it): `.url`, the port it serves itself, and `.proxy`, the URL of Serve's
    proxy it prints. SIGINT must stop it, with exit 0."""
    import re
    import signal

    port = bindable_port("127.0.0.1")
    process = subprocess.Popen([f"{sys.prefix}/bin/glyph-dist", "fgms", "serve", "--tape", str(tape_root), "--shards",
                                "1", "--storage", str(tmp_path_factory.mktemp("served")), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        line = process.stdout.readline()
        proxy = re.search(r"Serve's proxy at (http://127\.0\.0\.1:\d+)", line)
        assert f"at http://127.0.0.1:{port} " in line and proxy, line
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", proxy=proxy.group(1))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0


def test_fgms_serve_answers_on_its_port_and_through_the_proxy(served):
    """`glyph-dist fgms serve` starts its own Ray: the replica serves --port itself (Serve's direct
    ingress) with the same error model, Serve's proxy the port it prints; SIGINT stops both (`served`)."""
    from glyph_dist.fgms.api import MAX_BODY_BYTES

    direct = MemoryClient(served.url)
    before = direct.stats()["records"]
    assert direct.write(_records("svc", 4)).written == 4
    assert MemoryClient(served.proxy).read("svc", "warehouse", token_budget=MAX_TOKEN_BUDGET).items
    oversized = requests.post(f"{served.url}/memory/write", data=b"x" * (MAX_BODY_BYTES + 1),
                              headers={"content-type": "application/json"})
    assert oversized.status_code == 413
    ErrorResponse.model_validate_json(oversized.content)
    assert direct.stats()["records"] == before + 4


@pytest.mark.slow
def test_fgms_serve_command(tape_root, tmp_path):
    """`glyph-dist fgms serve` in its own process: serve, write, read, stop (SIGTERM), serve again on the same
    port (once the stopped server's connections have closed), read."""
    import signal
    import time

    port = bindable_port("127.0.0.1")
    command = [f"{sys.prefix}/bin/glyph-dist", "fgms", "serve", "--tape", str(tape_root), "--shards", "2",
               "--storage", str(tmp_path / "store"), "--port", str(port)]

    def start() -> subprocess.Popen:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = process.stdout.readline()
        assert "FGMS serving 2 shard(s)" in line, line
        return process

    def stop(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0

    client = MemoryClient(f"http://127.0.0.1:{port}")
    server = start()
    try:
        client.write(_records("svc", 5))
    finally:
        stop(server)
    time.sleep(2)
    server = start()
    try:
        response = client.read("svc", token_budget=MAX_TOKEN_BUDGET, mode="text")
        assert {i.record_id for i in response.items} == {f"svc-{k}" for k in range(5)}
    finally:
        stop(server)
