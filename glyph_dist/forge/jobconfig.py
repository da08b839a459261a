"""What the BitNet and Quiet-STaR job configs share: a dataclass from a YAML mapping (unknown keys an
error, paths absolute, `model`/`tokenizer` resolved through the catalog) and `key=value` overrides,
dotted ones setting a key inside a mapping field."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.config import _check_type
from glyph_dist.models.catalog import resolve_model
from glyph_dist.yamlconf import parse_override, read_mapping

T = typing.TypeVar("T")


def check_types(config, source: str) -> None:
    """Every field checked against its type hint (an int is taken for a float)."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        setattr(config, f.name, _check_type(f.name, getattr(config, f.name), hints[f.name], source))


def from_mapping(cls: type[T], values: dict, check: Callable[[T, str], T], source: str) -> T:
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise GlyphDistError(f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(known)}")
    config = check(cls(**values), source)
    paths = {k: str(Path(getattr(config, k)).expanduser().resolve()) for k in ("storage_path", "datasets")}
    models = {k: str(resolve_model(getattr(config, k))) for k in ("model", "tokenizer") if getattr(config, k)}
    return dataclasses.replace(config, **paths, **models)


def load_with_overrides(path: Path | str, overrides: list[str], nested: dict[str, Callable[[], dict]]) -> dict:
    """The YAML mapping with the overrides applied; `nested` names the mapping fields (and their defaults)
    that take dotted keys."""
    values = read_mapping(path)
    for text in overrides:
        key, value = parse_override(text)
        head, dot, rest = key.partition(".")
        if dot and head not in nested:
            raise GlyphDistError(f"override {text!r}: dotted keys are for {', '.join(nested)} only")
        values[head] = {**(values.get(head) or nested[head]()), rest: value} if dot else value
    return values
