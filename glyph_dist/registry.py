"""Named things looked up by name: one lookup, one list of choices, one error message.

`Registry("provider", {"full": Full, ...})` maps names to classes or factories; `get(name)` returns
the entry or raises `unknown provider 'x'; known: a, b, c`, and `choices()` gives the names in
registration order (for argparse `choices=` and YAML checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from glyph_dist.errors import GlyphDistError

T = TypeVar("T")


class Registry(Generic[T]):
    """A read-only name -> entry table that names its kind in its errors."""

    def __init__(self, kind: str, entries: Mapping[str, T]):
        self.kind = kind
        self._entries = dict(entries)

    def get(self, name: str) -> T:
        """The entry of `name`; an unknown name is an error listing the known ones."""
        if name in self._entries:
            return self._entries[name]
        raise GlyphDistError(self.unknown(name))

    def check(self, names: Iterable[str]) -> None:
        """Every name is registered, else one error naming the unknown ones."""
        unknown = [n for n in names if n not in self._entries]
        if unknown:
            raise GlyphDistError(self.unknown(*unknown))

    def unknown(self, *names: str) -> str:
        return f"unknown {self.kind} {', '.join(map(repr, names))}; known: {', '.join(self._entries)}"

    def choices(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self):
        return self._entries.items()

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
