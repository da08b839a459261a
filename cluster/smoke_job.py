"""A job that checks a cluster end to end: the driver imports glyph_dist, connects to the cluster,
runs one remote task that imports it too, and writes what it saw to <out>/smoke.json.

    ray job submit --runtime-env-json "$(python cluster/runtime_env.py)" -- python cluster/smoke_job.py --out /tmp/x
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import ray

import glyph_dist


@ray.remote
def probe(x: int) -> dict:
    """Runs on a worker: the package it imports and the arithmetic it does."""
    import glyph_dist as package

    return {"value": 2 * x, "package": package.__file__,
            "node": ray.get_runtime_context().get_node_id()}


def main() -> None:
    parser = argparse.ArgumentParser(description="check that a job reaches the cluster")
    parser.add_argument("--out", required=True, type=Path, help="directory for smoke.json")
    args = parser.parse_args()
    ray.init()
    uploaded = Path.cwd()
    result = {
        "glyph_dist": glyph_dist.__version__,
        "driver_package": glyph_dist.__file__,
        "working_dir": str(uploaded),
        "task": ray.get(probe.remote(21)),
        "cluster_cpus": ray.cluster_resources().get("CPU", 0),
        "present": {name: (uploaded / name).exists()
                    for name in (".venv", "data", "reports", "glyph_dist/data", "glyph_dist/reports")},
        "auth_mode": os.environ.get("RAY_AUTH_MODE", ""),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "smoke.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
