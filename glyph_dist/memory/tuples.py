"""Extraction of relational tuples from teach statements, by the template-free reader.

`reading.read` says what kind of statement a text is and fills its fields from typed mentions and
role cues (it never matches whole sentences, see `reading.py`). Each kind has `Template`s whose
fields are `str.format` strings over the reading's fields; a statement gives one `Fact` per
template. A hedged statement ("Reportedly, ...", "... is said to ...") has low confidence. A
statement the reader cannot read gives no facts. Entity types that the reading reveals (a
person's name in an event, a product bought, a maze landmark) ride along as hints; where it does
not ("Harbor Books is in Lyon." could be a store in a city or a city in a country) the type is left
to the schema index of the memory.

Spatial landmarks are scoped by their maze ("the bakery in maze 17"): the same landmark name in two
mazes is two entities.
"""

from __future__ import annotations

from dataclasses import dataclass

from glyph_dist.memory.base import OPPOSITE
from glyph_dist.memory.reading import read

EVENT_VERBS = ("met", "called", "helped", "visited", "interviewed", "thanked")  # the seed schemas' event relations
HEDGED_CONFIDENCE = 0.3  # a rumour: the statement itself says it is unconfirmed


@dataclass(frozen=True)
class Fact:
    """One relational tuple and the statement it came from."""

    head: str
    relation: str
    tail: str
    time: str | None  # "day 12", or None for timeless facts
    confidence: float
    source: str  # the teach statement, verbatim
    step: int
    qualifier: str | None = None  # the third participant: the product bought, the person met, a trip's route
    head_type: str | None = None  # entity types the statement's form reveals; None: not stated
    tail_type: str | None = None

    @property
    def key(self) -> tuple:
        """What makes two facts the same fact (the source and the step do not)."""
        return self.head, self.relation, self.tail, self.qualifier, self.time

    @property
    def slot(self) -> tuple:
        """What a functional relation has exactly one tail for."""
        return self.head, self.relation, self.qualifier, self.time

    @property
    def terms(self) -> tuple[str, ...]:
        """The entity mentions of the fact (names, places, times)."""
        return tuple(term for term in (self.head, self.tail, self.time, self.qualifier) if term)


@dataclass(frozen=True)
class Template:
    """One tuple a pattern yields: each field is a format string over the pattern's groups."""

    head: str
    relation: str
    tail: str
    time: str | None = None
    qualifier: str | None = None
    head_type: str | None = None
    tail_type: str | None = None


def _event_templates() -> tuple[Template, ...]:
    return (Template("{subject}", "{verb}", "{other}", time="{day}", head_type="person", tail_type="person"),
            Template("{subject}", "{verb}_at", "{place}", time="{day}", qualifier="{other}",
                     head_type="person", tail_type="place"))


def _move_templates() -> tuple[Template, ...]:
    """A move states the edge both ways: B is north of A, and A is south of B."""
    return (Template("{to} in maze {maze}", "{direction}_of", "{origin} in maze {maze}",
                     head_type="landmark", tail_type="landmark"),
            Template("{origin} in maze {maze}", "{reverse}_of", "{to} in maze {maze}",
                     head_type="landmark", tail_type="landmark"))


TEMPLATES: dict[str, tuple[Template, ...]] = {  # reading kind -> the tuples it states
    "event": _event_templates(),
    "correction": _event_templates(),
    "purchase": (Template("{buyer}", "bought", "{product}", head_type="person", tail_type="product"),
                 Template("{buyer}", "bought_at", "{store}", qualifier="{product}", head_type="person",
                          tail_type="store")),
    "location": (Template("{inner}", "located_in", "{outer}"),),
    "thing_location": (Template("{thing}", "located_in", "{outer}", head_type="product"),),
    "move": _move_templates(),
    "blocked": (Template("{origin} in maze {maze}", "blocked", "{direction}", head_type="landmark",
                         tail_type="direction"),),
    "trip": (Template("{origin} in maze {maze}", "trip_to", "{goal} in maze {maze}", qualifier="{route}",
                      head_type="landmark", tail_type="landmark"),),
}


def _fill(field: str | None, values: dict[str, str]) -> str | None:
    return None if field is None else field.format(**values)


def extract(text: str, step: int) -> list[Fact]:
    """The facts a teach statement states; [] for a statement the reader cannot read."""
    reading = read(text)
    if reading is None:
        return []
    values = dict(reading.fields)
    if "direction" in values:
        values["reverse"] = OPPOSITE[values["direction"]]
    confidence = HEDGED_CONFIDENCE if reading.hedged else 1.0
    return [Fact(head=_fill(t.head, values), relation=_fill(t.relation, values), tail=_fill(t.tail, values),
                 time=_fill(t.time, values), confidence=confidence, source=text, step=step,
                 qualifier=_fill(t.qualifier, values), head_type=t.head_type, tail_type=t.tail_type)
            for t in TEMPLATES[reading.kind]]
