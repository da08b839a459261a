"""Experiment tracking: a real one-trial Tune run logged to a local MLflow store or TensorBoard, read back offline."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.runner.config import load_experiment

CONTEXT_BENCH = Path(__file__).resolve().parents[1] / "experiments" / "context_bench.yaml"


@pytest.mark.parametrize("overrides, message", [
    (["tracking=wandb"], r"tracking='wandb' is not one of none, mlflow, tensorboard"),
    (["tracking_uri=/tmp/store"], r"tracking_uri='/tmp/store' needs tracking=mlflow or tensorboard"),
    (["tracking=mlflow", "tracking_uri=[1]"], r"tracking_uri=\[1\] needs .* a string value"),
])
def test_bad_tracking_settings_are_refused(overrides, message):
    with pytest.raises(GlyphDistError, match=message):
        load_experiment(CONTEXT_BENCH, overrides)


def test_tracking_is_off_by_default_and_set_by_override():
    assert "tracking" not in load_experiment(CONTEXT_BENCH).spec
    spec = load_experiment(CONTEXT_BENCH, ["tracking=tensorboard", "tracking_uri=/tmp/tb"]).spec
    assert (spec["tracking"], spec["tracking_uri"]) == ("tensorboard", "/tmp/tb")


def _run_one_trial(tmp_path: Path, tape: Path, *tracking: str) -> tuple[Path, dict]:
    """One raw_truncate trial on a small agent_logs set; its run directory and result row."""
    from glyph_dist.data.context_bench import prepare_context_bench
    from glyph_dist.runner.run import run_experiment

    prepare_context_bench(tmp_path / "data", seed=5, agent_episodes=6, quiet=True)
    experiment = load_experiment(CONTEXT_BENCH, [
        f"dataset={tmp_path / 'data' / 'phase5' / 'agent_logs.jsonl'}", "strategy=raw_truncate", "budget=256",
        "seed=1337", f"tape={tape}", f"out={tmp_path / 'out'}", f"report={tmp_path / 'RESULTS.md'}", *tracking])
    run_dir = tmp_path / "run"
    assert run_experiment(experiment, run_dir)["finished"] == 1
    return run_dir, json.loads((run_dir / "results.jsonl").read_text())


def test_mlflow_tracking_logs_params_metrics_and_artifacts(ray_session, tmp_path, tape_root):
    from mlflow import MlflowClient

    from glyph_dist.runner.run import run_experiment

    run_dir, row = _run_one_trial(tmp_path, tape_root, "tracking=mlflow")
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("context_bench")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["run_dir"] == str(run_dir.resolve())
    params = run.data.params
    assert (params["trial/strategy"], params["trial/budget"], params["trial/seed"]) == ("raw_truncate", "256", "1337")
    assert params["trial/answerer"] == "context-recall"
    for metric in ("evidence_recall", "avg_tokens", "trial_seconds"):
        assert run.data.metrics[metric] == pytest.approx(row[metric])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"result.json", "params.json"} <= artifacts
    stored = Path(client.download_artifacts(run.info.run_id, "result.json", str(tmp_path / "download")))
    stored_row = json.loads(json.loads(stored.read_text().splitlines()[-1])["row"])
    assert stored_row and stored_row.items() <= row.items()
    assert experiment.artifact_location.startswith((run_dir / "mlflow" / "artifacts").resolve().as_uri())
    assert not (run_dir / "tensorboard").exists()
    assert run_experiment(None, run_dir, resume=True)["finished"] == 1  # restores the saved callback
    assert len(client.search_runs([experiment.experiment_id])) == 1, "a finished trial is not logged again"


def _scalars(event_file: Path) -> dict[str, float]:
    """The scalar summaries of a TensorBoard event file (TFRecord framing: length, CRC, event, CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    data, scalars, at = event_file.read_bytes(), {}, 0
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        event = Event.FromString(data[at + 12:at + 12 + length])
        scalars.update({v.tag: v.simple_value for v in event.summary.value if v.WhichOneof("value") == "simple_value"})
        at += 12 + length + 4
    return scalars


def test_tensorboard_tracking_writes_event_files(ray_session, tmp_path, tape_root):
    run_dir, row = _run_one_trial(tmp_path, tape_root, "tracking=tensorboard")
    [trial_dir] = (run_dir / "tensorboard").iterdir()
    scalars = {}
    for event_file in trial_dir.glob("events.out.tfevents.*"):
        scalars.update(_scalars(event_file))
    assert scalars["ray/tune/evidence_recall"] == pytest.approx(row["evidence_recall"])
    assert not (run_dir / "mlflow").exists()
