"""Glyph codec: family id <-> glyph string, bijective base-N over a fixed alphabet of CJK characters.

Ids are numbered in bijective base-N, so every non-empty string over the alphabet is the code of
exactly one id and ids 0..N-1 get one character, the next N^2 ids two characters, and so on. Tapes
number their families by descending frequency, which gives the most frequent families the
shortest codes. The characters are used purely as symbols.
"""

from __future__ import annotations

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
