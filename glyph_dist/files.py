"""Files written atomically (staged beside the target, renamed into place) and JSON read with clear errors."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from glyph_dist.errors import GlyphDistError


def replace_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write` on a staging path beside `path`, then rename it into place (folders are made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp")
    try:
        write(staged)
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return replace_atomically(path, lambda staged: staged.write_text(text, encoding="utf-8"))


def read_json(path: Path):
    """The JSON value in `path`; an unreadable or malformed file is an error naming it (and the line)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise GlyphDistError(f"{path}: not a readable JSON file ({error})") from None
    except json.JSONDecodeError as error:
        raise GlyphDistError(f"{path}: not a readable JSON file (line {error.lineno}: {error.msg})") from None


def json_field(mapping: object, key: str, where: str, path: Path):
    """`mapping[key]` of a JSON document read from `path`; `where` is the dotted path of `mapping`
    in the document ("" for its top level), named in the error when it is not an object or lacks `key`."""
    if not isinstance(mapping, dict):
        raise GlyphDistError(f"{path}: '{where or 'the file'}' is not a JSON object")
    if key not in mapping:
        raise GlyphDistError(f"{path}: missing key '{where + '.' if where else ''}{key}'")
    return mapping[key]
