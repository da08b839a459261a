"""The surface forms of every teach statement, defined once for the suite generators.

Each statement type (an episodic event or its correction; a purchase, a location, a rumour, a
misfit; a maze move, a blocked way, a trip) has at least six forms: `str.format` templates over the
type's fields that vary voice, word order, synonyms and clause order. The forms are split in two
disjoint sets: `seen` (the profiles easy and hard; what the memory modules' readers and tests were
written against) and `heldout` (the profile heldout; no reader rule and no module test was written
against them). Easy says everything in the first, canonical form; hard draws any seen form;
heldout draws any held-out form with hard's difficulty. A realisation says each fact one way: the
form is drawn once per fact (`Phrasing.say` with the fact's key), so a recurring store location or
a maze edge is always the same text. The form draws come from their own generator, so a profile's
world (its events, purchases and mazes) does not depend on its wording.

The memory modules must not import this module: their extraction is measured on forms it was not
written against. `recognise` is the generators' own inverse, for the checks of the suites.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

from glyph_dist.errors import GlyphDistError

SPLITS = ("seen", "heldout")
SPLIT_OF_PROFILE = {"easy": "seen", "hard": "seen", "heldout": "heldout"}


@dataclass(frozen=True)
class Form:
    text: str  # a str.format template over the type's fields; the sentence's first letter is capitalised
    split: str  # one of SPLITS
    varies: str  # what it changes from the canonical form: voice, word order, synonym, clause order


def _seen(text: str, varies: str) -> Form:
    return Form(text, "seen", varies)


def _heldout(text: str, varies: str) -> Form:
    return Form(text, "heldout", varies)


# statement type -> its forms; the first is the canonical form (every statement of the easy profile).
# The order is `recognise`'s: a type whose forms also match another's looser form comes first.
FORMS: dict[str, tuple[Form, ...]] = {
    "correction": (  # the event's fields and `old`, the place it was first said to be at
        _seen("Actually, on {day}, {subject} {verb} {object} at {place}, not at {old}.", "canonical"),
        _seen("Correction: {subject} {verb} {object} at {place} on {day}, not at {old}.", "synonym, clause order"),
        _seen("Actually, on {day}, {object} was {verb} by {subject} at {place}, not at {old}.", "voice"),
        _heldout("On {day}, {subject} {verb} {object} not at {old} but at {place}.", "word order"),
        _heldout("To correct an earlier report: {object} was {verb} by {subject} on {day} at {place} "
                 "rather than at {old}.", "voice, synonym"),
        _heldout("It was at {place}, not at {old}, that {subject} {verb} {object} on {day}.", "word order (cleft)"),
    ),
    "event": (  # day ("day 12"), subject, verb (past tense, also the participle), object, place
        _seen("On {day}, {subject} {verb} {object} at {place}.", "canonical"),
        _seen("{subject} {verb} {object} at {place} on {day}.", "clause order"),
        _seen("On {day}, {object} was {verb} by {subject} at {place}.", "voice"),
        _heldout("At {place}, {subject} {verb} {object} on {day}.", "word order"),
        _heldout("{object} was {verb} by {subject} on {day} at {place}.", "voice, clause order"),
        _heldout("It was at {place} on {day} that {subject} {verb} {object}.", "word order (cleft)"),
    ),
    "purchase": (  # person, a ("a" or "an"), product, store
        _seen("{person} bought {a} {product} at {store}.", "canonical"),
        _seen("At {store}, {person} bought {a} {product}.", "clause order"),
        _seen("{a} {product} was bought by {person} at {store}.", "voice"),
        _heldout("{person} purchased {a} {product} from {store}.", "synonym"),
        _heldout("{store} sold {a} {product} to {person}.", "synonym (converse verb)"),
        _heldout("It was at {store} that {person} picked up {a} {product}.", "word order (cleft), synonym"),
    ),
    "rumour": (  # a hedged, wrong location: inner, outer
        _seen("Reportedly, {inner} is in {outer}.", "canonical"),
        _seen("Allegedly, {inner} is located in {outer}.", "synonym"),
        _seen("Some say {inner} is in {outer}.", "synonym"),
        _heldout("Rumour has it that {inner} is in {outer}.", "synonym"),
        _heldout("{inner} is supposedly in {outer}.", "word order, synonym"),
        _heldout("According to an unverified tip, {inner} lies in {outer}.", "synonym, clause order"),
    ),
    "misfit": (  # an off-schema distractor of a location's shape: thing (a product), outer (a city)
        _seen("The {thing} is in {outer}.", "canonical"),
        _seen("The {thing} is located in {outer}.", "synonym"),
        _seen("In {outer}, there is the {thing}.", "word order"),
        _heldout("The {thing} lies in {outer}.", "synonym"),
        _heldout("{outer} is home to the {thing}.", "converse"),
        _heldout("You will find the {thing} in {outer}.", "word order, synonym"),
    ),
    "location": (  # inner (a store or a city), outer (its city or country)
        _seen("{inner} is in {outer}.", "canonical"),
        _seen("{inner} is located in {outer}.", "synonym"),
        _seen("In {outer}, there is {inner}.", "word order"),
        _heldout("{inner} lies in {outer}.", "synonym"),
        _heldout("{outer} is home to {inner}.", "converse"),
        _heldout("You will find {inner} in {outer}.", "word order, synonym"),
    ),
    "blocked": (  # maze, direction, origin
        _seen("In {maze}, going {direction} from {origin} is blocked.", "canonical"),
        _seen("In {maze}, the way {direction} from {origin} is blocked.", "synonym"),
        _seen("In {maze}, there is a wall {direction} of {origin}.", "synonym, word order"),
        _heldout("{origin} in {maze} has no exit to the {direction}.", "word order, synonym"),
        _heldout("In {maze}, you cannot go {direction} from {origin}.", "synonym"),
        _heldout("In {maze}, a wall stops anyone heading {direction} from {origin}.", "synonym, voice"),
    ),
    "move": (  # maze ("maze 17"), direction, origin, target
        _seen("In {maze}, going {direction} from {origin} leads to {target}.", "canonical"),
        _seen("In {maze}, {target} is {direction} of {origin}.", "word order"),
        _seen("In {maze}, heading {direction} from {origin} takes you to {target}.", "synonym"),
        _heldout("{target} lies {direction} of {origin} in {maze}.", "word order, synonym"),
        _heldout("In {maze}, you reach {target} by walking {direction} from {origin}.", "clause order, synonym"),
        _heldout("From {origin} in {maze}, a path runs {direction} to {target}.", "word order, synonym"),
    ),
    "trip": (  # maze, origin, goal, moves ("north, east, east")
        _seen("In {maze}, a trip from {origin} to {goal} went {moves}.", "canonical"),
        _seen("In {maze}, someone walked from {origin} to {goal} by going {moves}.", "synonym"),
        _seen("In {maze}, a trip went {moves} from {origin} and reached {goal}.", "clause order"),
        _heldout("A traveller in {maze} got from {origin} to {goal} by heading {moves}.", "word order, synonym"),
        _heldout("In {maze}, the moves {moves} took a walker from {origin} to {goal}.", "voice, word order"),
        _heldout("{goal} in {maze} was reached from {origin} by going {moves}.", "voice"),
    ),
}


def forms(kind: str, split: str) -> tuple[Form, ...]:
    """The forms of a statement type in one split."""
    if kind not in FORMS:
        raise GlyphDistError(f"unknown statement type {kind!r}; known: {', '.join(FORMS)}")
    if split not in SPLITS:
        raise GlyphDistError(f"unknown form split {split!r}; known: {', '.join(SPLITS)}")
    return tuple(form for form in FORMS[kind] if form.split == split)


def render(form: Form, fields: dict[str, str]) -> str:
    text = form.text.format(**fields)
    return text[0].upper() + text[1:]


class Phrasing:
    """How one suite realisation words its statements: canonical (easy), or a form of the profile's
    split drawn once per fact from a generator of its own."""

    def __init__(self, profile: str, name: str):
        if profile not in SPLIT_OF_PROFILE:
            raise GlyphDistError(f"unknown profile {profile!r}; known: {', '.join(SPLIT_OF_PROFILE)}")
        self.split = SPLIT_OF_PROFILE[profile]
        self.canonical = profile == "easy"
        self.rng = random.Random(f"{name}/forms")
        self.chosen: dict[tuple, Form] = {}

    def say(self, kind: str, key: tuple, **fields: str) -> str:
        """The statement of type `kind` with `fields`, in the form drawn for the fact `key`."""
        if (kind, key) not in self.chosen:
            options = forms(kind, self.split)
            self.chosen[kind, key] = options[0] if self.canonical else self.rng.choice(options)
        return render(self.chosen[kind, key], fields)


_NAME = r"[A-Z][\w'-]*(?: [A-Z][\w'-]*)*"
_PLACE = r"[Tt]he [a-z]+(?: [a-z]+)*"
_DIRECTION = "north|south|east|west"
FIELD_SHAPES = {  # what each field looks like in the generators' statements
    "day": r"day \d+", "maze": r"maze \d+", "direction": _DIRECTION,
    "moves": rf"(?:{_DIRECTION})(?:, (?:{_DIRECTION}))*",
    "verb": "[a-z]+", "a": "[Aa]n?", "product": "[a-z]+(?: [a-z]+)*", "thing": "[a-z]+(?: [a-z]+)*",
    **dict.fromkeys(("subject", "object", "person", "store", "inner", "outer"), _NAME),
    **dict.fromkeys(("place", "old", "origin", "target", "goal"), _PLACE)}


@cache
def _pattern(text: str) -> re.Pattern:
    """A form as a regex with one named group per field, of the field's shape (a sentence-initial
    field starts with a capital)."""
    parts = re.split(r"\{(\w+)\}", text)
    body = "".join(re.escape(part) if i % 2 == 0 else rf"(?P<{part}>{FIELD_SHAPES[part]})"
                   for i, part in enumerate(parts))
    return re.compile(body)


def recognise(text: str) -> tuple[str, Form, dict[str, str]] | None:
    """(statement type, form, fields) of a generated statement, None for another text; for the suites'
    checks (a field that begins a sentence comes back capitalised)."""
    for kind, options in FORMS.items():
        for form in options:
            if match := _pattern(form.text).fullmatch(text):
                return kind, form, match.groupdict()
    return None
