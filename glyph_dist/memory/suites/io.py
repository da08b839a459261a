"""Suite files: JSONL with one item a line, written atomically and read back with checked fields.

A line is {"item_id", "suite", "kind", "teach": [{"text", "step", "reward", "pinned"}, ...],
"question", "answer", "evidence": [text, ...], "meta": {...}}; a statement's `reward` and `pinned`
may be left out (0.0 and false). A bad line is an error naming the file, the line and the field.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import iter_jsonl
from glyph_dist.files import write_text
from glyph_dist.memory.base import Item, Statement
from glyph_dist.memory_rows import SUITES

_ITEM_FIELDS = {"item_id": str, "suite": str, "kind": str, "teach": list, "question": str, "answer": str,
                "evidence": list, "meta": dict}
_TYPE_NAMES = {str: "a string", list: "a list", dict: "an object", int: "an integer", float: "a number",
               bool: "a boolean"}


def suite_text(items: list[Item]) -> str:
    """The items as the JSONL text of a suite file."""
    return "".join(json.dumps(asdict(item)) + "\n" for item in items)


def write_suite(path: Path | str, items: list[Item]) -> Path:
    """Write the items to `path` as JSONL, atomically."""
    return write_text(Path(path), suite_text(items))


def _is(value, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


def _check(record: dict, name: str, kind: type, where: str, field: str) -> None:
    """`record[name]` exists and is of `kind`, or an error naming the field `field`."""
    if name not in record:
        raise GlyphDistError(f"{where}: field '{field}' is missing")
    if not _is(record[name], kind):
        got = json.dumps(record[name])
        raise GlyphDistError(f"{where}: field '{field}' must be {_TYPE_NAMES[kind]}, got {got[:40]}")


def _statement(record, where: str, field: str) -> Statement:
    if not isinstance(record, dict):
        raise GlyphDistError(f"{where}: field '{field}' must be an object")
    unknown = sorted(set(record) - {"text", "step", "reward", "pinned"})
    if unknown:
        raise GlyphDistError(f"{where}: field '{field}.{unknown[0]}' is not a statement field")
    record = {"reward": 0.0, "pinned": False, **record}
    for name, kind in (("text", str), ("step", int), ("reward", float), ("pinned", bool)):
        _check(record, name, kind, where, f"{field}.{name}")
    return Statement(record["text"], record["step"], float(record["reward"]), record["pinned"])


def _item(record: dict, where: str) -> Item:
    unknown = sorted(set(record) - set(_ITEM_FIELDS))
    if unknown:
        raise GlyphDistError(f"{where}: field '{unknown[0]}' is not an item field")
    for name, kind in _ITEM_FIELDS.items():
        _check(record, name, kind, where, name)
    if record["suite"] not in SUITES:
        raise GlyphDistError(f"{where}: field 'suite' must be one of {', '.join(SUITES)}, got {record['suite']!r}")
    for i, text in enumerate(record["evidence"]):
        if not isinstance(text, str):
            raise GlyphDistError(f"{where}: field 'evidence[{i}]' must be a string")
    teach = tuple(_statement(s, where, f"teach[{i}]") for i, s in enumerate(record["teach"]))
    return Item(**{**record, "teach": teach, "evidence": tuple(record["evidence"])})


def read_suite(path: Path | str) -> list[Item]:
    """The items of a suite file; a bad line is an error naming file, line and field."""
    path = Path(path)
    return [_item(record, f"{path}:{lineno}") for lineno, record in iter_jsonl(path)]
