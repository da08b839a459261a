"""Shared fixtures: one real tape built from the shared SGD dialogues per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SGD_DEV = SHARED / "sgd" / "dev"
TEST_CLUSTERS = 256


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run the slow end-to-end tests")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "ray_session" in item.fixturenames:  # directly or through another fixture
            item.add_marker(pytest.mark.ray)
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow end-to-end test: run with --run-slow (make test-all)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sgd_corpus(tmp_path_factory) -> dict[str, Path]:
    """The SGD dev dialogues as train / held-out JSONL episodes."""
    from glyph_dist.data.corpus import make_sgd_corpus

    if not SGD_DEV.is_dir():
        pytest.fail(f"the shared data sets are missing: expected {SGD_DEV}")
    return make_sgd_corpus(SGD_DEV, tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tape_root(sgd_corpus, tmp_path_factory) -> Path:
    """A real tape (K = 256) built from the SGD train split."""
    from glyph_dist.fgt.build import TapeConfig, build_tape

    root = tmp_path_factory.mktemp("tapes") / "sgd"
    build_tape([sgd_corpus["train"]], root, TapeConfig(clusters=TEST_CLUSTERS), quiet=True)
    return root


@pytest.fixture(scope="session")
def tape(tape_root):
    from glyph_dist.fgt.store import load_tape

    return load_tape(tape_root)


@pytest.fixture(scope="session")
def hybrid(tape):
    from glyph_dist.fgt.hybrid import HybridTokenizer

    return HybridTokenizer(tape)


@pytest.fixture(autouse=True)
def _restore_working_directory(monkeypatch):
    """Commands run in-process enter `$GLYPH_DIST_ROOT` when a test sets it; the next test starts
    where the suite does."""
    monkeypatch.chdir(Path.cwd())


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance (2 CPUs) for every test that needs Ray."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, dashboard_port=0, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The catalog's SmolLM2-135M-Instruct, prepared under the repository's models/ (`make test` prepares
    it; otherwise the first session converts it once, about 25 s)."""
    from glyph_dist.models.catalog import ROOT_ENV, prepare

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ROOT_ENV, str(Path(__file__).resolve().parents[1]))
        return prepare("smollm2")
