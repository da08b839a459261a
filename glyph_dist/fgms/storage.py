"""Durable shard storage: SQLite in WAL mode with full fsync, one database per shard.

A batch of records and their spans is committed in one transaction; once `appending` commits, the
batch survives a crash of the process or the machine. Span vectors are stored too, so a restarted
shard restores its state without re-embedding. Rows that cannot be restored (damaged or written
by a defect) are moved, whole records at a time, to the `quarantined_records` and
`quarantined_spans` tables with the reason, and stay there, reported, until removed by hand.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.schema import MAX_TURN

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
CREATE TABLE IF NOT EXISTS quarantined_records (actor_id, record_id, body, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantined_spans (seq, actor_id, record_id, span, text, family_id, similarity, vector);
"""
_SPAN_COLUMNS = "seq, actor_id, record_id, span, text, family_id, similarity, vector"


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


def _unix_seconds(value: object) -> object:
    """Stores written before date-times were kept as text hold Unix seconds (UTC)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"created_at {value} s is out of range: {exc}") from None
    return value


class StoredRecord(BaseModel):
    """What a shard keeps in memory of a stored record's body (the text lives in its spans)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    actor_id: str
    record_id: str
    episode_id: str | None = None
    turn: int | None = Field(None, ge=0, le=MAX_TURN)
    role: str
    tags: tuple[str, ...] = ()
    created_at: Annotated[AwareDatetime, BeforeValidator(_unix_seconds)]


@dataclass
class RestoredRecord:
    """One record read back for restoring, its spans in write order; `problem` says why it cannot be
    restored (then it is quarantined)."""

    key: tuple[bytes, bytes]
    rowid: int | None = None  # of the record row; None: spans without a record
    record: StoredRecord | None = None
    spans: list[StoredSpan] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    problem: str | None = None


def _span(row: tuple, dim: int) -> StoredSpan:
    """A span row (text and vector as raw bytes) checked and decoded; ValueError names what is wrong."""
    seq, actor_id, record_id, span, text, family_id, similarity, vector = row
    if not (isinstance(span, int) and isinstance(family_id, int) and isinstance(similarity, float)):
        raise ValueError(f"span {seq}: span, family_id or similarity is not a number")
    if not isinstance(vector, bytes) or len(vector) != 4 * dim:
        raise ValueError(f"span {seq}: the vector is not {dim} float32 values")
    try:
        actor_id, record_id, text = actor_id.decode(), record_id.decode(), text.decode()
    except UnicodeDecodeError:
        raise ValueError(f"span {seq}: its text or ids are not valid UTF-8") from None
    return StoredSpan(seq, actor_id, record_id, span, text, family_id, similarity, np.frombuffer(vector, dtype=np.float32))


def _record(body: bytes, key: tuple[bytes, bytes]) -> tuple[StoredRecord | None, str | None]:
    """The record of a body, or the problem that keeps it from being restored."""
    try:
        record = StoredRecord.model_validate_json(body)
    except ValidationError as exc:  # invalid JSON or UTF-8 among them
        error = exc.errors()[0]
        return None, f"record body: {'.'.join(map(str, error['loc'])) or 'JSON'}: {error['msg']}"
    if (record.actor_id, record.record_id) != tuple(k.decode(errors="replace") for k in key):
        return None, "the record body names another actor or record id than its row"
    return record, None


class ShardStorage:
    def __init__(self, path: Path, tape_version: str, dim: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.dim = dim
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

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def known_records(self, actor_record_ids: list[tuple[str, str]]) -> set[tuple[str, str]]:
        known = set()
        for actor_id, record_id in actor_record_ids:
            if self.db.execute("SELECT 1 FROM records WHERE actor_id = ? AND record_id = ?",
                               (actor_id, record_id)).fetchone():
                known.add((actor_id, record_id))
        return known

    @contextmanager
    def appending(self, records: list[dict], spans: list[StoredSpan]) -> Iterator[None]:
        """Insert records and spans in one transaction that commits, durably, when the block ends
        without an exception, and is rolled back otherwise (or when the commit fails)."""
        with self._transaction():
            self.db.executemany("INSERT INTO records VALUES (?, ?, ?)",
                                [(r["actor_id"], r["record_id"], json.dumps(r)) for r in records])
            self.db.executemany(
                f"INSERT INTO spans ({_SPAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(s.seq, s.actor_id, s.record_id, s.span, s.text, s.family_id, s.similarity,
                  s.vector.astype(np.float32).tobytes()) for s in spans])
            yield

    def restorable(self) -> list[RestoredRecord]:
        """Every stored record with its spans, records with spans in write order, each checked row by
        row: a row that cannot be read sets its record's `problem` instead of failing the restore."""
        found: dict[tuple[bytes, bytes], RestoredRecord] = {}
        for row in self.db.execute("SELECT seq, CAST(actor_id AS BLOB), CAST(record_id AS BLOB), span, "
                                   "CAST(text AS BLOB), family_id, similarity, vector FROM spans ORDER BY seq"):
            entry = found.setdefault(row[1:3], RestoredRecord(row[1:3]))
            entry.seqs.append(row[0])
            if entry.problem is None:
                try:
                    entry.spans.append(_span(row, self.dim))
                except ValueError as exc:
                    entry.problem = str(exc)
        for rowid, *key, body in self.db.execute(
                "SELECT rowid, CAST(actor_id AS BLOB), CAST(record_id AS BLOB), CAST(body AS BLOB) FROM records"):
            entry = found.setdefault(tuple(key), RestoredRecord(tuple(key)))
            entry.rowid = rowid
            if entry.problem is None:
                entry.record, entry.problem = _record(body, entry.key)
        for entry in found.values():
            if entry.problem is None and entry.record is None:
                entry.problem = "spans without a record"
        return list(found.values())

    def quarantine(self, entries: list[RestoredRecord]) -> None:
        """Move the records and spans of the entries, with their problems, to the quarantine tables."""
        if not entries:
            return
        with self._transaction():
            for entry in entries:
                if entry.rowid is None:
                    self.db.execute("INSERT INTO quarantined_records VALUES (?, ?, NULL, ?)", (*entry.key, entry.problem))
                else:
                    self.db.execute("INSERT INTO quarantined_records SELECT actor_id, record_id, body, ? FROM records "
                                    "WHERE rowid = ?", (entry.problem, entry.rowid))
                    self.db.execute("DELETE FROM records WHERE rowid = ?", (entry.rowid,))
                for seq in entry.seqs:
                    self.db.execute(f"INSERT INTO quarantined_spans SELECT {_SPAN_COLUMNS} FROM spans WHERE seq = ?",
                                    (seq,))
                    self.db.execute("DELETE FROM spans WHERE seq = ?", (seq,))

    def quarantined(self, limit: int) -> tuple[int, list[dict]]:
        """How many records are quarantined, and the latest `limit` of them (actor, record id, reason)."""
        count = self.db.execute("SELECT COUNT(*) FROM quarantined_records").fetchone()[0]
        rows = self.db.execute("SELECT CAST(actor_id AS BLOB), CAST(record_id AS BLOB), reason "
                               "FROM quarantined_records ORDER BY rowid DESC LIMIT ?", (limit,))
        return count, [{"actor_id": (a or b"").decode(errors="replace"),
                        "record_id": (r or b"").decode(errors="replace"), "reason": reason}
                       for a, r, reason in rows]

    def last_seq(self) -> int:
        """The highest span sequence number in use (-1 for none)."""
        return self.db.execute("SELECT COALESCE(MAX(seq), -1) FROM spans").fetchone()[0]
