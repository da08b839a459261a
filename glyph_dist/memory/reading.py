"""A statement reader that does not know the sentence templates: typed mentions and role cues.

The memory modules read teach statements through `read`, which never matches a whole sentence.
It finds the typed mentions in a statement, then decides the statement's kind from the mix of
mentions and each mention's role from general English cues around it:

Mentions. `maze 17` and `day 12`; a direction, or a run of two or more directions (a route; joined
by commas, "then" or "and"); a proper name (a run of capitalised words that are not function words;
a sentence-initial word followed by a comma or colon is a discourse marker: "Actually,",
"Correction:"); a definite noun phrase ("the cake shop", sentence-initial "The" lower-cased) and an
indefinite one ("a lamp"), each running over lower-case words up to a function word, a verb of
the closed list below, a direction, a number or punctuation.

Kinds, by the mentions present:
- a maze and a route: a trip; a maze, one direction and a blocking or negating word ("blocked",
  "wall", "not", ...): a blocked way; a maze, one direction and two places: a move.
- a day and two names: an event, a correction when one place is negated ("not at", "rather than
  at", "instead of").
- two names and an indefinite noun phrase: a purchase.
- two mentions, one of them after "in": a location ("thing_location" when the contained one is a
  common noun phrase, e.g. "The lamp is in Lyon.").
Anything else is not read (None).

Roles, by the word before a mention: "from", and "of" after a direction ("north of the mill"),
mark where a move starts; "to" and "reached" the goal; "in" the container; "at", "from" and "in"
the store of a purchase; "by" after a passive ("was called by X") the agent; "not", "than",
"instead" the old place of a correction. Without a cue the earlier mention is the subject.
Hedging words (reportedly, allegedly, said, ...) mark the statement as hedged.

The word lists are general English (closed-class words, hedges, the verbs that end a noun phrase);
a statement that needs an open-class cue outside them is read wrongly or not at all, and is counted
so by the modules (SGC-RSS's `unparsed`, SMPD's `ignored`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DIRECTIONS = ("north", "south", "east", "west")
FUNCTION_WORDS = frozenset((
    "a an the this that these those some any every each no not and or but nor so yet if then than as "
    "at in on of from to by with into onto for about over under near off out up down via per through "
    "it its they them their there here he she him her his we us our you your i me my who which what "
    "is are was were be been being am has have had do does did will would can cannot could may might "
    "shall should must also only just again actually instead rather").split())
VERBS = frozenset(("leads lead led going go goes went heading head headed takes take took walked walk "
                   "walks reached reach reaches bought buy buys").split())  # verbs that end a noun phrase
HEDGES = frozenset(("reportedly allegedly supposedly reputedly purportedly apparently seemingly possibly "
                    "perhaps maybe probably rumour rumor rumours rumors rumoured rumored say says said "
                    "claim claims claimed unconfirmed unverified").split())
BLOCKING = frozenset("blocked wall walls walled closed impassable no not cannot never".split())
NEGATIONS = frozenset(("not", "than", "instead"))

_TOKEN = re.compile(r"\w[\w'&-]*|[^\w\s]")


@dataclass(frozen=True)
class Mention:
    kind: str  # maze, day, direction, route, name, place (definite), thing (indefinite)
    text: str  # the mention (a number for maze and day; places lower-cased; a route's directions joined by ", ")
    start: int  # token span
    end: int
    before: tuple[str, ...]  # the two tokens before it, lower-cased, nearest first


@dataclass(frozen=True)
class Reading:
    kind: str  # event, correction, purchase, location, thing_location, move, blocked, trip
    fields: dict[str, str] = field(default_factory=dict)
    hedged: bool = False


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _noun_word(token: str) -> bool:
    return token.isalpha() and token.islower() and token not in FUNCTION_WORDS and token not in VERBS \
        and token not in DIRECTIONS and token not in ("maze", "day")


def _is_name_word(words: list[str], i: int) -> bool:
    token = words[i]
    if not token[0].isupper() or token.lower() in FUNCTION_WORDS:
        return False
    return not (i == 0 and len(words) > 1 and words[1] in (",", ":"))  # "Actually," "Correction:"


def mentions(words: list[str]) -> list[Mention]:
    """The typed mentions of a tokenised statement, in order."""
    found, i = [], 0
    lower = [w.lower() for w in words]

    def add(kind: str, text: str, start: int, end: int) -> None:
        found.append(Mention(kind, text, start, end, tuple(lower[max(start - 2, 0):start][::-1])))

    while i < len(words):
        word = lower[i]
        if word in ("maze", "day") and i + 1 < len(words) and words[i + 1].isdigit():
            add(word, words[i + 1], i, i + 2)
            i += 2
        elif word in DIRECTIONS:
            run, j = [word], i + 1
            while j < len(words):
                k = j
                while k < len(words) and lower[k] in (",", "then", "and"):
                    k += 1
                if k == j or k >= len(words) or lower[k] not in DIRECTIONS:
                    break
                run.append(lower[k])
                j = k + 1
            add("route" if len(run) > 1 else "direction", ", ".join(run), i, j)
            i = j
        elif word in ("the", "a", "an") and i + 1 < len(words) and _noun_word(words[i + 1]):
            j = i + 1
            while j < len(words) and _noun_word(words[j]):
                j += 1
            kind = "place" if word == "the" else "thing"
            add(kind, " ".join(["the", *lower[i + 1:j]]) if kind == "place" else " ".join(lower[i + 1:j]), i, j)
            i = j
        elif _is_name_word(words, i):
            j = i + 1
            while j < len(words) and _is_name_word(words, j):
                j += 1
            add("name", " ".join(words[i:j]), i, j)
            i = j
        else:
            i += 1
    return found


def _cued(candidates: list[Mention], cues: tuple[str, ...], nearest_only: bool = True) -> Mention | None:
    """The first candidate whose nearest word before it (or either of the two) is a cue."""
    for mention in candidates:
        if any(word in cues for word in (mention.before[:1] if nearest_only else mention.before)):
            return mention
    return None


def _other(candidates: list[Mention], taken: Mention | None) -> Mention | None:
    return next((m for m in candidates if m is not taken), None)


def _spatial(by_kind: dict[str, list[Mention]], lower: list[str]) -> Reading | None:
    maze, places = by_kind["maze"][0].text, by_kind["place"]
    if by_kind["route"]:
        origin = _cued(places, ("from",)) or (places[0] if places else None)
        goal = _cued([p for p in places if p is not origin], ("to", "reached", "reach")) or _other(places, origin)
        if origin and goal:
            return Reading("trip", {"maze": maze, "origin": origin.text, "goal": goal.text,
                                    "route": by_kind["route"][0].text})
        return None
    if len(by_kind["direction"]) != 1:
        return None
    direction = by_kind["direction"][0]
    starts = [p for p in places  # "from the mill", or "of" after the direction: "north of the mill"
              if p.before[:1] == ("from",) or (p.before[:1] == ("of",) and p.start > direction.start)]
    if BLOCKING & set(lower):
        origin = (starts or places or [None])[0]
        if origin is None:
            return None
        return Reading("blocked", {"maze": maze, "direction": direction.text, "origin": origin.text})
    if len(places) < 2:
        return None
    origin = starts[0] if starts else places[0]
    target = _cued([p for p in places if p is not origin], ("to", "reached", "reach")) or _other(places, origin)
    return Reading("move", {"maze": maze, "direction": direction.text, "origin": origin.text, "to": target.text})


def _agent_first(names: list[Mention], lower: list[str]) -> tuple[Mention, Mention, str | None]:
    """(agent, patient, passive verb): the name after "by" in a passive ("was called by X") is the agent."""
    for i in range(len(lower) - 2):
        if lower[i] in ("was", "were") and lower[i + 2] == "by":
            agent = next((n for n in names if n.start == i + 3), None)
            if agent is not None:
                return agent, _other(names, agent), lower[i + 1]
    return names[0], names[1], None


def _event(by_kind: dict[str, list[Mention]], lower: list[str]) -> Reading | None:
    names, places = by_kind["name"], by_kind["place"]
    subject, other, verb = _agent_first(names, lower)
    if verb is None:  # active: the first word between the two names that is not a function word
        verb = next((w for w in lower[subject.end:other.start] if w.isalpha() and w not in FUNCTION_WORDS), None)
    old = _cued(places, tuple(NEGATIONS), nearest_only=False)
    place = _other(places, old)
    if verb is None or place is None:
        return None
    fields = {"day": f"day {by_kind['day'][0].text}", "subject": subject.text, "verb": verb, "other": other.text,
              "place": place.text}
    return Reading("correction", fields | {"old": old.text}) if old else Reading("event", fields)


def _purchase(by_kind: dict[str, list[Mention]], lower: list[str]) -> Reading:
    names = by_kind["name"]
    store = _cued(names, ("at", "from", "in"))
    buyer = _cued(names, ("by",)) if store else None
    buyer = buyer or _other(names, store)
    store = store or _other(names, buyer)
    return Reading("purchase", {"buyer": buyer.text, "product": by_kind["thing"][0].text, "store": store.text})


def _location(candidates: list[Mention]) -> Reading | None:
    outer = _cued(candidates, ("in",))
    inner = _other(candidates, outer)
    if outer is None or inner is None or outer.kind != "name":
        return None
    if inner.kind == "place":
        return Reading("thing_location", {"thing": inner.text.removeprefix("the "), "outer": outer.text})
    return Reading("location", {"inner": inner.text, "outer": outer.text})


def read(text: str) -> Reading | None:
    """What a statement says, or None when its mentions fit no kind."""
    words = tokens(text)
    lower = [w.lower() for w in words]
    found = mentions(words)
    by_kind: dict[str, list[Mention]] = {kind: [] for kind in ("maze", "day", "direction", "route", "name", "place",
                                                               "thing")}
    for mention in found:
        by_kind[mention.kind].append(mention)
    hedged = bool(HEDGES & set(lower))
    if by_kind["maze"]:
        reading = _spatial(by_kind, lower)
    elif by_kind["day"] and len(by_kind["name"]) >= 2:
        reading = _event(by_kind, lower)
    elif len(by_kind["name"]) >= 2 and by_kind["thing"]:
        reading = _purchase(by_kind, lower)
    elif len(by_kind["name"]) + len(by_kind["place"]) == 2:
        reading = _location([m for m in found if m.kind in ("name", "place")])
    else:
        reading = None
    return Reading(reading.kind, reading.fields, hedged) if reading else None
