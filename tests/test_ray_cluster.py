"""Cluster tooling: cluster.yaml through Ray's own launcher validation, the job runtime env, and
jobs submitted to a real local head (its own processes and temp dir; this process never calls
ray.init). The head starts without this virtual environment on PATH, as one started from a plain
shell does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from glyph_dist.cluster import job_env
from glyph_dist.cluster.jobs import JobFailedError, LocalHead, submit_and_wait
from glyph_dist.errors import GlyphDistError
from glyph_dist.provenance import COMMIT_ENV, git_commit

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = str(Path(sys.executable).parent)
# The jobs the submission tests run; {out} is an absolute directory.
SMOKE = "python cluster/smoke_job.py --out {out}"
# Every path relative: they resolve against the project root the submitter names.
EXPERIMENT = ("glyph-dist run experiments/context_bench.yaml dataset=data/phase5/agent_logs.jsonl "
              "strategy='[raw_truncate,fgt_context]' budget=256 seed=1337 tape=tape")
TINY = " dataset=agent_logs strategy='[raw_truncate,bm25_topk]' budget=256 seed=1337"  # overrides of the README's job


def readme_submit_command() -> str:
    """The `ray job submit` line of the README's section on Ray clusters, as written there."""
    section = (REPO / "README.md").read_text().split("\n## On a Ray cluster")[1].split("\n## ")[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    command, = [line for line in block.splitlines() if "ray job submit" in line]
    return command


def client_env() -> dict[str, str]:
    """A shell with the virtual environment active (its bin first on PATH) and no Ray address set."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    env["PATH"] = os.pathsep.join([VENV_BIN, env.get("PATH", "")])
    return env


def fresh_clone(target: Path) -> Path:
    """`git clone` of this repository with the working tree's uncommitted changes on top."""
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--modified", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    for name in filter(None, set(listed.split("\0"))):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
        else:
            (target / name).unlink(missing_ok=True)
    return target


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


def test_runtime_env_uploads_the_package_and_names_root_commit_and_path():
    from ray._private.runtime_env.packaging import _get_excludes

    printed = subprocess.run([sys.executable, "cluster/runtime_env.py"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout
    runtime_env = json.loads(printed)
    assert runtime_env["working_dir"] == str(REPO) and runtime_env["excludes"] == job_env.EXCLUDES
    assert runtime_env["env_vars"] == {job_env.ROOT_ENV: str(REPO), COMMIT_ENV: git_commit(REPO),
                                       "PATH": f"{VENV_BIN}{os.pathsep}${{PATH}}"}
    on_cluster = subprocess.run([sys.executable, "cluster/runtime_env.py", "--root", "~/glyph_dist"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout
    assert json.loads(on_cluster)["env_vars"][job_env.ROOT_ENV] == "~/glyph_dist"
    excluded = _get_excludes(REPO, job_env.EXCLUDES)
    for path in (".venv", "data", "data/corpus/sgd_train.jsonl", "reports/fgt_efficiency"):
        assert excluded(REPO / path), path
    for path in ("glyph_dist/data/corpus.py", "glyph_dist/reports/efficiency.py", "cluster.yaml"):
        assert not excluded(REPO / path), path


def test_a_job_runs_in_the_project_root_it_names(tmp_path, monkeypatch):
    from glyph_dist.cli import main

    (tmp_path / "root").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(job_env.ROOT_ENV, raising=False)
    monkeypatch.setenv(job_env.JOB_ENV, "{}")  # as in the driver of a submitted job
    with pytest.raises(GlyphDistError, match="no GLYPH_DIST_ROOT"):
        job_env.enter_project_root()
    assert main(["run", "experiments/context_bench.yaml", "--run-dir", "run"]) == 2 and not (tmp_path / "run").exists()
    monkeypatch.setenv(job_env.ROOT_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(GlyphDistError, match="nowhere: no such directory on this node"):
        job_env.enter_project_root()
    monkeypatch.setenv(job_env.ROOT_ENV, str(tmp_path / "root"))
    job_env.enter_project_root()
    assert Path.cwd() == tmp_path / "root"
    monkeypatch.delenv(job_env.JOB_ENV)
    monkeypatch.delenv(job_env.ROOT_ENV)
    monkeypatch.chdir(tmp_path)
    job_env.enter_project_root()
    assert Path.cwd() == tmp_path, "outside a job, without a root, a command stays where it is run"


@pytest.fixture(scope="module")
def local_head():
    without_venv = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != VENV_BIN)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", without_venv)
        head = LocalHead(num_cpus=2, object_store_memory=100 * 2**20).start()
    try:
        yield head
    finally:
        head.stop()
        assert not head.processes(), "the head's processes outlived stop()"
        assert not head.temp_dir.exists()


@pytest.mark.ray
def test_submitted_experiment_runs_in_its_project_root(local_head, tmp_path, tape_root):
    """Relative paths resolve against the root the submitter names, default outputs land there
    (runs/, reports/, docs/), and meta.json has the submitted commit."""
    from glyph_dist.data.context_bench import prepare_context_bench

    root = tmp_path / "project"
    prepare_context_bench(root / "data", seed=5, agent_episodes=10, quiet=True)
    (root / "tape").symlink_to(tape_root)
    (root / "experiments").symlink_to(REPO / "experiments")
    status, logs = submit_and_wait(local_head.dashboard_url, EXPERIMENT, REPO, timeout=300, root=str(root))
    assert status == "SUCCEEDED" and "2/2 trials finished (0 failed)" in logs
    run_dir, = (root / "runs").glob("context_bench-*")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["git_commit"] == git_commit(REPO), "the submitted commit"
    assert str(root / "data" / "phase5" / "agent_logs.jsonl") in meta["data"]
    cell = json.loads((root / "reports" / "phase5" / "agent_logs_b256_s1337_context-recall_rule.json").read_text())
    assert set(cell["results"]) == {"raw_truncate", "fgt_context"}
    assert all(row["max_tokens"] <= 256 for row in cell["results"].values())
    assert (root / "docs" / "PHASE-5-RESULTS.md").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_readme_job_submission_on_a_fresh_clone(local_head, tmp_path, tape_root):
    """The README's `ray job submit` line, run as written from a fresh clone with `../shared`
    beside it (a tiny variant through overrides), leaves its results where the README says."""
    clone = fresh_clone(tmp_path / "glyph_dist")
    (tmp_path / "shared").symlink_to(REPO.parent / "shared")
    (clone / "data" / "tapes").mkdir(parents=True)
    (clone / "data" / "tapes" / "sgd").symlink_to(tape_root)  # what `make demo` builds first
    command = readme_submit_command().replace("http://127.0.0.1:PORT", local_head.dashboard_url) + TINY
    done = subprocess.run(command, shell=True, cwd=clone, env=client_env(), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "2/2 trials finished (0 failed)" in done.stdout
    run_dir, = (clone / "runs").glob("context_bench-*")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["git_commit"] == git_commit(clone) != "unknown"
    rows = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(rows) == 2
    # the seeded data sets, from ../shared/datasets/sgd/dev, under the clone's data/
    assert (clone / "data" / "seeds" / "1337" / "phase5" / "public_dialog.jsonl").is_file()
    cell = json.loads((clone / "reports" / "phase5" / "agent_logs_b256_s1337_context-recall_rule.json").read_text())
    assert set(cell["results"]) == {"raw_truncate", "bm25_topk"}
    assert (clone / "reports" / "phase5" / "summary_table.md").is_file()
    assert (clone / "docs" / "PHASE-5-RESULTS.md").is_file()


@pytest.mark.ray
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


@pytest.mark.ray
@pytest.mark.slow
def test_failed_job_raises_with_its_logs(local_head):
    entrypoint = "python -c \"import sys; print('no such experiment'); sys.exit(3)\""
    with pytest.raises(JobFailedError, match="FAILED") as failure:
        submit_and_wait(local_head.dashboard_url, entrypoint, REPO, timeout=120)
    assert "no such experiment" in str(failure.value) and "no such experiment" in failure.value.logs


@pytest.mark.ray
@pytest.mark.slow
def test_job_past_its_timeout_is_stopped(local_head):
    with pytest.raises(TimeoutError, match="stopped it"):
        submit_and_wait(local_head.dashboard_url, "sleep 60", REPO, timeout=3)
