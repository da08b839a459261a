"""Provenance: the code version, library versions, file hashes and timestamps that runs and jobs record."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

LIBRARIES = ("ray", "torch", "transformers", "sentence-transformers", "faiss-cpu", "faiss-gpu-cu12", "deepspeed")
COMMIT_ENV = "GLYPH_DIST_GIT_COMMIT"  # set by a job's submitter (cluster.job_env): Ray uploads no .git


def git_commit(root: Path | None = None) -> str:
    """The commit of the checkout at `root` (default: this package's) with "+dirty" when tracked
    files differ, else $GLYPH_DIST_GIT_COMMIT (a submitted job's), else "unknown"."""
    root = root or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get(COMMIT_ENV, "unknown")
    return commit + ("+dirty" if dirty else "")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
