"""Episodic suite: who did what with whom, where and when.

World: a cast of people (first name and surname), places ("the <noun>"), days 1-60 and six verbs.
An event (day, subject, verb, object, place) is taught as (canonical form; see `forms.py` for all)
    "On day 12, Alice Moreau met Bob Tanaka at the library."
and a correction moves an event to another place:
    "Actually, on day 12, Alice Moreau met Bob Tanaka at the museum, not at the library."
A correction always comes later in the stream than its event: in the same item or in a later one
(up to `max_lag` items later), so the later statement is the one that holds.

Each item adds a target event and distractor events, then asks one question about the target:
    where  "Where did Alice Moreau meet Bob Tanaka on day 12?"            -> "the museum"
    who    "Who did Alice Moreau meet at the museum on day 12?"           -> "Bob Tanaka"
    when   "On which day did Alice Moreau meet Bob Tanaka at the museum?" -> "day 12"
Hard distractors mostly share the target's people, day or place; easy ones are mostly random.
Every question has one answer in the whole stream because the world admits an event only when
(a) its pair of people (either order) meets at most once a day, (b) the pair meets at most once
at a place and (c) each person takes part in at most one event per (day, place); a corrected
event holds both of its places. The evidence is the event, or its correction when corrected.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from itertools import count

from glyph_dist.memory.base import Item, Statement
from glyph_dist.memory.suites.forms import Phrasing

FIRST_NAMES = (
    "Alice", "Bob", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam",
    "Maya", "Nadia", "Omar", "Paula", "Quentin", "Rosa", "Samir", "Tara", "Umar", "Vera", "Wei", "Ximena",
    "Yusuf", "Zoe", "Anton", "Bianca", "Chen", "Dara", "Emil", "Fatima", "Gustav", "Hana", "Ivan", "Julia",
    "Kofi", "Lena", "Marco", "Nora")
SURNAMES = (
    "Moreau", "Tanaka", "Okafor", "Silva", "Novak", "Haddad", "Lindqvist", "Kowalski", "Ferreira", "Nguyen",
    "Schmidt", "Rossi", "Dubois", "Petrov", "Costa", "Mendes", "Yilmaz", "Larsen", "Fischer", "Romero",
    "Ito", "Kim", "Patel", "Walsh", "Brennan", "Osei", "Varga", "Horvat", "Jansen", "Laine", "Murphy",
    "Castro", "Bauer", "Sato", "Ali", "Reyes", "Keller", "Duarte", "Ahmed", "Weber")
PLACES = (
    "the library", "the museum", "the park", "the harbour", "the station", "the bakery", "the cinema",
    "the market", "the hospital", "the school", "the gym", "the cafe", "the theatre", "the zoo",
    "the airport", "the office", "the garden", "the chapel", "the stadium", "the pier")
VERBS = {"met": "meet", "called": "call", "helped": "help", "visited": "visit", "interviewed": "interview",
         "thanked": "thank"}
PAST_TENSES = tuple(VERBS)
DAYS = range(1, 61)
KINDS = ("where", "who", "when")


def people(rng: random.Random, size: int) -> list[str]:
    """A cast of `size` distinct full names (at most every first name with every surname)."""
    names = [f"{first} {last}" for first in FIRST_NAMES for last in SURNAMES]
    return rng.sample(names, min(size, len(names)))


@dataclass(frozen=True)
class Profile:
    distractors: tuple[int, int]  # distractor events per item (inclusive range)
    shared: float  # share of distractors built to share people, day or place with the target
    target_corrections: float  # share of asked events that are corrected
    distractor_corrections: float
    same_item: float  # share of corrections that come in the item of their event
    max_lag: int  # the most items a correction comes after its event


SETTINGS = {
    "easy": Profile(distractors=(3, 6), shared=0.3, target_corrections=0.1, distractor_corrections=0.0,
                    same_item=0.5, max_lag=5),
    "hard": Profile(distractors=(9, 18), shared=0.8, target_corrections=0.3, distractor_corrections=0.1,
                    same_item=0.4, max_lag=40)}


@dataclass(frozen=True)
class Event:
    day: int
    subject: str
    verb: str  # past tense, a key of VERBS
    obj: str
    place: str

    def fields(self) -> dict[str, str]:
        return {"day": f"day {self.day}", "subject": self.subject, "verb": self.verb, "object": self.obj,
                "place": self.place}

    def text(self, phrasing: Phrasing) -> str:
        return phrasing.say("event", (self,), **self.fields())

    def correction(self, phrasing: Phrasing, place: str) -> str:
        return phrasing.say("correction", (self, place), **self.fields() | {"place": place, "old": self.place})


class World:
    """The facts claimed so far; an event or a corrected place is admitted only if it keeps questions unique."""

    def __init__(self) -> None:
        self.claimed: set[tuple] = set()

    @staticmethod
    def _place_keys(event: Event, place: str) -> list[tuple]:
        pair = frozenset((event.subject, event.obj))
        return [("pair-place", pair, place), ("person", event.subject, event.day, place),
                ("person", event.obj, event.day, place)]

    def _claim(self, keys: list[tuple]) -> bool:
        if any(key in self.claimed for key in keys):
            return False
        self.claimed.update(keys)
        return True

    def add(self, event: Event) -> bool:
        """Admit the event unless it clashes with the world."""
        if event.subject == event.obj:
            return False
        return self._claim([("pair-day", frozenset((event.subject, event.obj)), event.day),
                            *self._place_keys(event, event.place)])

    def move(self, event: Event, place: str) -> bool:
        """Admit a correction of the event to `place` unless it clashes with the world."""
        return place != event.place and self._claim(self._place_keys(event, place))


def _random_event(rng: random.Random, cast: list[str], day: int | None = None, subject: str | None = None,
                  obj: str | None = None, place: str | None = None) -> Event:
    """An event with the given parts and random others (the subject may equal the object: the world rejects it)."""
    return Event(day or rng.choice(DAYS), subject or rng.choice(cast), rng.choice(PAST_TENSES),
                 obj or rng.choice(cast), place or rng.choice(PLACES))


def _sharing_event(rng: random.Random, cast: list[str], target: Event) -> Event:
    """A random event that shares people, day or place with the target."""
    share = rng.randrange(5)
    if share == 0:
        return _random_event(rng, cast, day=target.day, subject=target.subject)
    if share == 1:
        return _random_event(rng, cast, day=target.day, obj=target.obj)
    if share == 2:
        subject, obj = (target.subject, target.obj) if rng.random() < 0.5 else (target.obj, target.subject)
        return _random_event(rng, cast, subject=subject, obj=obj)
    if share == 3:
        return _random_event(rng, cast, day=target.day, place=target.place)
    return _random_event(rng, cast, subject=target.subject, place=target.place)


def _new_event(rng: random.Random, world: World, cast: list[str], target: Event | None = None) -> Event:
    """An event the world admits: sharing parts with `target` when one is found in 30 tries, else a free one."""
    if target is not None:
        for _ in range(30):
            if world.add(event := _sharing_event(rng, cast, target)):
                return event
    while not world.add(event := _random_event(rng, cast)):
        pass
    return event


def _corrected_place(rng: random.Random, world: World, event: Event) -> str | None:
    for place in rng.sample(PLACES, len(PLACES)):
        if world.move(event, place):
            return place
    return None


def _question(kind: str, event: Event) -> tuple[str, str]:
    verb = VERBS[event.verb]
    if kind == "where":
        return f"Where did {event.subject} {verb} {event.obj} on day {event.day}?", event.place
    if kind == "who":
        return f"Who did {event.subject} {verb} at {event.place} on day {event.day}?", event.obj
    return f"On which day did {event.subject} {verb} {event.obj} at {event.place}?", f"day {event.day}"


def generate(n: int, rng: random.Random, profile: str, phrasing: Phrasing, name: str) -> list[Item]:
    settings = SETTINGS[profile]
    cast = people(rng, 12 + 2 * n)
    world = World()
    due: dict[int, list[tuple[str, str]]] = defaultdict(list)  # item -> (event text, correction) in its teach
    step = count()
    items = []
    for i in range(n):
        target = _new_event(rng, world, cast)
        distractors = [_new_event(rng, world, cast, target if rng.random() < settings.shared else None)
                       for _ in range(rng.randint(*settings.distractors))]
        asked, evidence = target, target.text(phrasing)
        for event, rate in [(target, settings.target_corrections),
                            *((d, settings.distractor_corrections) for d in distractors)]:
            if rng.random() < rate and (place := _corrected_place(rng, world, event)):
                lag = 0 if rng.random() < settings.same_item else rng.randint(1, settings.max_lag)
                due[i + lag if i + lag < n else i].append((event.text(phrasing), event.correction(phrasing, place)))
                if event is target:
                    asked, evidence = replace(target, place=place), event.correction(phrasing, place)
        texts = [event.text(phrasing) for event in [target, *distractors]]
        rng.shuffle(texts)
        for event_text, correction in due.pop(i, []):
            after = texts.index(event_text) + 1 if event_text in texts else 0
            texts.insert(rng.randint(after, len(texts)), correction)
        kind = rng.choice(KINDS)
        question, answer = _question(kind, asked)
        items.append(Item(
            item_id=f"{name}/{i}", suite="episodic", kind=kind,
            teach=tuple(Statement(text, next(step)) for text in texts),
            question=question, answer=answer, evidence=(evidence,), meta={"corrected": asked is not target}))
    return items
