"""The report layer's statistics on hand-computed rows: per-seed means, t-intervals and paired verdicts."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from glyph_dist.reports import study
from glyph_dist.reports.study import StudyDeclaration, Verdicts

STUDY = StudyDeclaration(name="toy", group=("suite",), compared="variant", baselines=("base/",),
                         verdicts=Verdicts(higher="better than {reference}", strip="base/"))


def rows(values: dict[str, tuple[float, ...]], name: str = "em") -> pd.DataFrame:
    return pd.DataFrame([{"suite": "s", "variant": variant, "seed": seed, "name": name, "value": value}
                         for variant, per_seed in values.items() for seed, value in enumerate(per_seed)])


def test_summary_averages_per_seed_means_with_a_t_interval():
    frame = pd.concat([rows({"a": (0.4, 0.6)}), rows({"a": (0.6,)})])  # seed 0 twice: its mean is 0.5
    found = study.summarize(frame, ["suite", "variant"]).iloc[0]
    assert found["mean"] == pytest.approx(0.55) and found["seeds"] == 2
    assert found["ci"] == pytest.approx(12.7062 * 0.0707107 / math.sqrt(2), rel=1e-4)
    assert (found["low"], found["high"]) == (pytest.approx(0.5), pytest.approx(0.6))


def test_paired_differences_use_only_seeds_both_ran_and_name_the_verdict():
    frame = rows({"base/core": (0.40, 0.44, 0.50), "mem": (0.64, 0.70)})
    pairs = STUDY.against_baselines(["base/core", "mem"])
    assert pairs == [("mem", "base/core")]
    found = study.paired_differences(frame, STUDY, "em", pairs).iloc[0]
    assert found["pairs"] == 2 and found["mean"] == pytest.approx(0.25)
    assert found["ci"] == pytest.approx(12.7062 * 0.0141421 / math.sqrt(2), rel=1e-4)
    assert found["reference_mean"] == pytest.approx(0.42) and found["verdict"] == "better than core"


@pytest.mark.parametrize("mean, half, pairs, expected", [
    (0.1, 0.05, 3, study.HIGHER), (-0.1, 0.05, 3, study.LOWER), (0.1, 0.2, 3, study.NOISE),
    (0.1, math.nan, 1, study.ONE_SEED)])
def test_outcome_needs_an_interval_that_excludes_zero(mean, half, pairs, expected):
    assert study.outcome(mean, half, pairs) == expected


def test_overlap_outcome_calls_only_intervals_apart():
    assert study.overlap_outcome(0.6, 0.05, 0.3, 0.1) == study.HIGHER
    assert study.overlap_outcome(0.5, 0.05, 0.48, 0.1) == study.NOISE
    assert study.overlap_outcome(0.5, math.nan, 0.3, 0.1) == study.ONE_SEED
