"""JSONL records of the pipeline's files, read with the keys each step needs checked.

Lines are split at newlines only: the questions hold characters such as U+2028 that
`str.splitlines` would also split at.
"""

from __future__ import annotations

import json
from pathlib import Path

from glyph_dist.errors import GlyphDistError

PROBLEM_KEYS = ("id", "source", "split", "question", "gold", "solution", "features", "bucket")
TRACE_KEYS = ("id", "source", "bucket", "question", "gold", "teacher", "trace")


def read_records(path: Path, keys: tuple[str, ...]) -> list[dict]:
    """The file's objects; a missing file, a bad line or a missing key is an error naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise GlyphDistError(f"{path}: no such file")
    records = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            try:
                record = json.loads(raw) if raw.strip() else None
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise GlyphDistError(f"{path}:{number}: not a JSON line ({error})") from None
            if record is None:
                continue
            if not isinstance(record, dict):
                raise GlyphDistError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            missing = [key for key in keys if key not in record]
            if missing:
                raise GlyphDistError(f"{path}:{number}: missing key(s) {', '.join(missing)}")
            records.append(record)
    return records
