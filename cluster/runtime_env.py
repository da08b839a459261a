"""Print the runtime env (JSON) of a job submitted from the repository root, for `ray job submit`:

    RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:PORT \\
        --runtime-env-json "$(python cluster/runtime_env.py)" -- glyph-dist run experiments/context_bench.yaml

It uploads the working tree (less .venv, data/, reports/) and sets GLYPH_DIST_ROOT (the project
root: the job runs there, so relative paths and default outputs are the project's), the commit
submitted and PATH (glyph_dist.cluster.job_env). On a cluster, name the root as its nodes see it:
`python cluster/runtime_env.py --root '~/glyph_dist'`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from glyph_dist.cluster.job_env import runtime_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="the project root as the cluster's nodes see it (default: the current directory)")
    args = parser.parse_args()
    print(json.dumps(runtime_env(Path.cwd(), args.root)))


if __name__ == "__main__":
    main()
