"""Tape store: a versioned directory holding the SQLite index, faiss index, embedder and tokenizer.

    ROOT/
      LATEST              name of the newest version
      v0001/
        tape.sqlite       meta, families (glyph, address, centroid, metadata), phrases
        families.faiss    inner-product index over the family centroids (row = family id)
        embedder/         the sentence-transformers model that embedded the corpus
        tokenizer/        the base Hugging Face tokenizer (without glyph tokens)

A build is written into a hidden temporary directory and renamed into place at the end, so an
interrupted build leaves no half tape.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import write_text
from glyph_dist.fgt.cluster import Family
from glyph_dist.fgt.codec import GlyphCodec
from glyph_dist.fgt.embedder import Embedder
from glyph_dist.fgt.ingest import Phrase

SCHEMA_VERSION = 1
DB_FILE = "tape.sqlite"
INDEX_FILE = "families.faiss"
LATEST_FILE = "LATEST"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE families (
    family_id INTEGER PRIMARY KEY,
    glyph TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    x REAL NOT NULL,
    y REAL NOT NULL,
    dim INTEGER NOT NULL,
    centroid BLOB NOT NULL,
    size INTEGER NOT NULL,
    frequency INTEGER NOT NULL,
    representative TEXT NOT NULL,
    coherence REAL NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX families_address ON families(address);
CREATE TABLE phrases (
    phrase_id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    count INTEGER NOT NULL,
    family_id INTEGER NOT NULL REFERENCES families(family_id),
    similarity REAL NOT NULL
);
CREATE INDEX phrases_family ON phrases(family_id);
"""


@dataclass
class TapeRecord:
    """One family as stored: its glyph code and place on the tape."""

    family_id: int
    glyph: str
    address: str
    x: float
    y: float
    size: int
    frequency: int
    representative: str
    coherence: float
    metadata: dict = field(default_factory=dict)


@dataclass
class Tape:
    path: Path
    meta: dict
    records: list[TapeRecord]
    centroids: np.ndarray
    index: faiss.Index
    embedder: Embedder
    tokenizer: PreTrainedTokenizerBase
    codec: GlyphCodec

    @property
    def version(self) -> str:
        return self.path.name

    def record(self, glyph: str) -> TapeRecord:
        family_id = self.codec.decode(glyph)
        if family_id >= len(self.records):
            raise GlyphDistError(f"glyph {glyph!r} (family {family_id}) is not on this tape of {len(self.records)} families")
        return self.records[family_id]

    def members(self, family_id: int, limit: int = 10) -> list[tuple[str, int, float]]:
        """(text, count, similarity) of a family's phrases, nearest to the centroid first."""
        with sqlite3.connect(f"file:{self.path / DB_FILE}?mode=ro", uri=True) as db:
            return db.execute(
                "SELECT text, count, similarity FROM phrases WHERE family_id = ? "
                "ORDER BY similarity DESC LIMIT ?", (family_id, limit)).fetchall()

    def phrase_texts(self) -> set[str]:
        with sqlite3.connect(f"file:{self.path / DB_FILE}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT text FROM phrases")}


def _next_version(root: Path) -> str:
    numbers = [int(p.name[1:]) for p in root.glob("v[0-9]*") if p.name[1:].isdigit()]
    return f"v{max(numbers, default=0) + 1:04d}"


def write_tape(root: Path, meta: dict, families: list[Family], glyphs: list[str], addresses: list[str],
               points: np.ndarray, phrases: list[Phrase], phrase_family: np.ndarray,
               phrase_similarity: np.ndarray, embedder: Embedder, tokenizer: PreTrainedTokenizerBase) -> Path:
    """Write a new version under `root` atomically and point LATEST at it."""
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        centroids = np.stack([f.centroid for f in families]).astype(np.float32)
        dim = centroids.shape[1]
        with sqlite3.connect(staging / DB_FILE) as db:
            db.executescript(_SCHEMA)
            full_meta = {**meta, "schema_version": SCHEMA_VERSION, "dim": dim, "n_families": len(families)}
            db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in full_meta.items()])
            db.executemany(
                "INSERT INTO families VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(f.family_id, glyph, address, float(x), float(y), dim, f.centroid.tobytes(), f.size,
                  f.frequency, f.representative, f.coherence, json.dumps({"examples": f.examples, **f.metadata}))
                 for f, glyph, address, (x, y) in zip(families, glyphs, addresses, points)])
            db.executemany(
                "INSERT INTO phrases VALUES (?, ?, ?, ?, ?)",
                [(p.phrase_id, p.text, p.count, int(fam), float(sim))
                 for p, fam, sim in zip(phrases, phrase_family, phrase_similarity)])
        index = faiss.IndexFlatIP(dim)
        index.add(centroids)
        faiss.write_index(index, str(staging / INDEX_FILE))
        embedder.save(staging / "embedder")
        tokenizer.save_pretrained(staging / "tokenizer")
        final = root / _next_version(root)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_text(root / LATEST_FILE, final.name + "\n")
    return final


def resolve_tape_dir(path: Path | str) -> Path:
    """A tape version directory, given either it or a tape root with a LATEST file."""
    path = Path(path)
    if (path / DB_FILE).exists():
        return path
    latest = path / LATEST_FILE
    if latest.exists():
        version = path / latest.read_text().strip()
        if (version / DB_FILE).exists():
            return version
        raise GlyphDistError(f"{latest} names {version.name!r}, which holds no {DB_FILE}")
    raise GlyphDistError(f"{path}: not a tape (no {DB_FILE} and no {LATEST_FILE})")


def _read_meta(db: sqlite3.Connection, path: Path) -> dict:
    try:
        return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
        raise GlyphDistError(f"{path / DB_FILE}: corrupt tape index ({exc})") from exc


def _check(condition: bool, path: Path, message: str) -> None:
    if not condition:
        raise GlyphDistError(f"{path}: {message}")


def load_tape(path: Path | str) -> Tape:
    """Load a tape, checking schema version, dimensions and counts agree across its parts."""
    path = resolve_tape_dir(path)
    try:
        with sqlite3.connect(f"file:{path / DB_FILE}?mode=ro", uri=True) as db:
            meta = _read_meta(db, path)
            version = meta.get("schema_version")
            _check(version == SCHEMA_VERSION, path,
                   f"tape schema version {version}, this glyph_dist reads version {SCHEMA_VERSION}: rebuild the tape")
            rows = db.execute(
                "SELECT family_id, glyph, address, x, y, dim, centroid, size, frequency, representative, "
                "coherence, metadata FROM families ORDER BY family_id").fetchall()
    except sqlite3.DatabaseError as exc:
        raise GlyphDistError(f"{path / DB_FILE}: corrupt tape index ({exc})") from exc
    dim, n_families = meta["dim"], meta["n_families"]
    _check(len(rows) == n_families, path, f"meta says {n_families} families, the index holds {len(rows)}")
    _check([r[0] for r in rows] == list(range(n_families)), path, "family ids are not 0..n-1")
    _check(all(r[5] == dim and len(r[6]) == 4 * dim for r in rows), path,
           f"a family centroid does not have the tape's dimension {dim}")
    centroids = np.stack([np.frombuffer(r[6], dtype=np.float32) for r in rows])
    records = [TapeRecord(r[0], r[1], r[2], r[3], r[4], r[7], r[8], r[9], r[10], json.loads(r[11])) for r in rows]
    try:
        index = faiss.read_index(str(path / INDEX_FILE))
    except RuntimeError as exc:
        raise GlyphDistError(f"{path / INDEX_FILE}: cannot read faiss index ({str(exc).splitlines()[0]})") from exc
    _check(index.d == dim and index.ntotal == n_families, path,
           f"faiss index holds {index.ntotal} vectors of dimension {index.d}; expected {n_families} of {dim}")
    embedder = Embedder.load(path / "embedder", spec=meta.get("embedder"))
    _check(embedder.dim == dim, path, f"embedder dimension {embedder.dim} differs from the tape's {dim}")
    tokenizer = load_tokenizer(path / "tokenizer")
    codec = GlyphCodec(meta["alphabet_size"])
    _check(all(codec.encode(r.family_id) == r.glyph for r in records), path, "glyph codes do not match the codec")
    return Tape(path, meta, records, centroids, index, embedder, tokenizer, codec)


def load_tokenizer(name_or_path: Path | str) -> PreTrainedTokenizerBase:
    """A Hugging Face tokenizer from a local directory or the local cache; never downloads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise GlyphDistError(f"unknown tokenizer {str(name_or_path)!r}: not a local tokenizer directory "
                             f"nor one in the local Hugging Face cache ({exc})") from exc
