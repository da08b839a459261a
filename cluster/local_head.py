"""A local Ray head for trying jobs before a cluster: start it, submit to it, stop it.

    python cluster/local_head.py start --num-cpus 4
    python cluster/local_head.py submit http://127.0.0.1:PORT -- glyph-dist run experiments/context_bench.yaml
    python cluster/local_head.py stop /tmp/gd-XXXXXXXX

`submit` sends the job from the current directory with the runtime env of
`cluster/runtime_env.py` (the current directory is the project root), as `ray job submit` does
with it. `stop` ends only the processes this head started, never another Ray on the machine.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from glyph_dist.cluster.jobs import LocalHead, submit_and_wait
from glyph_dist.errors import GlyphDistError

def _start(args: argparse.Namespace) -> None:
    head = LocalHead(num_cpus=args.num_cpus).start()
    print(f"dashboard: {head.dashboard_url}\naddress:   {head.address}\n"
          f"processes: {len(head.pids)} (recorded in {head.temp_dir}/head.json)\n"
          f"submit:    RAY_AUTH_MODE=token ray job submit --address {head.dashboard_url} "
          f"--runtime-env-json \"$(python cluster/runtime_env.py)\" -- glyph-dist run experiments/context_bench.yaml\n"
          f"stop:      python cluster/local_head.py stop {head.temp_dir}")


def _submit(args: argparse.Namespace) -> None:
    if not args.entrypoint:
        raise GlyphDistError("submit needs the job's command after --")
    status, logs = submit_and_wait(args.dashboard, shlex.join(args.entrypoint), Path.cwd(),
                                   timeout=args.timeout)
    print(logs, end="")
    print(status)


def _stop(args: argparse.Namespace) -> None:
    LocalHead.load(args.temp_dir).stop()
    print(f"stopped the head in {args.temp_dir}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    argv, entrypoint = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a head on 127.0.0.1")
    start.add_argument("--num-cpus", type=int, default=2)
    start.set_defaults(run=_start)
    submit = commands.add_parser("submit", help="run a job from the current directory (the project root) and wait")
    submit.add_argument("dashboard", help="the dashboard URL, e.g. http://127.0.0.1:8265")
    submit.add_argument("--timeout", type=float, default=3600.0)
    submit.set_defaults(run=_submit)
    stop = commands.add_parser("stop", help="stop the head recorded in a temp dir")
    stop.add_argument("temp_dir", type=Path)
    stop.set_defaults(run=_stop)
    args = parser.parse_args(argv)
    args.entrypoint = entrypoint
    try:
        args.run(args)
    except GlyphDistError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
