"""The experiment runner: configs and overrides, and a real Ray Tune run with resume and a failed trial."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.runner.config import load_experiment

CONTEXT_BENCH = Path(__file__).resolve().parents[1] / "experiments" / "context_bench.yaml"


def test_the_context_benchmark_expands_to_the_full_matrix_under_either_name():
    experiment = load_experiment(CONTEXT_BENCH)
    assert load_experiment(CONTEXT_BENCH.with_name("phase5.yaml")).config_hash() == experiment.config_hash()
    trials = experiment.trials()
    assert len(trials) == 2 * 5 * 4 * 3
    assert {t["strategy"] for t in trials} == {"raw_truncate", "fgt_context", "rag_topk", "bm25_topk", "full"}
    assert all(t["answerer"] == "context-recall" and t["split"] == "test" for t in trials)


def test_overrides_set_axes_parameters_and_dotted_keys():
    experiment = load_experiment(CONTEXT_BENCH, ["budget=512", "seed=[1, 2]", "answerer=hf:/models/x",
                                                 "resources.cpu=0.5", "out=/tmp/o"])
    assert experiment.axes["budget"] == [512] and experiment.axes["seed"] == [1, 2]
    assert experiment.spec["params"]["answerer"] == "hf:/models/x"
    assert experiment.spec["resources"]["cpu"] == 0.5 and experiment.spec["out"] == "/tmp/o"
    assert len(experiment.trials()) == 2 * 5 * 1 * 2
    assert experiment.config_hash() != load_experiment(CONTEXT_BENCH).config_hash()


@pytest.mark.parametrize("override, message", [
    ("temperature=0.2", "unknown key 'temperature'; known keys: .*budget"),
    ("resources.tpu=1", "resources.tpu=.*unknown key 'tpu'; known keys: cpu, gpu"),
    ("budget", "expected key=value"),
    ("budget=[]", "axis 'budget' must be a non-empty list"),
])
def test_bad_overrides_are_refused(override, message):
    with pytest.raises(GlyphDistError, match=message):
        load_experiment(CONTEXT_BENCH, [override])


def test_bad_experiment_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrial: context_bench\naxes: {budget: [1]}\nstrategy: fast\n")
    with pytest.raises(GlyphDistError, match="unknown top-level key.*strategy"):
        load_experiment(bad)
    with pytest.raises(GlyphDistError, match="cannot read"):
        load_experiment(tmp_path / "missing.yaml")


def _overrides(tmp_path, data: Path, tape: Path, *extra: str) -> list[str]:
    return [f"dataset={data}", "strategy=[raw_truncate,fgt_context,bm25_topk]", "budget=256", "seed=1337",
            f"tape={tape}", f"out={tmp_path / 'out'}", f"report={tmp_path / 'RESULTS.md'}", *extra]


def _small(tmp_path, data: Path, tape: Path, *extra: str):
    return load_experiment(CONTEXT_BENCH, _overrides(tmp_path, data, tape, *extra))


@pytest.mark.parametrize("override, message", [
    ("strategy=[oracle]", "unknown provider 'oracle'"),
    ("answerer=gpt-9", "unknown answerer 'gpt-9'"),
    ("budget=0", "budget: Input should be greater than 0"),
    ("isolation=file", "isolation: Input should be 'episode' or 'stream'"),
    ("dataset=nowhere", "unknown dataset 'nowhere'"),
])
def test_bad_trials_fail_before_any_trial_starts(tmp_path, tape_root, override, message):
    from glyph_dist.runner.run import run_experiment

    experiment = _small(tmp_path, tmp_path / "x.jsonl", tape_root, override)
    with pytest.raises(GlyphDistError, match=message):
        run_experiment(experiment, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@contextlib.contextmanager
def sigint_after_the_first_trial(monkeypatch):
    """SIGINT to this process, as Ctrl-C sends it, when the run's first trial has ended (from the
    run's own progress callback, in this process). A signal outside Tune's handler is ignored."""
    from glyph_dist.runner.run import Progress

    previous = signal.signal(signal.SIGINT, lambda *_: None)
    sent = threading.Event()
    trial_ended = Progress.on_trial_complete

    def interrupt(self, *args, **kwargs):
        trial_ended(self, *args, **kwargs)
        if not sent.is_set():
            sent.set()
            os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as patch:
        patch.setattr(Progress, "on_trial_complete", interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
    assert sent.is_set()


def test_tune_run_interrupted_then_resumed_rows_meta_failure(ray_session, tmp_path, tape_root, capsys, monkeypatch):
    """Ctrl-C during a real run: exit 130, meta says interrupted, no report from the partial grid;
    the resume runs only the missing trials, counts on from the finished ones and writes the report."""
    from glyph_dist.cli import main
    from glyph_dist.data.context_bench import prepare_context_bench
    from glyph_dist.runner.run import run_experiment

    prepare_context_bench(tmp_path / "data", seed=3, agent_episodes=12, quiet=True)
    data = tmp_path / "data" / "phase5" / "agent_logs.jsonl"
    # a second data set whose long turn FGMS refuses (over its text limit): only fgt_context fails on it
    episodes = [json.loads(line) for line in data.read_text().splitlines()]
    long = next(e for e in episodes if e["split"] == "test")
    long["turns"][0]["text"] = "This note is long. " * 1000
    (tmp_path / "long.jsonl").write_text(json.dumps(long) + "\n")
    overrides = _overrides(tmp_path, data, tape_root, f"dataset=[{data},{tmp_path / 'long.jsonl'}]")
    run_dir = tmp_path / "run"
    with sigint_after_the_first_trial(monkeypatch):
        assert main(["run", str(CONTEXT_BENCH), *overrides, "--run-dir", str(run_dir)]) == 130
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["trials"] == 6 and meta["ended_at"]
    assert meta["finished"] + meta["failed"] < 6 and meta["failed"] <= 1, "trials in flight are not failures"
    partial = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(partial) == meta["finished"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "RESULTS.md").exists(), "no report from a partial grid"
    assert f"glyph-dist run --resume {run_dir}" in capsys.readouterr().out

    start = time.monotonic()
    assert main(["run", "--resume", str(run_dir)]) == 0
    resume_seconds = time.monotonic() - start
    err = capsys.readouterr().err
    progress = [(int(done), float(elapsed)) for done, elapsed in
                re.findall(r"\[trials (\d+)/6\] \d+ failed, (\d+) s elapsed", err)]
    assert [done for done, _ in progress] == list(range(meta["finished"] + meta["failed"] + 1, 7))
    assert all(elapsed <= resume_seconds + 1 for _, elapsed in progress), "elapsed counts this process only"
    assert re.search(r"\[trials 6/6\][^\r\n]*\n", err), "the progress line is ended"
    meta = json.loads((run_dir / "meta.json").read_text())
    assert (meta["status"], meta["trials"], meta["finished"], meta["failed"]) == ("finished", 6, 5, 1)
    assert meta["config_hash"] == load_experiment(CONTEXT_BENCH, overrides).config_hash() and str(data) in meta["data"]
    assert {"ray", "torch"} <= set(meta["versions"]) and meta["git_commit"] and len(meta["resumes"]) == 1

    rows = pd.read_csv(run_dir / "results.csv")
    assert len(rows) == 5 and {"dataset", "strategy", "budget", "seed", "success_rate", "tokens",
                               "time_ms_per_100", "rss_mb", "latency_ms_mean"} <= set(rows.columns)
    assert (rows["avg_tokens"] <= 256).all() and (rows["rss_mb"] > 0).all()
    final = (run_dir / "results.jsonl").read_text()
    assert all(line in final for line in partial), "trials finished before the interruption are not recomputed"
    cell = json.loads((tmp_path / "out" / "agent_logs_b256_s1337_context-recall_rule.json").read_text())
    assert set(cell["results"]) == {"raw_truncate", "fgt_context", "bm25_topk"}
    assert (tmp_path / "RESULTS.md").exists() and (tmp_path / "out" / "summary_table.md").exists()

    again = run_experiment(None, run_dir, resume=True)
    assert (again["status"], again["finished"]) == ("finished", 5)
    assert (run_dir / "results.jsonl").read_text() == final, "a finished run's resume recomputes nothing"
    with pytest.raises(GlyphDistError, match="already holds a run"):
        run_experiment(load_experiment(CONTEXT_BENCH, overrides), run_dir)


def test_trials_share_one_model_actor_for_answerer_and_judge(ray_session, tmp_path, tape_root):
    """A local causal LM answers and judges in one actor that every trial calls (random weights: the mechanics)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from glyph_dist.data.context_bench import prepare_context_bench
    from glyph_dist.fgt.store import load_tape
    from glyph_dist.runner.run import run_experiment

    tokenizer = load_tape(tape_root).tokenizer
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=512, vocab_size=len(tokenizer),
                               eos_token_id=tokenizer.eos_token_id)).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    prepare_context_bench(tmp_path / "data", seed=4, agent_episodes=8, quiet=True)
    data = tmp_path / "data" / "phase5" / "agent_logs.jsonl"
    experiment = _small(tmp_path, data, tape_root, "strategy=[raw_truncate,bm25_topk]", "budget=128",
                        f"answerer=hf:{tmp_path / 'lm'}", f"judge=llm:{tmp_path / 'lm'}", "resources.cpu=0.5")
    summary = run_experiment(experiment, tmp_path / "run")
    assert summary["finished"] == 2
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert {r["answerer"] for r in rows} == {"hf:lm"} and {r["judge"] for r in rows} == {"llm:lm"}
    assert all(0 <= r["llm_contains_agreement"] <= 1 and 0 <= r["llm_equivalent"] <= 1 for r in rows)
    named = ray_session.util.list_named_actors(all_namespaces=True)
    assert not [a for a in named if a["name"].startswith("model-")], "the model actor ends with the run"


@pytest.mark.slow
def test_ctrl_c_on_glyph_dist_run_then_resume(tmp_path, tape_root):
    """`glyph-dist run` in a process of its own (with its own Ray): Ctrl-C to its process group after
    the first trial exits 130 and leaves no report; `--resume` finishes every row and the report."""
    from glyph_dist.data.context_bench import prepare_context_bench

    prepare_context_bench(tmp_path / "data", seed=3, agent_episodes=12, quiet=True)
    data = tmp_path / "data" / "phase5" / "agent_logs.jsonl"
    run_dir = tmp_path / "run"
    glyph_dist = str(Path(sys.executable).with_name("glyph-dist"))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    overrides = _overrides(tmp_path, data, tape_root, "budget=[128,256]", "max_concurrent=1")
    run = subprocess.Popen([glyph_dist, "run", str(CONTEXT_BENCH), *overrides, "--run-dir", str(run_dir)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    err, first_trial = [], threading.Event()

    def read_stderr() -> None:  # the progress line has no newline until the run ends: read characters
        while char := run.stderr.read(1):
            err.append(char)
            if char == "]" and "[trials 1/" in "".join(err[-16:]):
                first_trial.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert first_trial.wait(600), "".join(err)[-3000:]
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        out = run.stdout.read()
        assert run.wait(300) == 130, "".join(err)[-3000:]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        reader.join(10)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["finished"] + meta["failed"] < meta["trials"] == 6
    assert f"glyph-dist run --resume {run_dir}" in out
    assert not (tmp_path / "out").exists() and not (tmp_path / "RESULTS.md").exists()

    resumed = subprocess.run([glyph_dist, "run", "--resume", str(run_dir)], env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(rf"\[trials {meta['finished'] + meta['failed'] + 1}/6\]", resumed.stderr)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert (meta["status"], meta["finished"], meta["failed"]) == ("finished", 6, 0)
    assert len((run_dir / "results.jsonl").read_text().splitlines()) == 6
    assert len(list((tmp_path / "out").glob("agent_logs_b*_s1337_*.json"))) == 2 and (tmp_path / "RESULTS.md").exists()


@pytest.mark.parametrize("key, value", [("relevance", "fuzzy"), ("unit", "page"), ("mode", "lossy")])
def test_eval_trial_rejects_an_unknown_fgms_read_setting(key, value):
    from glyph_dist.runner.eval_trial import check

    trial = {"dataset": "agent_logs", "strategy": "fgt_context", "budget": 256, "seed": 1, "data_dir": "data",
             "policy": "mixed", "mode": "mixed", "relevance": "hybrid", "unit": "turn", "answerer": "context-recall",
             "judge": "rule", "tape": "data/tapes/sgd", key: value}
    with pytest.raises(GlyphDistError, match=f"eval: {key}: Input should be"):
        check([trial])
