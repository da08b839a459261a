"""What a trial kind provides to the runner (a module in `run.TRIAL_KINDS`):

- `KEYS`, `PATH_KEYS`: the trial keys it knows, and those holding paths (made absolute);
- `check(trials) -> trials`: every error a trial would meet, raised before any trial starts; the
  trials to run (defaults resolved, duplicates dropped);
- `prepare(trials, run_dir) -> Prepared`: driver-side set-up (data, shared actors);
- `run(trial) -> row`: one trial, inside a Tune trial actor; the row's scalars become metrics;
- `finish(trials_and_rows, out, report, run_dir) -> paths`: the kind's output files and report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Prepared:
    shared: dict  # parameters every trial gets
    actors: list  # shared actors, killed when the run ends
    data_files: list[Path]  # hashed into meta.json
