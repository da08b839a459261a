"""Provenance of an experiment run: code version, platform, library versions, config and data set hashes."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from glyph_dist.provenance import file_sha256, git_commit, utc_now, versions


def run_meta(experiment, data_files: list[Path]) -> dict:
    return {
        "experiment": experiment.name, "source": experiment.source, "config_hash": experiment.config_hash(),
        "git_commit": git_commit(), "started_at": utc_now(),
        "python": sys.version.split()[0], "os": platform.platform(), "versions": versions(),
        "data": {str(p): file_sha256(p) for p in sorted(set(data_files))},
    }
