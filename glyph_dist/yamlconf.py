"""YAML configuration files and `key=value` overrides, shared by experiments and training jobs."""

from __future__ import annotations

from pathlib import Path

import yaml

from glyph_dist.errors import GlyphDistError


def read_mapping(path: Path | str, what: str = "config") -> dict:
    """The YAML mapping in `path`; errors name the file."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GlyphDistError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise GlyphDistError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(values, dict):
        raise GlyphDistError(f"{path}: a {what} is a YAML mapping of keys to values")
    return values


def parse_override(text: str) -> tuple[str, object]:
    """`key=value` with the value read as YAML (an empty value is null)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise GlyphDistError(f"override {text!r}: expected key=value")
    try:
        return key.strip(), yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise GlyphDistError(f"override {text!r}: the value is not valid YAML ({exc})") from exc
