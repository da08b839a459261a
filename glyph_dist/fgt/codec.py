"""Glyph codec: family id <-> glyph string, bijective base-N over a fixed alphabet of CJK characters;
and residual codes, which carry what a phrase says beyond its family's representative.

Ids are numbered in bijective base-N, so every non-empty string over the alphabet is the code of
exactly one id and ids 0..N-1 get one character, the next N^2 ids two characters, and so on. Tapes
number their families by descending frequency, which gives the most frequent families the
shortest codes. The characters are used purely as symbols.

Residual syntax. A residual follows its glyph code directly: `⟨old→new|old→new|...⟩`. Each slot
says that the run `old` of the representative reads `new` in the phrase (`new` may be empty: the run
is dropped). Decoding walks the representative left to right: a slot's `old` is found at its first
occurrence at or after the end of the previous slot's `old`, replaced by `new`, and everything
between slots is copied. For example, with the representative `A table for 4 at 6 pm today.`,
`⟨4→two|6→7|today→tomorrow⟩` decodes to `A table for two at 7 pm tomorrow.`

Slots come from a diff (difflib) of word, whitespace and punctuation tokens; a slot whose `old`
would be empty (an insertion) or would be found too early is widened over neighbouring equal
tokens until decoding finds it where it belongs. A residual is *complete* when it lists every run
in which the phrase differs from the representative: then decoding rebuilds the phrase exactly,
character for character (whitespace and punctuation included); `encode_residual` only makes
complete residuals. An empty residual (no slots, written as nothing) means the phrase is the
representative. A phrase or representative holding one of the marks `⟨ ⟩ | →`, or an empty
representative, has no residual.
"""

from __future__ import annotations

import difflib
import re

from glyph_dist.errors import GlyphDistError

CJK_START = 0x4E00  # first code point of the CJK Unified Ideographs block
CJK_BLOCK_SIZE = 20_992
DEFAULT_ALPHABET_SIZE = 2048


class GlyphCodec:
    def __init__(self, alphabet_size: int = DEFAULT_ALPHABET_SIZE):
        if not 2 <= alphabet_size <= CJK_BLOCK_SIZE:
            raise GlyphDistError(f"glyph alphabet size must be in 2..{CJK_BLOCK_SIZE}, got {alphabet_size}")
        self.alphabet = "".join(chr(CJK_START + i) for i in range(alphabet_size))
        self.base = alphabet_size

    def encode(self, family_id: int) -> str:
        if family_id < 0:
            raise GlyphDistError(f"glyph ids are non-negative, got {family_id}")
        digits, remaining = [], family_id + 1
        while remaining:
            remaining -= 1
            remaining, digit = divmod(remaining, self.base)
            digits.append(self.alphabet[digit])
        return "".join(reversed(digits))

    def decode(self, glyph: str) -> int:
        if not glyph:
            raise GlyphDistError("empty glyph code")
        value = 0
        for char in glyph:
            digit = ord(char) - CJK_START
            if not 0 <= digit < self.base:
                raise GlyphDistError(f"{char!r} in glyph code {glyph!r} is not in the {self.base}-glyph alphabet")
            value = value * self.base + digit + 1
        return value - 1


RESIDUAL_OPEN, RESIDUAL_CLOSE, SLOT_SEPARATOR, SLOT_ARROW = "⟨", "⟩", "|", "→"
RESIDUAL_MARKS = (RESIDUAL_OPEN, RESIDUAL_CLOSE, SLOT_SEPARATOR, SLOT_ARROW)
_TOKENS = re.compile(r"\w+|\s+|[^\w\s]")


def _offsets(text: str) -> list[int]:
    """Start of each diff token of `text`, then len(text)."""
    return [m.start() for m in _TOKENS.finditer(text)] + [len(text)]


def residual_slots(phrase: str, representative: str) -> list[tuple[str, str]] | None:
    """The (old, new) slots of the complete residual of `phrase`, in order; None when either text
    holds a residual mark or the representative is empty."""
    if not representative or any(mark in text for mark in RESIDUAL_MARKS for text in (phrase, representative)):
        return None
    rep, phr = _offsets(representative), _offsets(phrase)
    matcher = difflib.SequenceMatcher(None, [representative[a:b] for a, b in zip(rep, rep[1:])],
                                      [phrase[a:b] for a, b in zip(phr, phr[1:])], autojunk=False)
    slots: list[tuple[str, str]] = []
    cursor = 0  # end of the previous slot's run in the representative
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        new = phrase[phr[j1]:phr[j2]]
        while i1 == i2 or representative.find(representative[rep[i1]:rep[i2]], cursor) != rep[i1]:
            if rep[i1] > cursor:  # take in the equal token on the left (the phrase has it too)
                i1 -= 1
                new = representative[rep[i1]:rep[i1 + 1]] + new
            elif i2 < len(rep) - 1:  # at the cursor: take in the token on the right
                new += representative[rep[i2]:rep[i2 + 1]]
                i2 += 1
            else:  # an insertion at the very end, right after the previous slot: that slot gets it
                old, previous = slots.pop()
                slots.append((old, previous + new))
                break
        else:
            slots.append((representative[rep[i1]:rep[i2]], new))
            cursor = rep[i2]
    return slots


def encode_residual(phrase: str, representative: str) -> str | None:
    """The complete residual of `phrase` against its family's representative ("" when they are
    equal); None where `residual_slots` gives none."""
    slots = residual_slots(phrase, representative)
    if not slots:
        return slots if slots is None else ""
    return RESIDUAL_OPEN + SLOT_SEPARATOR.join(f"{old}{SLOT_ARROW}{new}" for old, new in slots) + RESIDUAL_CLOSE


def decode_residual(representative: str, residual: str) -> str:
    """The phrase a residual describes: the representative with each slot's run replaced."""
    if not residual:
        return representative
    if not (residual.startswith(RESIDUAL_OPEN) and residual.endswith(RESIDUAL_CLOSE)):
        raise GlyphDistError(f"residual {residual!r} must read {RESIDUAL_OPEN}old{SLOT_ARROW}new|...{RESIDUAL_CLOSE}")
    out, cursor = [], 0
    for slot in residual[1:-1].split(SLOT_SEPARATOR):
        old, arrow, new = slot.partition(SLOT_ARROW)
        at = representative.find(old, cursor) if old else -1
        if not arrow or SLOT_ARROW in new or at < 0:
            raise GlyphDistError(f"slot {slot!r} of residual {residual!r} does not fit the representative "
                                 f"{representative!r} after character {cursor}")
        out.append(representative[cursor:at] + new)
        cursor = at + len(old)
    return "".join(out) + representative[cursor:]
