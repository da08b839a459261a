"""The memory evaluation matrix end to end on Ray Tune.

Runs `experiments/memory_eval.yaml` over 3 suites x {core, rag, longctx, hei_nw, sgc_rss, smpd,
all} x sizes 50 and 200 x seeds 1337/2025/4242 (126 trials, answerer context-recall) as
`glyph-dist run` does, into a temporary data, runs and reports directory, then prints the time
end to end, the slowest trials and each preset's EM per suite (n=200, mean over seeds).
Target (2-core machine): <= 15 minutes.

    .venv/bin/python benchmarks/bench_memory_eval.py [--tape data/tapes/sgd] [key=value ...]
"""

from __future__ import annotations

import pandas as pd
from _machine import run_experiment_timed

TARGET_SECONDS = 15 * 60


def main() -> None:
    experiment, summary, total, lines = run_experiment_timed(
        "bench_memory_eval", "memory_eval.yaml", "profile=hard",
        lambda work: [f"runs_dir={work / 'runs'}", f"report={work / 'reports'}", "preset=everything", "suite=all",
                      "n=[50, 200]", "seeds=[1337, 2025, 4242]"])
    rows = pd.DataFrame(lines)

    print(f"\n-- {experiment.name}: {summary['trials']} trials ({summary['finished']} finished, "
          f"{summary['failed']} failed), {experiment.spec['max_concurrent']} at a time")
    print(f"   end to end (suite files, Ray start, Tune, per-trial files, roll-up report): {total:.1f} s; "
          f"target <= {TARGET_SECONDS} s: {'MET' if total <= TARGET_SECONDS else 'MISSED'}")
    print(f"   Tuner.fit: {summary['seconds']:.1f} s; inside trials: median {rows['trial_seconds'].median():.2f} s, "
          f"max {rows['trial_seconds'].max():.2f} s ({rows.loc[rows['trial_seconds'].idxmax(), 'variant']})")
    largest = rows[rows["n"] == rows["n"].max()]
    table = largest.pivot_table(index="variant", columns="suite", values="em", aggfunc="mean")
    print(f"\n-- EM at n={rows['n'].max()}, mean over seeds\n{table.round(3).to_string()}")


if __name__ == "__main__":
    main()
