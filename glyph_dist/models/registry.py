"""Spec lookup shared by the answerer and judge registries: `name` or `prefix:MODEL`.

MODEL is a catalog name (`smollm2`) or a local model directory; it is resolved to that directory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from glyph_dist.errors import GlyphDistError
from glyph_dist.models.catalog import CATALOG, resolve_model

T = TypeVar("T")


def parse(kind: str, spec: str, named: dict, prefixed: dict) -> tuple[str, str | None]:
    """(name, None) for a named spec; (prefix, absolute model directory) for `prefix:MODEL`."""
    if spec in named:
        return spec, None
    prefix, sep, model = spec.partition(":")
    if sep and prefix in prefixed:
        return prefix, str(resolve_model(model))
    known = ", ".join([*named, *(f"{p}:<{' or '.join(CATALOG)} or a model dir>" for p in prefixed)])
    raise GlyphDistError(f"unknown {kind} {spec!r}; known: {known}")


def canonical(kind: str, spec: str, named: dict, prefixed: dict) -> str:
    """`spec` with its model named by an absolute directory: the same model wherever it is read."""
    name, path = parse(kind, spec, named, prefixed)
    return name if path is None else f"{name}:{path}"


def build(kind: str, spec: str, named: dict[str, Callable[..., T]], prefixed: dict[str, Callable[..., T]],
          **options) -> T:
    """`named[spec](**options)`, or `prefixed[prefix](model directory, **options)` for a spec `prefix:MODEL`."""
    name, path = parse(kind, spec, named, prefixed)
    return named[name](**options) if path is None else prefixed[name](path, **options)
