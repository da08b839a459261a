"""The memory-evaluation report on a synthetic runs tree: hand-computed intervals, paired differences, verdicts,
missing trials, the smoke check, summaries, plots and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.reports.memory_eval import write_memory_report

DATE = "2026-11-22"
SEEDS = (1337, 2025)
# EM per seed. With two seeds the 95% half-width is t(0.975, 1) * sd / sqrt(2) = 12.7062 * |a - b| / 2:
# core 0.40/0.44 -> 0.420 ± 0.254; hei_nw 0.64/0.70 -> 0.670 ± 0.381; per-seed hei_nw − core 0.24/0.26 ->
# +0.250 ± 0.127, an interval [0.123, 0.377] without 0: better than core; rag − core -0.20/-0.22 -> -0.210 ± 0.127:
# worse; the ablation − core -0.02/+0.02 -> +0.000 ± 0.254: within noise; hei_nw − rag 0.44/0.48 -> +0.460 ± 0.254.
EPISODIC = {"baselines/core": (0.40, 0.44), "baselines/rag": (0.20, 0.22), "memory/hei_nw": (0.64, 0.70),
            "memory/hei_nw+gate.enabled=false": (0.38, 0.46)}
# Spatial: hei_nw ran one of its two planned seeds (2025 is missing).
SPATIAL = {"baselines/core": (0.50, 0.60), "memory/hei_nw": (0.80,)}


MODEL, COUNTER = "hf:smollm2", "tokenizer of tape v0001"


def write_run(runs: Path, variant: str, suite: str, n: int, seed: int, em: float, answerer: str = MODEL,
              **metrics) -> Path:
    """One metrics.json as an evaluation trial writes it; `metrics` overrides the derived values."""
    memory = variant.split("/")[1].split("+")[0]
    ablation = {"gate.enabled": False} if "+" in variant else {}
    config = {"date": DATE, "preset": variant.split("+")[0], "variant": variant, "memory": memory,
              "ablation": ablation, "suite": suite, "n": n, "seed": seed, "profile": "easy",
              "answerer": answerer, "judge": "rule", "token_counter": COUNTER, "budget": 256, "window": 2048,
              "config_hash": "abc"}
    values = {"em": em, "em_raw": round(em - 0.02, 4), "f1": round(em + 0.05, 4),
              "memory_hit_rate": 0.0 if variant.startswith("baselines/") else round(em + 0.1, 4),
              "evidence_recall": em, "n_items": n, "tokens": 10000.0, "avg_context_tokens": 200.0,
              "time_ms_per_100": 120.0, "rss_mb": 512.0, "latency_ms_mean": 1.2, "write_seconds": 0.8}
    if suite == "spatial":
        values |= {"spatial_success": em, "spatial_steps": 3.0, "spatial_suboptimality": 0.1}
    counters = {"written": 300 + 20 * SEEDS.index(seed), "rejected": 12, "source": "gate"} if memory == "hei_nw" else {}
    path = runs / DATE / variant / suite / f"{n}_{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": config, "metrics": values | metrics, "counters": counters}))
    return path


def write_matrix(runs: Path, answerer: str = MODEL) -> None:
    planned = []
    for suite, n, table in (("episodic", 50, EPISODIC), ("spatial", 20, SPATIAL)):
        for variant, ems in table.items():
            for seed, em in zip(SEEDS, ems):
                write_run(runs, variant, suite, n, seed, em, answerer)
            planned += [{"variant": variant, "suite": suite, "n": n, "seed": seed} for seed in SEEDS]
    (runs / DATE / "planned.json").write_text(json.dumps({"trials": planned}))


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the first table under `heading`."""
    block = markdown.split(f"{heading}\n")[1].split("\n#")[0]
    return [line.strip("| ").split(" | ") for line in block.splitlines() if line.startswith("| ") and "---" not in line]


def row(markdown: str, heading: str, variant: str) -> list[str]:
    return next(cells for cells in table_rows(markdown, heading) if cells[0] == variant)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("memory_eval")
    write_matrix(root / "runs")
    return root, write_memory_report(root / "runs", root / "reports", DATE)


def _read(report, name: str) -> str:
    return (report[0] / "reports" / DATE / name).read_text()


def test_index_means_intervals_and_verdicts_against_core(report):
    index = _read(report, "index.md")
    heading = "### episodic, n = 50"
    assert [cells[0] for cells in table_rows(index, heading)[1:]] == list(EPISODIC)
    assert row(index, heading, "baselines/core")[1:3] == ["2", "0.420 ± 0.254"]
    assert row(index, heading, "baselines/core")[-2] == "reference"
    hei = row(index, heading, "memory/hei_nw")
    assert hei[2] == "0.670 ± 0.381" and hei[3] == "0.720" and hei[4] == "0.770"
    assert hei[-2:] == ["+0.250 ± 0.127", "better than core"]
    assert row(index, heading, "baselines/rag")[-2:] == ["-0.210 ± 0.127", "worse than core"]
    assert row(index, heading, "memory/hei_nw+gate.enabled=false")[-2:] == ["+0.000 ± 0.254", "within noise"]
    assert "spatial success" not in table_rows(index, heading)[0]
    assert table_rows(index, heading)[0] == ["variant", "seeds", "EM", "F1", "evidence recall (model-free upper bound)",
                                             "tokens", "latency ms", "EM − core (paired 95% CI)", "verdict"]
    assert "budget(s): 256 tokens" in index and f"- answerer: {MODEL}\n- judge: rule" in index
    # every table: two suites, each against the baselines, and the episodic ablations
    assert index.count(f"Answerer {MODEL}, judge rule, token counter {COUNTER}.") == 5


def test_index_one_seed_and_memories_against_every_baseline(report):
    index = _read(report, "index.md")
    spatial = row(index, "### spatial, n = 20", "memory/hei_nw")
    assert spatial[1:3] == ["1", "0.800 ± n/a"]
    assert spatial[-2:] == ["+0.300 ± n/a (1 seed)", "n/a (1 seed)"]
    assert "spatial success" in table_rows(index, "### spatial, n = 20")[0]
    versus = "### episodic: memories against every baseline"
    assert table_rows(index, versus)[0] == ["variant", "n", "− core", "− rag"]
    assert row(index, versus, "memory/hei_nw")[2:] == ["+0.250 ± 0.127 (better than core)",
                                                      "+0.460 ± 0.254 (better than rag)"]
    ablations = "### episodic: ablations against their memory"  # 0.38/0.46 vs 0.64/0.70: -0.26/-0.24 per seed
    assert row(index, ablations, "memory/hei_nw+gate.enabled=false")[1:] == [
        "memory/hei_nw", "50", "-0.250 ± 0.127", "worse than memory/hei_nw"]
    assert "### spatial: ablations" not in index  # no ablation ran on spatial
    assert "[episodic/summary.md](episodic/summary.md)" in index
    assert "(assets/em_by_variant-spatial.png)" in index


def test_missing_trial_is_named_and_the_rest_rolls_up(report):
    index, smoke = _read(report, "index.md"), _read(report, "smoke.md")
    missing = "memory/hei_nw, suite spatial, n 20, seed 2025"
    assert f"- {missing}" in index.split("## Missing")[1]
    assert "1 of 12 planned trials have no metrics.json" in index
    assert "other 11 runs found still rolled up" in index
    assert missing in smoke
    assert "Runs found: 11 metrics.json" in smoke
    assert row(smoke, "## Runs per variant", "memory/hei_nw") == ["memory/hei_nw", "episodic", "50", "1337, 2025"]
    assert smoke.rstrip().endswith("status: problems found (1)")


def test_summaries_counters_and_plots(report):
    root, paths = report
    out = root / "reports" / DATE
    assert paths[:2] == [out / "index.md", out / "smoke.md"]
    assert all(path.exists() for path in paths)
    episodic = _read(report, "episodic/summary.md")
    first = table_rows(episodic, "## All metrics, n = 50")
    assert first[0][:4] == ["variant", "EM", "EM (exact string)", "F1"]
    assert row(episodic, "## All metrics, n = 50", "memory/hei_nw")[1] == "0.670 ± 0.381"
    counters = table_rows(episodic, "## Counters (numeric ones, means over seeds)")
    assert ["memory/hei_nw", "50", "written", "310.000 ± 127.062", "2"] in counters
    assert not any(cells[2] == "source" for cells in counters[1:])
    spatial = _read(report, "spatial/summary.md")
    assert row(spatial, "## Spatial metrics, n = 20", "baselines/core")[1:] == ["0.550 ± 0.635", "3.000 ± 0.000",
                                                                              "0.100 ± 0.000"]
    pngs = sorted(path.name for path in (out / "assets").glob("*.png"))
    assert pngs == sorted(f"{stem}-{suite}.png" for suite in ("episodic", "spatial")
                          for stem in ("em_by_variant", "evidence_recall_vs_em", "em_minus_core"))
    assert matplotlib.image.imread(out / "assets" / "em_by_variant-episodic.png").shape[2] in (3, 4)


def test_rerun_writes_the_same_documents(report):
    root, paths = report
    again = write_memory_report(root / "runs", root / "again", DATE)
    texts = [path for path in paths if path.suffix == ".md"]
    assert [p.relative_to(root / "reports") for p in texts] == [p.relative_to(root / "again") for p in again
                                                                if p.suffix == ".md"]
    assert all(path.read_text() == (root / "again" / path.relative_to(root / "reports")).read_text() for path in texts)


def test_smoke_flags_bad_rates_and_sizes(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "baselines/core", "episodic", 50, 1337, 0.4)
    write_run(runs, "baselines/core", "spatial", 20, 1337, 0.1, spatial_suboptimality=None)  # no route succeeded
    assert _smoke(runs, tmp_path).rstrip().endswith("status: ok")
    write_run(runs, "memory/hei_nw", "episodic", 50, 1337, 0.6, f1=1.5, n_items=49, rss_mb=float("nan"))
    smoke = _smoke(runs, tmp_path)
    assert "memory/hei_nw/episodic/50_1337/metrics.json`: f1 = 1.500" in smoke
    assert "n_items = 49, n = 50" in smoke and "rss_mb is NaN" in smoke
    assert "missing planned trials: not known (no planned.json)" in smoke
    assert smoke.rstrip().endswith("status: problems found (3)")


def _smoke(runs: Path, tmp_path: Path) -> str:
    write_memory_report(runs, tmp_path / "reports", DATE)
    return (tmp_path / "reports" / DATE / "smoke.md").read_text()


def test_malformed_metrics_name_the_file_and_field(tmp_path):
    runs = tmp_path / "runs"
    path = write_run(runs, "memory/hei_nw", "episodic", 50, 1337, 0.6)
    data = json.loads(path.read_text())
    del data["metrics"]["em"]
    path.write_text(json.dumps(data))
    with pytest.raises(GlyphDistError, match=r"memory/hei_nw/episodic/50_1337/metrics\.json: missing key 'metrics\.em'"):
        write_memory_report(runs, tmp_path / "reports", DATE)
    assert not (tmp_path / "reports").exists()


def test_empty_date_directory_is_an_error(tmp_path):
    (tmp_path / "runs" / DATE).mkdir(parents=True)
    with pytest.raises(GlyphDistError, match=f"no runs were found under .*runs/{DATE}"):
        write_memory_report(tmp_path / "runs", tmp_path / "reports", DATE)


def test_context_recall_is_reported_as_evidence_recall_with_no_em_f1_or_success(tmp_path):
    """The model-free answerer's EM would restate evidence recall: the tables compare evidence recall (the runs'
    memory_hit_rate, 0.0 for baselines and EM + 0.1 for memories here) and show none of its answers' scores."""
    write_matrix(tmp_path / "runs", answerer="context-recall")
    paths = write_memory_report(tmp_path / "runs", tmp_path / "reports", DATE)
    out = tmp_path / "reports" / DATE
    index, spatial = (out / "index.md").read_text(), (out / "spatial" / "summary.md").read_text()
    heading = "### spatial, n = 20"
    assert table_rows(index, heading)[0] == ["variant", "seeds", "evidence recall (model-free upper bound)", "tokens",
                                             "latency ms", "evidence recall (model-free upper bound) − core (paired "
                                             "95% CI)", "verdict"]
    assert row(index, heading, "memory/hei_nw")[2] == "0.900 ± n/a"
    assert row(index, heading, "memory/hei_nw")[-2] == "+0.900 ± n/a (1 seed)"
    for text in [index, spatial, (out / "episodic" / "summary.md").read_text()]:
        headers = [cells for cells in (line.strip("| ").split(" | ") for line in text.splitlines())
                   if cells[0] in ("variant", "ablation")]
        assert headers and not any(name in cells for cells in headers for name in ("EM", "F1", "spatial success"))
    assert "## Spatial metrics" not in spatial and "no EM, F1 or success" in index
    assert "Answerer context-recall, judge rule" in spatial
    assert sorted(path.name for path in paths if path.suffix == ".png") == sorted(
        f"{stem}-{suite}.png" for suite in ("episodic", "spatial")
        for stem in ("evidence_recall_by_variant", "evidence_recall_minus_core"))
