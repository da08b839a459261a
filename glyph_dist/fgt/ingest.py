"""Ingest: text files, JSONL episodes and SGD dialogues -> de-duplicated phrases with stable ids."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from glyph_dist.errors import GlyphDistError

# A sentence ends at ., ! or ? (optionally followed by closing quotes/brackets) before whitespace.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+")
_WHITESPACE = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")
_ASCII_NON_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())


def count_letters(text: str) -> int:
    """Letters in `text` (any script); ASCII text takes a fast path."""
    if text.isascii():
        return len(text.encode("ascii").translate(None, _ASCII_NON_LETTERS))
    return len(_LETTER.findall(text))


@dataclass(frozen=True)
class PhraseFilter:
    """Length and character filters applied to every candidate phrase."""

    min_chars: int = 8
    max_chars: int = 200
    min_words: int = 2
    min_letter_ratio: float = 0.5

    def accepts(self, phrase: str) -> bool:
        if not self.min_chars <= len(phrase) <= self.max_chars:
            return False
        if len(phrase.split()) < self.min_words:
            return False
        return count_letters(phrase) / len(phrase) >= self.min_letter_ratio


@dataclass(frozen=True)
class Phrase:
    phrase_id: str
    text: str
    count: int


def phrase_id(text: str) -> str:
    """Stable id of a phrase: the same text gives the same id in every build."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def split_sentences(text: str) -> list[str]:
    """Split text into whitespace-normalised sentences; a line break always ends one."""
    sentences = []
    for line in text.splitlines():
        line = _WHITESPACE.sub(" ", line).strip()
        sentences.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return sentences


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise GlyphDistError(f"{path}: cannot read file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise GlyphDistError(f"{path}:{line}: not valid UTF-8 (byte offset {exc.start})") from exc


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; malformed lines name file and line."""
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GlyphDistError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise GlyphDistError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        yield lineno, record


def episode_documents(path: Path) -> Iterator[str]:
    """One document per episode of a JSONL file ({"episode_id", "turns": [{"role", "text"}]})."""
    for lineno, record in iter_jsonl(path):
        turns = record.get("turns")
        if not isinstance(turns, list):
            raise GlyphDistError(f"{path}:{lineno}: episode has no 'turns' list")
        texts = [turn.get("text") if isinstance(turn, dict) else None for turn in turns]
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise GlyphDistError(f"{path}:{lineno}: turns[{i}] has no string 'text'")
        yield "\n".join(texts)


def sgd_dialogues(path: Path) -> Iterator[dict]:
    """Dialogues of one SGD file, or of every dialogues_*.json file of an SGD split directory."""
    files = sorted(path.glob("dialogues_*.json")) if path.is_dir() else [path]
    if not files:
        raise GlyphDistError(f"{path}: no dialogues_*.json files in this SGD directory")
    for file in files:
        try:
            dialogues = json.loads(_read_text(file))
        except json.JSONDecodeError as exc:
            raise GlyphDistError(f"{file}:{exc.lineno}: malformed JSON ({exc.msg})") from exc
        if not isinstance(dialogues, list):
            raise GlyphDistError(f"{file}: expected a JSON list of SGD dialogues")
        for i, dialogue in enumerate(dialogues):
            if not isinstance(dialogue, dict) or not isinstance(dialogue.get("turns"), list):
                raise GlyphDistError(f"{file}: dialogue {i} has no 'turns' list")
            yield dialogue


def source_documents(path: Path) -> Iterator[str]:
    """Documents of one corpus source, one turn a line: an SGD dialogue (a directory or a
    dialogues_*.json file), a JSONL episode, or a line of a text file."""
    if not path.exists():
        raise GlyphDistError(f"{path}: no such file or directory")
    if path.is_dir() or path.name.startswith("dialogues_"):
        for dialogue in sgd_dialogues(path):
            yield "\n".join(turn.get("utterance", "") for turn in dialogue["turns"])
    elif path.suffix == ".jsonl":
        yield from episode_documents(path)
    else:
        yield from (line for line in _read_text(path).splitlines() if line.strip())


def count_phrases(texts: Iterable[str], phrase_filter: PhraseFilter = PhraseFilter()) -> Counter[str]:
    """Occurrence count of every accepted sentence."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(s for s in split_sentences(text) if phrase_filter.accepts(s))
    return counts


def ingest(paths: Iterable[Path | str], phrase_filter: PhraseFilter = PhraseFilter()) -> list[Phrase]:
    """All accepted phrases of the sources, exact duplicates merged, most frequent first."""
    counts: Counter[str] = Counter()
    sources = [Path(p) for p in paths]
    for path in sources:
        counts.update(count_phrases(source_documents(path), phrase_filter))
    if not counts:
        names = ", ".join(str(p) for p in sources) or "(no paths)"
        raise GlyphDistError(f"empty corpus: no phrase passed the filters in {names}")
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [Phrase(phrase_id(text), text, count) for text, count in ordered]
