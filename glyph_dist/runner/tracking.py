"""Experiment tracking of a run's trials, off by default (`tracking=none`).

- `tracking=mlflow`: Tune's MLflow callback logs each trial as one MLflow run of the experiment named
  after the run's `name`: the trial's config as params (`trial/<axis or parameter>`, `kind`,
  `shared/...`), its reported metrics, and its trial directory (Tune's `result.json`, whose `row`
  holds the full result row, `progress.csv`, `params.json`) as artifacts. The store needs no server:
  by default `RUN_DIR/mlflow/mlflow.db` (SQLite; MLflow 3 refuses the old file store `./mlruns`
  unless told to allow it) with the artifacts in `RUN_DIR/mlflow/artifacts`. `tracking_uri=` names
  another store: any MLflow tracking URI; a SQLite one keeps its artifacts beside its database.
- `tracking=tensorboard`: Tune's TensorBoardX callback writes each trial's metrics (and, when it
  ends, its config as hparams) to `RUN_DIR/tensorboard/trial_<id>/`, or under the directory
  `tracking_uri=` names.

The callbacks are saved with Tune's state, so `--resume` goes on tracking to the same place.
"""

from __future__ import annotations

from pathlib import Path

from ray.tune import Callback
from ray.tune.logger import TBXLoggerCallback

from glyph_dist.errors import GlyphDistError
from glyph_dist.runner.config import Experiment

SQLITE = "sqlite:///"


class TrialsTensorBoard(TBXLoggerCallback):
    """Tune's TensorBoardX callback with one log directory for the run: a subdirectory per trial."""

    def __init__(self, logdir: Path):
        super().__init__()
        self.logdir = logdir

    def log_trial_start(self, trial) -> None:
        if trial in self._trial_writer:
            self._trial_writer[trial].close()
        self._trial_writer[trial] = self._summary_writer_cls(str(self.logdir / f"trial_{trial.trial_id}"),
                                                             flush_secs=30)
        self._trial_result[trial] = {}


def _mlflow(experiment: Experiment, run_dir: Path) -> Callback:
    """The MLflow callback, its experiment created first so that a SQLite store's artifacts stay beside it."""
    try:
        from mlflow import MlflowClient
        from ray.air.integrations.mlflow import MLflowLoggerCallback
    except ImportError as error:
        raise GlyphDistError(f"tracking=mlflow needs MLflow ({error}): pip install mlflow-skinny sqlalchemy alembic") \
            from None
    uri = experiment.spec.get("tracking_uri")
    if not uri:
        (run_dir / "mlflow").mkdir(parents=True, exist_ok=True)
        uri = SQLITE + str(run_dir / "mlflow" / "mlflow.db")
    artifacts = (Path(uri[len(SQLITE):]).resolve().parent / "artifacts").as_uri() if uri.startswith(SQLITE) else None
    client = MlflowClient(uri)
    if client.get_experiment_by_name(experiment.name) is None:
        client.create_experiment(experiment.name, artifact_location=artifacts)
    return MLflowLoggerCallback(uri, experiment_name=experiment.name, tags={"run_dir": str(run_dir)},
                                save_artifact=True)


def tracking_callbacks(experiment: Experiment, run_dir: Path) -> list[Callback]:
    """The Tune callbacks of the experiment's `tracking` setting (none: no callback)."""
    tracking = experiment.spec.get("tracking", "none")
    if tracking == "mlflow":
        return [_mlflow(experiment, run_dir)]
    if tracking == "tensorboard":
        return [TrialsTensorBoard(Path(experiment.spec.get("tracking_uri") or run_dir / "tensorboard").resolve())]
    return []
