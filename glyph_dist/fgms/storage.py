"""Durable shard storage: SQLite in WAL mode with full fsync, one database per shard.

A batch of records and their spans is committed in one transaction; once `append` returns, the
batch survives a crash of the process or the machine. Span vectors are stored too, so a restarted
shard restores its state without re-embedding.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glyph_dist.errors import GlyphDistError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    actor_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (actor_id, record_id)
);
CREATE TABLE IF NOT EXISTS spans (
    seq INTEGER PRIMARY KEY,
    actor_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    span INTEGER NOT NULL,
    text TEXT NOT NULL,
    family_id INTEGER NOT NULL,
    similarity REAL NOT NULL,
    vector BLOB NOT NULL
);
"""


@dataclass
class StoredSpan:
    seq: int
    actor_id: str
    record_id: str
    span: int
    text: str
    family_id: int
    similarity: float
    vector: np.ndarray


class ShardStorage:
    def __init__(self, path: Path, tape_version: str, dim: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self._check_or_set_meta({"tape_version": tape_version, "dim": dim})

    def _check_or_set_meta(self, expected: dict) -> None:
        stored = {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}
        for key, value in expected.items():
            if key not in stored:
                self.db.execute("INSERT INTO meta VALUES (?, ?)", (key, json.dumps(value)))
            elif stored[key] != value:
                raise GlyphDistError(f"{self.path}: storage was written with {key}={stored[key]!r}, "
                                     f"this service uses {value!r}; use another --storage or the same tape")

    def close(self) -> None:
        self.db.close()

    def known_records(self, actor_record_ids: list[tuple[str, str]]) -> set[tuple[str, str]]:
        known = set()
        for actor_id, record_id in actor_record_ids:
            if self.db.execute("SELECT 1 FROM records WHERE actor_id = ? AND record_id = ?",
                               (actor_id, record_id)).fetchone():
                known.add((actor_id, record_id))
        return known

    def append(self, records: list[dict], spans: list[StoredSpan]) -> None:
        """Commit records and spans in one durable transaction."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT INTO records VALUES (?, ?, ?)",
                                [(r["actor_id"], r["record_id"], json.dumps(r)) for r in records])
            self.db.executemany(
                "INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(s.seq, s.actor_id, s.record_id, s.span, s.text, s.family_id, s.similarity,
                  s.vector.astype(np.float32).tobytes()) for s in spans])

    def records(self) -> dict[tuple[str, str], dict]:
        return {(a, r): json.loads(body) for a, r, body in self.db.execute("SELECT actor_id, record_id, body FROM records")}

    def spans(self) -> Iterator[StoredSpan]:
        for row in self.db.execute("SELECT seq, actor_id, record_id, span, text, family_id, similarity, vector "
                                   "FROM spans ORDER BY seq"):
            yield StoredSpan(*row[:7], np.frombuffer(row[7], dtype=np.float32))
