"""Cluster tooling: cluster.yaml through Ray's own launcher validation, and jobs submitted to a
real local head (its own processes and temp dir; this process never calls ray.init)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from glyph_dist.runner.jobs import RUNTIME_ENV_EXCLUDES, JobFailedError, LocalHead, submit_and_wait

REPO = Path(__file__).resolve().parents[1]
# The jobs the submission tests run from the repository root; {out} is an absolute directory.
SMOKE = "python cluster/smoke_job.py --out {out}"
EXPERIMENT = ("glyph-dist run experiments/phase5.yaml dataset={data} strategy='[raw_truncate,fgt_context]' "
              "budget=256 seed=1337 tape={tape} out={out}/cells report={out}/RESULTS.md --run-dir {out}/run")


def test_cluster_yaml_passes_ray_launcher_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    # What `ray up` does before contacting the cloud: merge the provider defaults, fill in
    # per-type worker bounds, check docker, then the JSON schema and cross-field checks.
    config = prepare_config(yaml.safe_load((REPO / "cluster.yaml").read_text()))
    validate_config(config)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"]["GPU"] == 0 and head["max_workers"] == 0
    gpu_types = [t for t in types.values() if t["resources"].get("GPU", 0) > 0]
    assert gpu_types and all(t["max_workers"] >= 1 and t["min_workers"] == 0 for t in gpu_types)
    assert {t["node_config"]["InstanceType"] for t in gpu_types} == {"g5.xlarge", "g5.12xlarge"}

    def position(commands: list[str], *needles: str) -> int:
        return next(i for i, c in enumerate(commands) if all(n in c for n in needles))

    workers, heads = config["worker_setup_commands"], config["head_setup_commands"]
    assert position(workers, "pip install", "torch") < position(workers, "pip install", '-e ".[gpu]"')
    assert position(heads, "pip install", "torch") < position(heads, "pip install", '-e ".[cpu]"')
    # The AWS defaults would otherwise add a nightly Ray wheel to every node's setup.
    assert not any("ray-wheels" in c for c in heads + workers)
    assert config["file_mounts"]["~/glyph_dist"] == "."
    head_start, worker_start = config["head_start_ray_commands"], config["worker_start_ray_commands"]
    assert any("ray start --head" in c and "--dashboard-port=8265" in c for c in head_start)
    assert any("ray start --address=$RAY_HEAD_IP:6379" in c for c in worker_start)
    assert all("RAY_AUTH_MODE=token" in c for c in head_start + worker_start if "ray start" in c)


def test_upload_excludes_drop_local_state_but_keep_the_package():
    from ray._private.runtime_env.packaging import _get_excludes

    runtime_env = yaml.safe_load((REPO / "cluster" / "runtime_env.yaml").read_text())
    assert runtime_env["excludes"] == RUNTIME_ENV_EXCLUDES and runtime_env["working_dir"] == "."
    excluded = _get_excludes(REPO, RUNTIME_ENV_EXCLUDES)
    for path in (".venv", "data", "data/corpus/sgd_train.jsonl", "reports/fgt_efficiency"):
        assert excluded(REPO / path), path
    for path in ("glyph_dist/data/corpus.py", "glyph_dist/reports/efficiency.py", "cluster.yaml"):
        assert not excluded(REPO / path), path


@pytest.fixture(scope="module")
def local_head():
    head = LocalHead(num_cpus=2, object_store_memory=100 * 2**20).start()
    try:
        yield head
    finally:
        head.stop()
        assert not head.processes(), "the head's processes outlived stop()"
        assert not head.temp_dir.exists()


def test_submitted_experiment_runs_on_the_head(local_head, tmp_path, tape_root):
    from glyph_dist.data.phase5 import prepare_phase5
    from glyph_dist.runner.meta import git_commit

    prepare_phase5(tmp_path / "data", seed=5, agent_episodes=10, quiet=True)
    entrypoint = EXPERIMENT.format(data=tmp_path / "data" / "phase5" / "agent_logs.jsonl", tape=tape_root, out=tmp_path)
    status, logs = submit_and_wait(local_head.dashboard_url, entrypoint, REPO, timeout=300)
    assert status == "SUCCEEDED" and "2/2 trials finished (0 failed)" in logs
    cell = json.loads((tmp_path / "cells" / "agent_logs_b256_s1337_context-recall_rule.json").read_text())
    assert set(cell["results"]) == {"raw_truncate", "fgt_context"}
    assert all(row["max_tokens"] <= 256 for row in cell["results"].values())
    assert (tmp_path / "RESULTS.md").exists()
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["git_commit"] == git_commit(), "the submitter's commit reaches the run's provenance"


@pytest.mark.slow
def test_job_runs_the_uploaded_package_on_the_head(local_head, tmp_path):
    status, logs = submit_and_wait(local_head.dashboard_url, SMOKE.format(out=tmp_path), REPO,
                                   timeout=120)
    assert status == "SUCCEEDED"
    result = json.loads((tmp_path / "smoke.json").read_text())
    uploaded = result["working_dir"]
    assert uploaded.startswith(str(local_head.temp_dir)) and json.dumps(result) in logs
    assert result["driver_package"].startswith(uploaded)
    assert result["task"]["value"] == 42 and result["task"]["package"].startswith(uploaded)
    assert result["cluster_cpus"] == 2  # this head, not another Ray on the machine
    assert result["present"] == {".venv": False, "data": False, "reports": False,
                                 "glyph_dist/data": True, "glyph_dist/reports": True}
    assert result["auth_mode"] == "token"


@pytest.mark.slow
def test_failed_job_raises_with_its_logs(local_head):
    entrypoint = "python -c \"import sys; print('no such experiment'); sys.exit(3)\""
    with pytest.raises(JobFailedError, match="FAILED") as failure:
        submit_and_wait(local_head.dashboard_url, entrypoint, REPO, timeout=120)
    assert "no such experiment" in str(failure.value) and "no such experiment" in failure.value.logs


@pytest.mark.slow
def test_job_past_its_timeout_is_stopped(local_head):
    with pytest.raises(TimeoutError, match="stopped it"):
        submit_and_wait(local_head.dashboard_url, "sleep 60", REPO, timeout=3)
