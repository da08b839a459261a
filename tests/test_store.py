import shutil
import sqlite3

import faiss
import numpy as np
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt import store
from glyph_dist.fgt.build import TapeConfig, build_tape
from glyph_dist.fgt.store import DB_FILE, INDEX_FILE, LATEST_FILE, load_tape, resolve_tape_dir


@pytest.fixture
def tape_copy(tape, tmp_path):
    copy = tmp_path / "v0001"
    shutil.copytree(tape.path, copy)
    return copy


def test_tape_layout_and_round_trip(tape, tape_root):
    assert (tape_root / LATEST_FILE).read_text().strip() == tape.path.name
    assert resolve_tape_dir(tape_root) == tape.path
    assert {p.name for p in tape.path.iterdir()} >= {DB_FILE, INDEX_FILE, "embedder", "tokenizer"}
    assert tape.index.ntotal == len(tape.records) == tape.meta["n_families"]
    assert tape.centroids.dtype == np.float32 and tape.centroids.shape[1] == tape.meta["dim"]
    record = tape.records[0]
    assert tape.record(record.glyph) is record
    assert record.representative == record.metadata["examples"][0]
    members = tape.members(record.family_id, limit=3)
    assert members[0][0] == record.representative and len(members) == 3
    with sqlite3.connect(tape.path / DB_FILE) as db:
        n_phrases = db.execute("SELECT COUNT(*) FROM phrases").fetchone()[0]
        unique_glyphs = db.execute("SELECT COUNT(DISTINCT glyph) FROM families").fetchone()[0]
    assert n_phrases == tape.meta["n_phrases"] and unique_glyphs == len(tape.records)


def test_schema_version_mismatch_is_refused(tape_copy):
    with sqlite3.connect(tape_copy / DB_FILE) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(GlyphDistError, match="schema version 99"):
        load_tape(tape_copy)


def test_mismatched_faiss_index_is_refused(tape_copy):
    faiss.write_index(faiss.IndexFlatIP(7), str(tape_copy / INDEX_FILE))
    with pytest.raises(GlyphDistError, match="faiss index holds 0 vectors of dimension 7"):
        load_tape(tape_copy)


def test_corrupt_files_are_refused(tape_copy):
    (tape_copy / INDEX_FILE).write_bytes(b"not an index")
    with pytest.raises(GlyphDistError, match="cannot read faiss index"):
        load_tape(tape_copy)
    (tape_copy / DB_FILE).write_bytes(b"garbage" * 100)
    with pytest.raises(GlyphDistError, match="corrupt tape index"):
        load_tape(tape_copy)


def test_not_a_tape(tmp_path):
    with pytest.raises(GlyphDistError, match="not a tape"):
        load_tape(tmp_path)


def test_interrupted_build_leaves_no_half_tape(sgd_corpus, tape_root, tmp_path, monkeypatch):
    root = tmp_path / "tapes"
    shutil.copytree(tape_root, root)
    latest = (root / LATEST_FILE).read_text()
    before = sorted(p.name for p in root.iterdir())

    def fail(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.Embedder, "save", fail)
    with pytest.raises(KeyboardInterrupt):
        build_tape([sgd_corpus["heldout"]], root, TapeConfig(clusters=32), quiet=True)
    assert sorted(p.name for p in root.iterdir()) == before
    assert (root / LATEST_FILE).read_text() == latest
    monkeypatch.undo()
    new = build_tape([sgd_corpus["heldout"]], root, TapeConfig(clusters=32), quiet=True)
    assert new.name == "v0002" and resolve_tape_dir(root) == new
