"""Uniform result rows, the report layer's input: a trial's axes (what ran), its metrics (what it scored) and its
telemetry (`tokens`, `time_ms_per_100`, `rss_mb`, `latency_ms_mean`), whichever file they were read from.

Each study reads its files into `Row`s with the checks below (an error names the file and the key), their axes as
its declaration's `ConfigAxes` say; `wide` and `long` make the frames the layer computes on (`study.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import json_field

TELEMETRY = ("tokens", "time_ms_per_100", "rss_mb", "latency_ms_mean")


@dataclass(frozen=True)
class Row:
    """One trial (or one cell of one): `axes` name it, `metrics` and `telemetry` are its numbers (NaN: undefined)."""

    axes: dict[str, object]
    metrics: dict[str, float]
    telemetry: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, axes: dict[str, object], values: dict[str, float]) -> Row:
        """A row whose numbers are `values`, the telemetry among them set apart."""
        return cls(axes, {k: v for k, v in values.items() if k not in TELEMETRY},
                   {k: v for k, v in values.items() if k in TELEMETRY})


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(value: object, where: str, path: Path) -> float:
    """A value read at `where` in `path`; JSON null (an undefined value) reads as NaN."""
    if value is None:
        return math.nan
    if not is_number(value):
        raise GlyphDistError(f"{path}: '{where}' is not a number: {value!r}")
    return float(value)


def required_number(mapping: object, key: str, where: str, path: Path) -> float:
    """`mapping[key]`, which must be present and a number (not null)."""
    value = json_field(mapping, key, where, path)
    if not is_number(value):
        raise GlyphDistError(f"{path}: '{where}.{key}' is not a number: {value!r}")
    return float(value)


def integer(mapping: object, key: str, where: str, path: Path) -> int:
    """`mapping[key]`, which must be present and a whole number."""
    value = json_field(mapping, key, where, path)
    if not is_number(value) or not float(value).is_integer():
        raise GlyphDistError(f"{path}: '{where}.{key}' is not an integer: {value!r}")
    return int(value)


@dataclass(frozen=True)
class ConfigAxes:
    """How a result file's settings (its `config`) read as its rows' axes: `texts`, present and read as text;
    `integers`, present whole numbers; `defaults`, text where set and not empty, else the default given; each
    under the name `renames` gives it."""

    texts: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    defaults: dict[str, str] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)

    def read(self, config: object, path: Path, where: str = "config") -> dict[str, object]:
        """The axes of `config`, found at `where` in `path` (an error names both and the key)."""
        if not isinstance(config, dict):
            raise GlyphDistError(f"{path}: '{where}' is not a JSON object")
        values = {**{key: str(json_field(config, key, where, path)) for key in self.texts},
                  **{key: integer(config, key, where, path) for key in self.integers},
                  **{key: str(config.get(key) or default) for key, default in self.defaults.items()}}
        return {self.renames.get(key, key): value for key, value in values.items()}


def wide(rows: Iterable[Row]) -> pd.DataFrame:
    """One row per Row: its axes, metrics and telemetry as columns."""
    return pd.DataFrame([{**row.axes, **row.metrics, **row.telemetry} for row in rows])


def long(rows: Iterable[Row], axes: Sequence[str]) -> pd.DataFrame:
    """One row per Row and number it holds: the `axes` named, `name` and `value` (a number the trial wrote as
    undefined stays apart from one it did not write)."""
    found = [{**{axis: row.axes[axis] for axis in axes}, "name": name, "value": value}
             for row in rows for name, value in {**row.metrics, **row.telemetry}.items()]
    return pd.DataFrame(found, columns=[*axes, "name", "value"])


def melted(frame: pd.DataFrame, axes: Sequence[str], names: Iterable[str]) -> pd.DataFrame:
    """A wide frame's columns `names` as long rows, as `long` makes them: the `axes` named, `name` and `value`."""
    return frame.melt(id_vars=list(axes), value_vars=list(names), var_name="name", value_name="value")
