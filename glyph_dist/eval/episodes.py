"""Any data set as episodes: conversation JSONL (the DESIGN.md episode format) or a memory suite file.

A suite item becomes an episode: its teach statements are the turns (step, reward and pinned kept),
its question a `SuiteQuestion` with the evidence turns and texts and the item (for the suite's own
scores). `isolation` says what gets a fresh memory: `episode`, each episode; `stream`, the whole
file, read as one teach stream (every episode's turns in order, then every question), as the
memory suites are taught.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from glyph_dist.context.episodes import Episode, Question, episode_digest, load_episodes
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import iter_jsonl
from glyph_dist.memory.base import Item

Isolation = Literal["episode", "stream"]
ISOLATIONS: tuple[str, ...] = ("episode", "stream")


@dataclass(frozen=True)
class SuiteQuestion(Question):
    item: Item | None = None


def item_episode(item: Item) -> Episode:
    """A suite item as an episode of its teach statements and its question."""
    turns = tuple(("user", s.text) for s in item.teach)
    evidence = tuple(i for i, (_, text) in enumerate(turns) if text in item.evidence)
    position = max(evidence) / max(len(turns) - 1, 1) if evidence else 1.0
    question = SuiteQuestion(item.question, item.answer, evidence, position, tuple(item.evidence), item=item)
    meta = tuple({"step": s.step, "reward": s.reward, "pinned": s.pinned} for s in item.teach)
    return Episode(item.item_id, turns, (question,), episode_digest(turns), meta)


def as_stream(episodes: list[Episode], episode_id: str) -> Episode:
    """The episodes as one: their turns in order, then all their questions (evidence renumbered)."""
    turns, meta, questions = [], [], []
    for episode in episodes:
        offset = len(turns)
        questions += [replace(q, evidence=tuple(offset + i for i in q.evidence)) for q in episode.questions]
        turns += episode.turns
        meta += episode.turn_meta or [{}] * len(episode.turns)
    last = max(len(turns) - 1, 1)
    questions = [replace(q, evidence_position=max(q.evidence) / last if q.evidence else 1.0) for q in questions]
    pairs = tuple(turns)
    return Episode(episode_id, pairs, tuple(questions), episode_digest(pairs), tuple(meta) if any(meta) else ())


def is_suite(path: Path) -> bool:
    """Whether the file is a memory suite (its first line an item with `teach`), else episodes."""
    first = next(iter_jsonl(path), None)
    if first is None:
        raise GlyphDistError(f"{path}: empty data set")
    return "teach" in first[1]


def isolation_of(path: Path, isolation: Isolation | None) -> str:
    """`isolation`, or by default `stream` for a memory suite (as suites are taught) and `episode` otherwise."""
    if isolation is not None and isolation not in ISOLATIONS:
        raise GlyphDistError(f"isolation {isolation!r} is not one of {', '.join(ISOLATIONS)}")
    return isolation or ("stream" if is_suite(path) else "episode")


def load_data(path: Path | str, split: str | None = None, isolation: Isolation | None = None) -> list[Episode]:
    """The episodes with questions of a data set file under `isolation` (see `isolation_of`; a split
    only of a file with `split` keys: a file without them runs whole)."""
    from glyph_dist.memory.suites.io import read_suite

    path = Path(path)
    if not path.is_file():
        raise GlyphDistError(f"data set not found: {path}")
    isolation = isolation_of(path, isolation)
    episodes = [item_episode(item) for item in read_suite(path)] if is_suite(path) else load_episodes(path, split)
    if isolation == "stream":
        return [as_stream(episodes, path.stem)]
    return [e for e in episodes if e.questions]
