"""The template-free statement reader, and SGC-RSS and SMPD on the held-out surface forms.

The held-out thresholds are floors at the levels measured once on the held-out profile (the
reader's rules were written against the seen forms only); a change that reads held-out forms worse
fails them.
"""

import numpy as np
import pytest

from glyph_dist.memory.base import Services
from glyph_dist.memory.reading import read
from glyph_dist.memory.sgc_rss import SgcRss
from glyph_dist.memory.smpd import Smpd
from glyph_dist.memory.suites import generate_suite
from glyph_dist.memory.suites.forms import recognise

READING_KIND = {"misfit": "thing_location", "rumour": "location"}
SERVICES = Services(embed=lambda texts: np.zeros((len(texts), 4), np.float32), count=lambda text: len(text.split()),
                    log=lambda message: None)


def _lower(value: str) -> str:
    return "t" + value[1:] if value.startswith("The ") else value


def expected(kind: str, fields: dict[str, str]) -> dict[str, str]:
    """What the reader should find in a generated statement of `kind` with `fields`."""
    f = {name: _lower(value) for name, value in fields.items()}
    if kind in ("event", "correction"):
        names = {"day": "day", "subject": "subject", "verb": "verb", "other": "object", "place": "place", "old": "old"}
    elif kind == "purchase":
        names = {"buyer": "person", "product": "product", "store": "store"}
    elif kind == "misfit":
        names = {"thing": "thing", "outer": "outer"}
    elif kind in ("location", "rumour"):
        names = {"inner": "inner", "outer": "outer"}
    else:
        f["maze"] = f["maze"].removeprefix("maze ")
        names = {"maze": "maze", "origin": "origin", "direction": "direction", "to": "target", "goal": "goal",
                 "route": "moves"}
    return {mine: f[theirs] for mine, theirs in names.items() if theirs in f}


def reading_accuracy(profile: str) -> float:
    right = total = 0
    for suite in ("episodic", "semantic", "spatial"):
        for item in generate_suite(suite, 40, 21, profile):
            for statement in item.teach:
                kind, _, fields = recognise(statement.text)
                reading = read(statement.text)
                total += 1
                right += (reading is not None and reading.kind == READING_KIND.get(kind, kind)
                          and reading.fields == expected(kind, fields) and reading.hedged == (kind == "rumour"))
    return right / total


@pytest.mark.parametrize("text, kind, fields, hedged", [
    ("On day 12, Bob Tanaka was met by Alice Moreau at the library.", "event",
     {"day": "day 12", "subject": "Alice Moreau", "verb": "met", "other": "Bob Tanaka", "place": "the library"}, False),
    ("Correction: Alice Moreau met Bob Tanaka at the museum on day 12, not at the library.", "correction",
     {"day": "day 12", "subject": "Alice Moreau", "verb": "met", "other": "Bob Tanaka", "place": "the museum",
      "old": "the library"}, False),
    ("At Harbor Books, Alice Moreau bought an umbrella.", "purchase",
     {"buyer": "Alice Moreau", "product": "umbrella", "store": "Harbor Books"}, False),
    ("Allegedly, Harbor Books is located in Porto.", "location", {"inner": "Harbor Books", "outer": "Porto"}, True),
    ("In Lyon, there is the lamp.", "thing_location", {"thing": "lamp", "outer": "Lyon"}, False),
    ("In maze 17, the cake shop is north of the old oak.", "move",
     {"maze": "17", "direction": "north", "origin": "the old oak", "to": "the cake shop"}, False),
    ("In maze 17, there is a wall east of the well.", "blocked",
     {"maze": "17", "direction": "east", "origin": "the well"}, False),
    ("In maze 17, a trip went north, east from the mill and reached the pond.", "trip",
     {"maze": "17", "origin": "the mill", "goal": "the pond", "route": "north, east"}, False),
])
def test_reader_finds_kind_roles_and_hedges_without_templates(text, kind, fields, hedged):
    reading = read(text)
    assert (reading.kind, reading.fields, reading.hedged) == (kind, fields, hedged)


def test_reader_reads_nothing_it_cannot_place():
    assert read("What a lovely day.") is None
    assert read("In maze 4, the fountain.") is None


def test_reader_reads_every_seen_form_right():
    assert reading_accuracy("hard") == 1.0


def test_reader_reads_most_heldout_statements_right():
    assert reading_accuracy("heldout") >= 0.75  # measured 0.79 on another seed; seen forms: 1.0


def _evidence_recall_and_derived(module_class, suite: str, profile: str) -> tuple[float, float]:
    items = generate_suite(suite, 40, 1337, profile)
    memory = module_class(SERVICES)
    for item in items:
        for statement in item.teach:
            memory.write(statement)
    contexts = [memory.read(item.question, 256) for item in items]
    recall = sum(all(e in c for e in i.evidence) for i, c in zip(items, contexts)) / len(items)
    derived = sum(any(i.answer in line for line in c.split("\n") if line.startswith(("=> ", "Route ", "Ending")))
                  for i, c in zip(items, contexts)) / len(items)
    return recall, derived


@pytest.mark.parametrize("module_class, suite, recall_floor, derived_floor", [
    (SgcRss, "episodic", 1.0, None),  # measured 1.0
    (SgcRss, "semantic", 0.1, 0.1),  # measured 0.15 and 0.125: converse verbs and "is home to" are misread
    (Smpd, "spatial", 0.95, 0.4),  # measured 1.0 and 0.55: "X lies north of Y" ends X's name at "lies"
])
def test_modules_on_heldout_forms_stay_above_their_measured_floors(module_class, suite, recall_floor, derived_floor):
    recall, derived = _evidence_recall_and_derived(module_class, suite, "heldout")
    assert recall >= recall_floor
    if derived_floor is not None:
        assert derived >= derived_floor
    assert _evidence_recall_and_derived(module_class, suite, "hard") == (1.0, 1.0 if derived_floor else 0.0)
