"""What a job submitted with `ray job submit` takes from the machine that submits it.

Ray uploads the working tree (less `EXCLUDES` and what .gitignore lists, and without .git) to a
temporary directory that it deletes after the job. So the submitting side (`python
cluster/runtime_env.py`, `jobs.submit_and_wait`) puts three things in the job's runtime env:

- `GLYPH_DIST_ROOT`, the project root: the directory submitted from, or `--root` as the cluster's
  nodes see it. `glyph-dist` runs there, so relative paths (an experiment's `data/tapes/sgd`,
  `../shared/datasets/sgd/dev`) mean what they mean in a local run, and default outputs (`runs/`,
  `reports/`, `docs/`) are written there, where they last;
- `GLYPH_DIST_GIT_COMMIT`, the commit submitted, for the run's meta.json;
- `PATH` with the submitting interpreter's directory first, so that a head started without the
  virtual environment on PATH still finds `glyph-dist` and `python`.

The code a job runs is the uploaded copy (Ray puts the working dir first on the job's PYTHONPATH).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.provenance import COMMIT_ENV, git_commit

ROOT_ENV = "GLYPH_DIST_ROOT"
JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray in the driver of a submitted job
# Anchored at the working dir, as gitignore patterns: a bare "data" would also drop the package's
# own glyph_dist/data/ (the same for reports).
EXCLUDES = ["/.venv", "/data", "/reports", "__pycache__", "*.egg-info", "/.hypothesis", "/.pytest_cache", "/build"]


def runtime_env(working_dir: str | Path, root: str | None = None) -> dict:
    """The runtime env of a job submitted from `working_dir`; `root` is the project root as the
    cluster sees it (default: `working_dir` itself, right for a head on this machine)."""
    working_dir = Path(working_dir).resolve()
    return {"working_dir": str(working_dir), "excludes": list(EXCLUDES),
            "env_vars": {ROOT_ENV: root or str(working_dir), COMMIT_ENV: git_commit(working_dir),
                         "PATH": f"{Path(sys.executable).parent}{os.pathsep}${{PATH}}"}}


def enter_project_root() -> None:
    """Change to $GLYPH_DIST_ROOT when it is set. A submitted job without it is refused: its
    working dir is Ray's temporary copy, and the outputs written there would be deleted."""
    root = os.environ.get(ROOT_ENV)
    if root is None:
        if JOB_ENV in os.environ:
            raise GlyphDistError(f"this Ray job has no {ROOT_ENV}: submit it with --runtime-env-json "
                                 f"\"$(python cluster/runtime_env.py)\" so that paths and outputs are the "
                                 f"project's rather than in Ray's temporary copy")
        return
    path = Path(root).expanduser()
    if not path.is_dir():
        raise GlyphDistError(f"{ROOT_ENV}={root}: no such directory on this node "
                             f"(on a cluster, submit with --root DIR as the nodes see the project)")
    os.chdir(path)
