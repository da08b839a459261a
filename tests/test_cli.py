"""The `glyph-dist` command end to end, and its answers to bad input."""

import json
import subprocess
import sys

import pytest

from glyph_dist.cli import main
from tests.conftest import SGD_DEV


def test_tape_commands(tape_root, sgd_corpus, tmp_path, capsys):
    assert main(["tape", "encode", "--tape", str(tape_root), "Have a great day!", "--details"]) == 0
    out = capsys.readouterr().out
    encoded = out.splitlines()[0]
    assert encoded.startswith("<GLYPH>") and encoded.endswith("</GLYPH>")
    assert json.loads(out[out.index("{"):])["phrases"][0]["decision"] == "glyph"

    assert main(["tape", "decode", "--tape", str(tape_root), encoded, "--expand"]) == 0
    expanded = capsys.readouterr().out.strip()
    assert "GLYPH" not in expanded and "day" in expanded.lower()

    glyph = encoded[len("<GLYPH>"):-len("</GLYPH>")]
    assert main(["tape", "inspect", "--tape", str(tape_root), glyph, "--limit", "3"]) == 0
    family = json.loads(capsys.readouterr().out)
    assert family["glyph"] == glyph and len(family["members"]) == 3 and family["representative"] == expanded

    out_dir = tmp_path / "eff"
    assert main(["tape", "efficiency", "--tape", str(tape_root), "--corpus", str(sgd_corpus["heldout"]),
                 "--out", str(out_dir), "--thresholds", "0.6,0.9"]) == 0
    assert "| 0.60 |" in capsys.readouterr().out
    assert {p.name for p in out_dir.iterdir()} == {"efficiency.json", "efficiency.md", "efficiency.png"}


def test_data_corpus_splits_by_dialogue(tmp_path, capsys):
    assert main(["data", "corpus", "--sgd", str(SGD_DEV), "--out", str(tmp_path)]) == 0
    ids = {part: {json.loads(line)["episode_id"] for line in (tmp_path / f"sgd_{part}.jsonl").open()}
           for part in ("train", "heldout")}
    assert ids["train"] and ids["heldout"] and not ids["train"] & ids["heldout"]
    assert len(ids["train"]) + len(ids["heldout"]) == 768
    assert 0.1 < len(ids["heldout"]) / 768 < 0.3


@pytest.mark.parametrize("content, message", [
    ('{"turns": [{"text": "A fine line of text."}]}\n{not json\n', "bad.jsonl:2: malformed JSON"),
    ("", "empty corpus"),
])
def test_bad_corpus_fails_cleanly_and_writes_nothing(tmp_path, capsys, content, message):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text(content)
    out = tmp_path / "tape"
    assert main(["tape", "build", "--corpus", str(corpus), "--out", str(out), "--clusters", "4"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unknown_embedder_and_corrupt_tape(tmp_path, tape_root, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"This is sentence number {n} of the corpus." for n in range(20)))
    assert main(["tape", "build", "--corpus", str(corpus), "--out", str(tmp_path / "t"), "--clusters", "2",
                 "--embedder", "no/such-model"]) == 2
    assert "unknown embedder 'no/such-model'" in capsys.readouterr().err
    assert not any((tmp_path / "t").glob("v*"))
    assert main(["tape", "encode", "--tape", str(tmp_path), "hello there"]) == 2
    assert "not a tape" in capsys.readouterr().err
    assert main(["tape", "inspect", "--tape", str(tape_root), "abc"]) == 2
    assert "not in the 2048-glyph alphabet" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_pipeline_with_console_script(tmp_path):
    """What `make demo` runs, through the installed `glyph-dist` entry point, at the default K."""
    bin_dir = f"{sys.prefix}/bin"
    corpus, tape = tmp_path / "corpus", tmp_path / "tapes" / "sgd"
    for args in (["data", "corpus", "--sgd", str(SGD_DEV), "--out", str(corpus)],
                 ["tape", "build", "--corpus", str(corpus / "sgd_train.jsonl"), "--out", str(tape)],
                 ["tape", "efficiency", "--tape", str(tape), "--corpus", str(corpus / "sgd_heldout.jsonl"),
                  "--out", str(tmp_path / "report")]):
        done = subprocess.run([f"{bin_dir}/glyph-dist", *args], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "report" / "efficiency.json").read_text())
    assert result["tape_families"] > 900 and len(result["rows"]) == 10


def test_bench_context_on_any_episode_file_and_the_phase5_report(tape_root, tmp_path, capsys):
    """A data set in the episode format, written by hand (no split key), needs no code change."""
    turns = [{"role": "user", "text": "We will deploy the billing service to eu-west-1."},
             {"role": "assistant", "text": "Noted, eu-west-1 it is."}]
    turns += [{"role": "user" if i % 2 else "assistant", "text": f"Status update number {i}: tests are green."}
              for i in range(2, 60)]
    episode = {"episode_id": "ops-1", "turns": turns,
               "questions": [{"question": "Which region do we deploy billing to?", "answer": "eu-west-1",
                              "evidence": [0]}]}
    data = tmp_path / "ops.jsonl"
    data.write_text(json.dumps(episode) + "\n")
    out = tmp_path / "phase5" / "ops_b64.json"
    assert main(["bench", "context", "--dataset", str(data), "--budget", "64", "--out", str(out), "--split", "",
                 "--tape", str(tape_root), "--strategies", "raw_truncate", "bm25_topk", "full"]) == 0
    result = json.loads(out.read_text())
    assert set(result["results"]) == {"raw_truncate", "bm25_topk", "full"}
    assert result["results"]["raw_truncate"]["success_rate"] == 0.0, "the decision is older than 64 tokens"
    assert result["results"]["bm25_topk"]["success_rate"] == 1.0
    assert result["config"]["n_questions"] == 1 and result["config"]["answerer"] == "context-recall"
    capsys.readouterr()
    docs = tmp_path / "RESULTS.md"
    assert main(["report", "context-bench", "--dir", str(out.parent), "--docs", str(docs)]) == 0
    assert main(["report", "phase5", "--dir", str(out.parent), "--docs", str(docs)]) == 0  # the former name
    assert "ops" in docs.read_text() and (out.parent / "summary_table.md").exists()


def test_run_refuses_bad_overrides_before_starting(capsys):
    assert main(["run", "experiments/context_bench.yaml", "temperature=0.3"]) == 2
    assert "unknown key 'temperature'" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert "name an experiment file" in capsys.readouterr().err


def test_fgms_serve_refuses_a_taken_port_before_starting_ray(tape_root, tmp_path, monkeypatch, capsys):
    import os
    import socket

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = dict(os.environ)
        assert main(["fgms", "serve", "--tape", str(tape_root), "--storage", str(tmp_path / "store"),
                     "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is in use by a running server" in capsys.readouterr().err
    assert dict(os.environ) == before and not (tmp_path / "store").exists()
