"""Rule-based extraction of relational tuples from the suites' teach statements.

Every statement form is one `Pattern` in `PATTERNS`: a compiled regex with named groups, the
confidence the form states (a hedged "Reportedly, ..." is low) and `Template`s whose fields are
`str.format` strings over the groups; a matching statement gives one `Fact` per template. The first pattern that matches
wins; a statement no pattern matches gives no facts. Entity types that the surface form reveals
(a person's name, "a lamp" is a product, a maze landmark) ride along as hints; where it does not
("Harbor Books is in Lyon." could be a store in a city or a city in a country) the type is left to
the schema index of the memory.

Spatial landmarks are scoped by their maze ("the bakery in maze 17"): the same landmark name in two
mazes is two entities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from glyph_dist.memory.base import OPPOSITE

EVENT_VERBS = ("met", "called", "helped", "visited", "interviewed", "thanked")
HEDGED_CONFIDENCE = 0.3  # a rumour: the statement itself says it is unconfirmed

_NAME = r"[A-ZÀ-ÖØ-Þ][\w'&-]*(?: [A-ZÀ-ÖØ-Þ][\w'&-]*)*"  # a capitalised name: "Alice Moreau", "Harbor Books", "Lyon"
_THE = r"the [a-z]+(?: [a-z]+)*"  # "the library", "the cake shop"
_VERB = "|".join(EVENT_VERBS)
_DIRECTION = "|".join(OPPOSITE)


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


@dataclass(frozen=True)
class Pattern:
    """One statement form and the tuples it states."""

    regex: re.Pattern
    templates: tuple[Template, ...]
    confidence: float = 1.0


def _event_templates() -> tuple[Template, ...]:
    return (Template("{subject}", "{verb}", "{other}", time="{day}", head_type="person", tail_type="person"),
            Template("{subject}", "{verb}_at", "{place}", time="{day}", qualifier="{other}",
                     head_type="person", tail_type="place"))


def _move_templates() -> tuple[Template, ...]:
    """A move states the edge both ways: B is north of A, and A is south of B."""
    return (Template("{to} in {maze}", "{direction}_of", "{origin} in {maze}",
                     head_type="landmark", tail_type="landmark"),
            Template("{origin} in {maze}", "{reverse}_of", "{to} in {maze}",
                     head_type="landmark", tail_type="landmark"))


PATTERNS: dict[str, Pattern] = {  # statement form -> pattern, tried in this order
    "event": Pattern(re.compile(
        rf"^On (?P<day>day \d+), (?P<subject>{_NAME}) (?P<verb>{_VERB}) (?P<other>{_NAME}) at (?P<place>{_THE})\.$"),
        _event_templates()),
    "correction": Pattern(re.compile(
        rf"^Actually, on (?P<day>day \d+), (?P<subject>{_NAME}) (?P<verb>{_VERB}) (?P<other>{_NAME}) "
        rf"at (?P<place>{_THE}), not at (?P<old>{_THE})\.$"),
        _event_templates()),
    "purchase": Pattern(re.compile(
        rf"^(?P<buyer>{_NAME}) bought an? (?P<product>[a-z]+(?: [a-z]+)*) at (?P<store>{_NAME})\.$"),
        (Template("{buyer}", "bought", "{product}", head_type="person", tail_type="product"),
         Template("{buyer}", "bought_at", "{store}", qualifier="{product}", head_type="person", tail_type="store"))),
    "rumour": Pattern(re.compile(
        rf"^(?:Reportedly|Allegedly|Supposedly), (?P<inner>{_NAME}) is in (?P<outer>{_NAME})\.$"),
        (Template("{inner}", "located_in", "{outer}"),), confidence=HEDGED_CONFIDENCE),
    "misfit": Pattern(re.compile(rf"^The (?P<thing>[a-z]+(?: [a-z]+)*) is in (?P<outer>{_NAME})\.$"),
                      (Template("{thing}", "located_in", "{outer}", head_type="product"),)),
    "location": Pattern(re.compile(rf"^(?P<inner>{_NAME}) is in (?P<outer>{_NAME})\.$"),
                        (Template("{inner}", "located_in", "{outer}"),)),
    "move": Pattern(re.compile(
        rf"^In (?P<maze>maze \d+), going (?P<direction>{_DIRECTION}) from (?P<origin>{_THE}) "
        rf"leads to (?P<to>{_THE})\.$"),
        _move_templates()),
    "blocked": Pattern(re.compile(
        rf"^In (?P<maze>maze \d+), going (?P<direction>{_DIRECTION}) from (?P<origin>{_THE}) is blocked\.$"),
        (Template("{origin} in {maze}", "blocked", "{direction}", head_type="landmark", tail_type="direction"),)),
    "trip": Pattern(re.compile(
        rf"^In (?P<maze>maze \d+), a trip from (?P<origin>{_THE}) to (?P<goal>{_THE}) "
        rf"went (?P<route>(?:{_DIRECTION})(?:, (?:{_DIRECTION}))*)\.$"),
        (Template("{origin} in {maze}", "trip_to", "{goal} in {maze}", qualifier="{route}",
                  head_type="landmark", tail_type="landmark"),)),
}


def _fill(field: str | None, groups: dict[str, str]) -> str | None:
    return None if field is None else field.format(**groups)


def extract(text: str, step: int) -> list[Fact]:
    """The facts a teach statement states; [] for a statement of no known form."""
    for pattern in PATTERNS.values():
        match = pattern.regex.match(text.strip())
        if match is None:
            continue
        groups = match.groupdict()
        if "direction" in groups:
            groups["reverse"] = OPPOSITE[groups["direction"]]
        return [Fact(head=_fill(t.head, groups), relation=_fill(t.relation, groups), tail=_fill(t.tail, groups),
                     time=_fill(t.time, groups), confidence=pattern.confidence, source=text, step=step,
                     qualifier=_fill(t.qualifier, groups), head_type=t.head_type, tail_type=t.tail_type)
                for t in pattern.templates]
    return []
