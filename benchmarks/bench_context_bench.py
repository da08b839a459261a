"""The context benchmark end to end on Ray Tune, and Tune's overhead per trial.

Runs `experiments/context_bench.yaml` (both data sets' test splits x 5 strategies x 4 budgets x 3 seeds,
answerer context-recall) as `glyph-dist run` does, into a temporary run directory and report
directory. Target (2-core machine): the whole experiment in <= 5 minutes. Tune's overhead per
trial is the wall time of `Tuner.fit` times the concurrency, less the time spent inside the trial
functions, divided by the number of trials (scheduling, actor reuse, result reporting, state).

    .venv/bin/python benchmarks/bench_context_bench.py [--tape data/tapes/sgd] [key=value ...]
"""

from __future__ import annotations

import statistics

from _machine import run_experiment_timed

TARGET_SECONDS = 300


def main() -> None:
    experiment, summary, total, rows = run_experiment_timed(
        "bench_context_bench", "context_bench.yaml", "seed='[1337]'",
        lambda work: [f"out={work / 'out'}", f"report={work / 'RESULTS.md'}"])
    inside = [r["trial_seconds"] for r in rows]
    concurrency = int(experiment.spec["max_concurrent"])
    overhead = (summary["seconds"] * concurrency - sum(inside)) / summary["trials"]
    print(f"\n-- {experiment.name}: {summary['trials']} trials ({summary['finished']} finished, "
          f"{summary['failed']} failed), {concurrency} at a time, {experiment.spec['resources']} each")
    print(f"   end to end (data sets, Ray start, shard actors, Tune, cell files, report): {total:.1f} s; "
          f"target <= {TARGET_SECONDS} s: {'MET' if total <= TARGET_SECONDS else 'MISSED'}")
    print(f"   Tuner.fit: {summary['seconds']:.1f} s; inside trial functions: median {statistics.median(inside):.2f} s, "
          f"sum {sum(inside):.1f} s")
    print(f"   Tune overhead per trial: {overhead:.2f} s "
          f"(= fit x {concurrency} - time inside trials, over {summary['trials']} trials)")


if __name__ == "__main__":
    main()
