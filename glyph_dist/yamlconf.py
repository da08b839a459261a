"""YAML configuration files and `key=value` overrides, shared by experiments and training jobs."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path

import yaml

from glyph_dist.errors import GlyphDistError


class _Loader(yaml.SafeLoader):
    """YAML's safe loader with dates left as text: `date=2026-11-22` is a string, as in a path."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load(text: str) -> object:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def read_mapping(path: Path | str, what: str = "config") -> dict:
    """The YAML mapping in `path`; errors name the file."""
    path = Path(path)
    try:
        values = load(path.read_text(encoding="utf-8"))
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
        return key.strip(), load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise GlyphDistError(f"override {text!r}: the value is not valid YAML ({exc})") from exc


def set_key(values: dict, key: str, value: object, sections: Mapping[str, Callable[[], dict]],
            known: Collection[str] | None, where: str, closed: bool = False) -> None:
    """Set `key` in the config mapping `values`: a top-level key, or `section.key` inside a mapping named
    in `sections` (started from that section's default when the mapping has none), and so on down the mappings
    a section holds. With `known`, any other top-level key is an error that lists the known ones; `closed`
    sections take only the keys they have. Errors start with `where`."""
    head, dot, rest = key.partition(".")
    if known is not None and head not in known:
        raise GlyphDistError(f"{where}: unknown key {head!r}; known keys: {', '.join(known)}")
    if dot and (head not in sections or not rest):
        raise GlyphDistError(f"{where}: only {', '.join(sections) or 'no keys'} take dotted keys")
    if dot:
        current = values.get(head)
        section = dict(current) if isinstance(current, dict) else sections[head]()
        set_key(section, rest, value, mapping_sections(section), list(section) if closed else None, where, closed)
        values[head] = section
    else:
        values[head] = value


def mapping_sections(values: Mapping) -> dict[str, Callable[[], dict]]:
    """The keys of `values` that hold mappings, as sections of `set_key`."""
    return {key: dict for key, section in values.items() if isinstance(section, dict)}


def apply_overrides(values: Mapping, overrides: Iterable[str], sections: Mapping[str, Callable[[], dict]] | None = None,
                    known: Collection[str] | None = None, what: str = "override") -> dict:
    """A copy of the config mapping `values` with `key=value` overrides applied in order (see `set_key`);
    errors name the override (`what` and its text)."""
    values = dict(values)
    for text in overrides:
        key, value = parse_override(text)
        set_key(values, key, value, sections or {}, known, f"{what} {text!r}")
    return values
