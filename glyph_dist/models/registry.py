"""Spec lookup shared by the answerer and judge registries: `name` or `prefix:path`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from glyph_dist.errors import GlyphDistError

T = TypeVar("T")


def build(kind: str, spec: str, named: dict[str, Callable[..., T]], prefixed: dict[str, Callable[..., T]],
          **options) -> T:
    """`named[spec](**options)`, or `prefixed[prefix](path, **options)` for a spec `prefix:path`."""
    if spec in named:
        return named[spec](**options)
    prefix, sep, path = spec.partition(":")
    if sep and prefix in prefixed:
        return prefixed[prefix](path, **options)
    known = ", ".join([*named, *(f"{p}:<model dir>" for p in prefixed)])
    raise GlyphDistError(f"unknown {kind} {spec!r}; known: {known}")
