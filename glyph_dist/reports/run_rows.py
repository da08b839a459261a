"""A run's `results.jsonl` (`glyph-dist run ... --run-dir DIR`: one JSON object a line, one line per finished
trial, its parameters and its row) read as one study's uniform rows (`rows.Row`).

The study's declaration says what a line holds: its axes (`keys`, `compared`, `pair`) and metrics (`metrics`,
with the telemetry), under the names its `renames` give a line's keys. The compared and pairing axes must be in
every line; an axis of the tables that no line carries is left out, one that only some lines carry is an error.
Two lines with the same axes are an error too (the run varies something the study does not compare). Every
error names the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import iter_jsonl
from glyph_dist.reports.rows import TELEMETRY, Row, number
from glyph_dist.reports.studies import STUDIES
from glyph_dist.reports.study import StudyDeclaration

RESULTS = "results.jsonl"
NO_VALUE = "—"  # an axis a line sets to null


@dataclass(frozen=True)
class RunRows:
    """The rows of one run's `path` as those of the study registered as `name`, whose declaration (`study`)
    keeps only the table axes the lines carry."""

    path: Path
    name: str
    study: StudyDeclaration
    rows: list[Row]


def read_lines(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) of every non-blank line of `path`; a missing or empty file is an error."""
    if not path.is_file():
        raise GlyphDistError(f"{path} not found: a run writes it (glyph-dist run EXPERIMENT.yaml --run-dir DIR)")
    found = list(iter_jsonl(path))
    if not found:
        raise GlyphDistError(f"{path} holds no rows: no trial of the run finished")
    return found


def study_of(lines: list[tuple[int, dict]], path: Path) -> str:
    """The one registered study whose marks every line carries."""
    fits = [name for name, study in STUDIES.items()
            if all(line.get(key) in values for _, line in lines for key, values in study.marks.items())]
    if len(fits) != 1:
        which = "none" if not fits else ", ".join(fits)
        marks = "; ".join(f"{name}: {key} {' or '.join(map(str, values))}" for name, study in STUDIES.items()
                          for key, values in study.marks.items())
        raise GlyphDistError(f"{path}: the rows fit {which} of the studies ({marks}): name one with --study")
    return fits[0]


def _renamed(line: dict, renames: dict[str, str], where: str) -> dict:
    found: dict = {}
    for key, value in line.items():
        name = renames.get(key, key)
        if name in found:
            raise GlyphDistError(f"{where}: two keys read as {name!r} in this study; keep one")
        found[name] = value
    return found


def _axis(line: dict, axis: str, where: str) -> object:
    value = line[axis]
    if isinstance(value, (dict, list)):
        raise GlyphDistError(f"{where}: axis {axis!r} is not a single value: {value!r}")
    return NO_VALUE if value is None else value


def _present(study: StudyDeclaration, lines: list[tuple[int, dict]], path: Path) -> StudyDeclaration:
    """`study` with the table axes no line carries left out; a needed axis missing from a line is an error."""
    carried = {axis for _, line in lines for axis in study.keys if axis in line}
    needed = [*[axis for axis in study.keys if axis in carried], study.compared, study.pair]
    for at, line in lines:
        missing = [axis for axis in needed if axis not in line]
        if missing:
            raise GlyphDistError(f"{path}:{at}: no {', '.join(map(repr, missing))}: every row of the {study.name} "
                                 f"names its {', '.join(needed)}")
    return replace(study, group=tuple(a for a in study.group if a in carried),
                   within=tuple(a for a in study.within if a in carried))


def load_run_rows(path: Path, study: str | None = None) -> RunRows:
    """The lines of `path` as rows of `study` (by name; None: the study the lines' marks pick)."""
    path = Path(path)
    lines = read_lines(path)
    name = study or study_of(lines, path)
    declaration = STUDIES.get(name)
    lines = [(n, _renamed(line, declaration.renames, f"{path}:{n}")) for n, line in lines]
    declaration = _present(declaration, lines, path)
    compared = declaration.compared  # its values read as text, as the declared baselines are
    axes = [*declaration.keys, compared, declaration.pair]
    numbers = [*declaration.metrics, *TELEMETRY]
    rows, seen = [], {}
    for n, line in lines:
        where = f"{path}:{n}"
        named = {axis: _axis(line, axis, where) for axis in axes}
        row = Row.of({**named, compared: str(named[compared])},
                     {metric: number(line[metric], metric, Path(where)) for metric in numbers if metric in line})
        same = tuple(row.axes.values())
        if same in seen:
            raise GlyphDistError(f"{where}: the same axes as line {seen[same]} ({row.axes}): the run varies something "
                                 f"the {declaration.name} does not compare; report each setting's run apart")
        seen[same] = n
        rows.append(row)
    return RunRows(path, name, declaration, rows)
