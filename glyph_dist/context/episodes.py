"""Episodes with questions (the DESIGN.md episode format), read and checked line by line.

A turn may carry `step`, `reward` and `pinned` (as a memory suite's teach statements do); they are
kept in `Episode.turn_meta` for the providers whose memories use them. A file whose lines have no
`split` key runs whole, whatever split is asked for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import iter_jsonl, split_sentences


@dataclass(frozen=True)
class Question:
    question: str
    answer: str
    evidence: tuple[int, ...]
    evidence_position: float  # last evidence turn / (turns - 1)
    evidence_texts: tuple[str, ...] | None = None  # what must be in a context verbatim (default: the evidence turns' sentences)
    kind: str | None = None  # the question's type where the data set names one (`type`: single_hop, temporal, ...)


@dataclass(frozen=True)
class Episode:
    episode_id: str
    turns: tuple[tuple[str, str], ...]  # (role, text)
    questions: tuple[Question, ...]
    digest: str  # of the episode's turns: memories of two different episodes never share an FGMS actor
    turn_meta: tuple[dict, ...] = ()  # per turn, its `step`, `reward` and `pinned` where given (empty: none)

    def evidence_sentences(self, question: Question) -> tuple[str, ...]:
        """The sentences of the question's evidence turns: a turn is present in a context when each
        of its sentences is there verbatim (FGMS keeps a turn's sentences as separate spans). A
        question that names its evidence texts (a memory suite's) is checked against those."""
        if question.evidence_texts is not None:
            return question.evidence_texts
        return tuple(s for i in question.evidence for s in split_sentences(self.turns[i][1]))


TURN_META = ("step", "reward", "pinned")  # turn keys a memory may use besides role and text


def episode_digest(turns: tuple[tuple[str, str], ...]) -> str:
    return hashlib.blake2b(json.dumps(turns).encode("utf-8"), digest_size=6).hexdigest()


def turn_line(index: int, role: str, text: str) -> str:
    """A turn as one context line, in the form FGMS renders its spans: `[t3 user] text`."""
    return f"[t{index} {role}] {' '.join(text.split())}"


def _question(raw: dict, n_turns: int, where: str) -> Question:
    try:
        evidence = tuple(int(i) for i in raw["evidence"])
        question, answer = str(raw["question"]), str(raw["answer"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GlyphDistError(f"{where}: a question needs 'question', 'answer' and a list 'evidence' ({exc!r})") from exc
    if not evidence or any(not 0 <= i < n_turns for i in evidence):
        raise GlyphDistError(f"{where}: evidence {list(evidence)} must name turns 0..{n_turns - 1}")
    if not answer.strip():
        raise GlyphDistError(f"{where}: empty answer to {question!r}")
    position = raw.get("evidence_position", max(evidence) / max(n_turns - 1, 1))
    kind = raw.get("type")
    return Question(question, answer, evidence, float(position), kind=None if kind is None else str(kind))


def _episode(raw: dict, where: str) -> Episode:
    turns = raw.get("turns")
    if not isinstance(turns, list) or not turns:
        raise GlyphDistError(f"{where}: an episode needs a non-empty list 'turns'")
    try:
        pairs = tuple((str(t.get("role", "user")), str(t["text"])) for t in turns)
    except (KeyError, AttributeError) as exc:
        raise GlyphDistError(f"{where}: every turn needs a 'text'") from exc
    questions = tuple(_question(q, len(pairs), f"{where}, question {k}") for k, q in enumerate(raw.get("questions") or []))
    meta = tuple({key: t[key] for key in TURN_META if key in t} for t in turns)
    return Episode(str(raw.get("episode_id", where)), pairs, questions, episode_digest(pairs),
                   meta if any(meta) else ())


def in_split(path: Path, records: list[tuple[int, dict]], split: str | None) -> list[tuple[int, dict]]:
    """The records of `split` (by their `split` key); all of them when `split` is None or no record
    has a `split` key; an error naming the file and the splits it has when none is of `split`."""
    splits = sorted({str(raw["split"]) for _, raw in records if "split" in raw})
    if split is None or not splits:
        return records
    if split not in splits:
        raise GlyphDistError(f"{path}: no line of split {split!r}; its splits: {', '.join(splits)} "
                             "(or none, to run the whole file)")
    return [(number, raw) for number, raw in records if raw.get("split") == split]


def load_episodes(path: Path | str, split: str | None = None) -> list[Episode]:
    """Episodes of a JSONL file (only those of `split` when given and the file has splits, see
    `in_split`); errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise GlyphDistError(f"data set not found: {path} (make it with `glyph-dist data prepare`)")
    episodes = [_episode(raw, f"{path}:{number}") for number, raw in in_split(path, list(iter_jsonl(path)), split)]
    if not any(e.questions for e in episodes):
        raise GlyphDistError(f"{path}: no episode with questions" + (f" in split {split!r}" if split else ""))
    return episodes
