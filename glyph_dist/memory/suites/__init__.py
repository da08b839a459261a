"""Deterministic suite generators of the memory evaluation matrix: episodic, semantic and spatial.

`generate_suite(suite, n, seed, profile)` draws one realisation of a suite: `n` items whose teach
statements form one stream (item 0's teach, then item 1's, ...; `Statement.step` counts across the
whole stream), consistent with one world apart from the deliberate corrections, rumours, misfits
and flapping reports. Every question has exactly one answer given the whole stream. A realisation
depends only on its arguments: each generator draws from its own `random.Random` seeded with the
suite, the difficulty and the seed, never from the global generator. The profile sets the
difficulty and the surface forms (`forms.py`): easy says every statement in its canonical form,
hard in any seen form, and heldout is hard's realisation said in held-out forms only (the same
world, questions and answers; other teach texts).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from glyph_dist.errors import GlyphDistError
from glyph_dist.memory.base import PROFILES, Item
from glyph_dist.memory.suites import episodic, semantic, spatial
from glyph_dist.memory.suites.forms import Phrasing
from glyph_dist.registry import Registry

DIFFICULTY = {"easy": "easy", "hard": "hard", "heldout": "hard"}  # profile -> the generators' settings
GENERATORS: Registry[Callable[[int, random.Random, str, Phrasing, str], list[Item]]] = Registry(
    "suite", {"episodic": episodic.generate, "semantic": semantic.generate, "spatial": spatial.generate})


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def generate_suite(suite: str, n: int, seed: int, profile: str = "easy") -> list[Item]:
    """`n` items of `suite` under `profile` (one of PROFILES); the same arguments give the same items."""
    generate = GENERATORS.get(suite)
    if profile not in PROFILES:
        raise GlyphDistError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    if not _is_int(n) or n <= 0:
        raise GlyphDistError(f"suite size n must be a positive integer, got {n!r}")
    if not _is_int(seed):
        raise GlyphDistError(f"suite seed must be an integer, got {seed!r}")
    difficulty = DIFFICULTY[profile]
    name = f"{suite}/{profile}/{seed}"
    world = random.Random(f"{suite}/{difficulty}/{seed}")  # heldout draws hard's world
    return generate(n, world, difficulty, Phrasing(profile, name), name)
