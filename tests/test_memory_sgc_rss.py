import numpy as np
import pytest
from pydantic import ValidationError

from glyph_dist.memory.base import Services, Statement
from glyph_dist.memory.sgc_rss import SgcRss, SgcRssConfig
from glyph_dist.memory.tuples import HEDGED_CONFIDENCE, extract

PURCHASE = "Alice Moreau bought a lamp at Harbor Books."
LOCATION = "Harbor Books is in Lyon."
COUNTRY = "Lyon is in France."
RUMOUR = "Reportedly, Harbor Books is in Porto."
MISFIT = "The lamp is in Lyon."
DISTRACTORS = ["Alice Moreau bought a kettle at Corner Shop.", "Corner Shop is in Porto.", "Porto is in Portugal.",
               "Bob Tanaka bought a lamp at Corner Shop."]
CITY_QUESTION = "In which city did Alice Moreau buy the lamp?"
COUNTRY_QUESTION = "In which country did Alice Moreau buy the lamp?"
EVENT = "On day 12, Alice Moreau met Bob Tanaka at the library."
CORRECTION = "Actually, on day 12, Alice Moreau met Bob Tanaka at the museum, not at the library."


def whitespace_count(text: str) -> int:
    return len(text.split())


def services(log: list[str] | None = None, count=whitespace_count) -> Services:
    return Services(embed=lambda texts: np.zeros((len(texts), 4), dtype=np.float32), count=count,
                    log=(log.append if log is not None else lambda message: None))


def memory(*texts: str, log: list[str] | None = None, **config) -> SgcRss:
    module = SgcRss(services(log), SgcRssConfig.model_validate(config))
    teach(module, texts)
    return module


def teach(module: SgcRss, texts) -> None:
    start = module.counters()["offered"]
    for step, text in enumerate(texts, start=start):
        module.write(Statement(text, step))


def edges(module: SgcRss) -> set[tuple]:
    return {fact.key for *_, fact in module.graph.edges(data="fact")}


@pytest.mark.parametrize("text, expected", [
    (EVENT, [("Alice Moreau", "met", "Bob Tanaka", None, "day 12"),
             ("Alice Moreau", "met_at", "the library", "Bob Tanaka", "day 12")]),
    (CORRECTION, [("Alice Moreau", "met", "Bob Tanaka", None, "day 12"),
                  ("Alice Moreau", "met_at", "the museum", "Bob Tanaka", "day 12")]),
    ("On day 3, Chen Wei thanked Dana Okafor at the cake shop.",
     [("Chen Wei", "thanked", "Dana Okafor", None, "day 3"),
      ("Chen Wei", "thanked_at", "the cake shop", "Dana Okafor", "day 3")]),
    (PURCHASE, [("Alice Moreau", "bought", "lamp", None, None),
                ("Alice Moreau", "bought_at", "Harbor Books", "lamp", None)]),
    (LOCATION, [("Harbor Books", "located_in", "Lyon", None, None)]),
    (COUNTRY, [("Lyon", "located_in", "France", None, None)]),
    (RUMOUR, [("Harbor Books", "located_in", "Porto", None, None)]),
    (MISFIT, [("lamp", "located_in", "Lyon", None, None)]),
    ("In maze 17, going north from the fountain leads to the bakery.",
     [("the bakery in maze 17", "north_of", "the fountain in maze 17", None, None),
      ("the fountain in maze 17", "south_of", "the bakery in maze 17", None, None)]),
    ("In maze 17, going east from the bakery is blocked.", [("the bakery in maze 17", "blocked", "east", None, None)]),
    ("In maze 17, a trip from the fountain to the well went north, east, east.",
     [("the fountain in maze 17", "trip_to", "the well in maze 17", "north, east, east", None)]),
    ("The weather was nice.", []),
    ("In maze 17, going up from the fountain leads to the bakery.", []),
])
def test_extract_each_statement_form(text, expected):
    facts = extract(text, 7)
    assert [fact.key for fact in facts] == expected
    assert all(fact.source == text and fact.step == 7 for fact in facts)


def test_extraction_types_and_confidence():
    assert extract(RUMOUR, 0)[0].confidence == HEDGED_CONFIDENCE < 0.5
    assert extract(LOCATION, 0)[0].confidence == 1.0
    purchase = extract(PURCHASE, 0)
    assert [(f.head_type, f.tail_type) for f in purchase] == [("person", "product"), ("person", "store")]
    assert (extract(LOCATION, 0)[0].head_type, extract(MISFIT, 0)[0].head_type) == (None, "product")


def test_counters_count_every_statement():
    module = memory(PURCHASE, "The weather was nice.", LOCATION, PURCHASE)
    counters = module.counters()
    assert {key: counters[key] for key in ("offered", "unparsed", "extracted", "rejected")} == {
        "offered": 4, "unparsed": 1, "extracted": 5, "rejected": 2}
    assert counters["fast_tracked"] == 3 and counters["nodes"] == 4 and counters["edges"] == 3
    assert set(counters) >= {"buffered", "consolidated", "contradictions", "misfits", "pruned", "pending"}


@pytest.mark.parametrize("question, evidence, derived", [
    (CITY_QUESTION, [PURCHASE, LOCATION], "=> Alice Moreau bought the lamp in Lyon."),
    (COUNTRY_QUESTION, [PURCHASE, LOCATION, COUNTRY], "=> Alice Moreau bought the lamp in France."),
])
@pytest.mark.parametrize("budget", [16, 64, 512])
def test_multi_hop_read_returns_the_path_statements_and_the_derived_line(question, evidence, derived, budget):
    module = memory(*DISTRACTORS, PURCHASE, LOCATION, COUNTRY, EVENT)
    assert module.handles(question)
    lines = module.read(question, budget).split("\n")
    assert whitespace_count("\n".join(lines)) <= budget
    if budget == 16:
        assert lines[0] == PURCHASE
    else:
        assert lines[:len(evidence) + 1] == [*evidence, derived]
        assert "Alice Moreau bought a kettle at Corner Shop." in lines  # related by proximity, after the path
    assert "Reportedly" not in "\n".join(lines)


@pytest.mark.parametrize("budget", [16, 64, 512])
def test_multi_hop_read_fits_a_real_tokenizer_budget(tape, budget):
    def count(text: str) -> int:
        return len(tape.tokenizer(text, add_special_tokens=False).input_ids)

    module = SgcRss(services(count=count))
    teach(module, [*DISTRACTORS, PURCHASE, LOCATION, COUNTRY])
    context = module.read(COUNTRY_QUESTION, budget)
    assert count(context) <= budget
    if budget == 512:
        assert context.startswith("\n".join([PURCHASE, LOCATION, COUNTRY, "=> Alice Moreau bought the lamp in France."]))


@pytest.mark.parametrize("stream", [[PURCHASE, LOCATION, RUMOUR], [PURCHASE, RUMOUR, LOCATION],
                                    [LOCATION, PURCHASE, RUMOUR]])
def test_rumour_does_not_override_the_confirmed_location_and_is_flagged(stream):
    module = memory(*stream)
    assert "Porto" not in module.read(CITY_QUESTION, 512)  # before any consolidation too
    module.consolidate()
    assert module.read(CITY_QUESTION, 64).split("\n")[:3] == [PURCHASE, LOCATION,
                                                              "=> Alice Moreau bought the lamp in Lyon."]
    assert "Porto" not in module.read(CITY_QUESTION, 512)
    assert [flag.fact.source for flag in module.flags] == [RUMOUR]
    assert module.counters()["contradictions"] == 1
    assert ("Harbor Books", "located_in", "Porto", None, None) not in edges(module)


def test_rumour_after_the_confirmation_is_rejected_by_the_gate_and_settled_without_it():
    gated = memory(PURCHASE, LOCATION, RUMOUR)
    ungated = memory(PURCHASE, LOCATION, RUMOUR, gate={"enabled": False})
    assert (gated.counters()["rejected"], gated.counters()["contradictions"]) == (1, 1)
    assert (ungated.counters()["rejected"], ungated.counters()["contradictions"]) == (0, 1)
    assert edges(gated) == edges(ungated)


def test_correction_outranks_its_event():
    module = memory(EVENT, "On day 14, Alice Moreau met Bob Tanaka at the park.", CORRECTION)
    assert not module.handles("Where did Alice Moreau meet Bob Tanaka on day 12?")
    for question in ("Where did Alice Moreau meet Bob Tanaka on day 12?",
                     "Who did Alice Moreau meet at the museum on day 12?",
                     "On which day did Alice Moreau meet Bob Tanaka at the museum?"):
        assert module.read(question, 64).split("\n")[0] == CORRECTION
    assert [(flag.fact.tail, flag.fact.source) for flag in module.flags] == [("the library", EVENT)]


def test_misfit_is_flagged_and_never_enters_the_graph():
    module = memory(PURCHASE, LOCATION, MISFIT)
    assert module.counters()["pending"] == 1  # misfits wait for consolidation like every tuple off the fast track
    module.consolidate()
    assert module.counters()["misfits"] == 1 and module.counters()["pending"] == 0
    assert [flag.fact.source for flag in module.flags] == [MISFIT]
    assert ("lamp", "located_in", "Lyon", None, None) not in edges(module)
    teach(module, [MISFIT])
    module.consolidate()
    assert ("lamp", "located_in", "Lyon", None, None) not in edges(module)
    assert MISFIT not in module.read("Where is the lamp?", 512)


def test_schema_fast_track_off_changes_what_the_memory_holds():
    stream = [*DISTRACTORS, PURCHASE, LOCATION, COUNTRY]
    fast, slow = memory(*stream), memory(*stream, schema={"fast_track": False})
    fast_counts, slow_counts = fast.counters(), slow.counters()
    assert (fast_counts["fast_tracked"], fast_counts["buffered"], fast_counts["edges"]) == (10, 0, 10)
    assert (slow_counts["fast_tracked"], slow_counts["buffered"], slow_counts["edges"]) == (0, 10, 0)
    assert "=> Alice Moreau bought the lamp in France." in fast.read(COUNTRY_QUESTION, 64)
    slow_context = slow.read(COUNTRY_QUESTION, 64)
    assert "=>" not in slow_context  # no inference before consolidation ...
    assert all(text in slow_context for text in (PURCHASE, LOCATION, COUNTRY))  # ... but pending statements recalled
    slow.consolidate()
    assert slow.counters()["consolidated"] == 10 and edges(slow) == edges(fast)
    assert slow.read(COUNTRY_QUESTION, 64) == fast.read(COUNTRY_QUESTION, 64)


def test_periodic_consolidation_admits_what_waited():
    module = memory(*DISTRACTORS, PURCHASE, LOCATION, COUNTRY, schema={"fast_track": False},
                    consolidation={"period": 3})
    counters = module.counters()
    assert (counters["consolidations"], counters["consolidated"], counters["pending"]) == (2, 9, 1)


def test_untyped_tuple_waits_and_enters_when_it_recurs():
    once = memory(COUNTRY)
    once.consolidate()
    assert once.counters()["pending"] == 1 and once.counters()["edges"] == 0
    twice = memory(COUNTRY, COUNTRY)
    twice.consolidate()
    assert twice.counters()["consolidated"] == 1
    assert edges(twice) == {("Lyon", "located_in", "France", None, None)}


def test_gate_disabled_stores_duplicates():
    gated = memory(PURCHASE, PURCHASE, EVENT, EVENT)
    ungated = memory(PURCHASE, PURCHASE, EVENT, EVENT, gate={"enabled": False})
    assert (gated.counters()["edges"], gated.counters()["rejected"]) == (4, 4)
    assert (ungated.counters()["edges"], ungated.counters()["rejected"]) == (8, 0)


def test_spatial_read_recalls_the_moves_of_the_asked_maze():
    moves = ["In maze 17, going north from the fountain leads to the bakery.",
             "In maze 17, going east from the bakery leads to the well."]
    other = "In maze 18, going north from the fountain leads to the bakery."
    module = memory(*moves, other, "In maze 17, going east from the bakery is blocked.")
    question = "In maze 17, what is the shortest route from the fountain to the well?"
    assert not module.handles(question)
    lines = module.read(question, 64).split("\n")
    assert set(moves) <= set(lines) and other not in lines


def test_max_items_prunes_the_least_confident_oldest_first_and_logs():
    log: list[str] = []
    module = memory(PURCHASE, LOCATION, COUNTRY, EVENT, log=log, max_items=3)
    counters = module.counters()
    assert counters["edges"] + counters["pending"] <= 3 and counters["pruned"] == 3
    assert log and all("max_items=3" in line for line in log)
    assert PURCHASE not in module.read(CITY_QUESTION, 512)
    assert EVENT in module.read("Where did Alice Moreau meet Bob Tanaka on day 12?", 512)


def test_pinned_statements_survive_pruning():
    log: list[str] = []
    module = SgcRss(services(log), SgcRssConfig(max_items=2))
    module.write(Statement(PURCHASE, 0, pinned=True))
    teach(module, [LOCATION, COUNTRY])
    assert PURCHASE in module.read("What did Alice Moreau buy?", 512)
    assert module.counters()["pruned"] == 2 and len(log) == 2


@pytest.mark.parametrize("config, key", [
    ({"schema": {"fast_trak": False}}, "schema.fast_trak"),
    ({"gate": {"enable": False}}, "gate.enable"),
    ({"max_item": 3}, "max_item"),
    ({"consolidation": {"period": 0}}, "consolidation.period"),
])
def test_bad_config_is_an_error_naming_the_key(config, key):
    with pytest.raises(ValidationError, match=key.replace(".", r"\.")):
        SgcRssConfig.model_validate(config)


def test_config_sections_are_the_experiment_knob_sections():
    config = SgcRssConfig.model_validate({"schema": {"fast_track": False}, "gate": {"enabled": False}})
    assert (config.schema.fast_track, config.gate.enabled) == (False, False)
    assert config.model_dump()["schema"] == {"fast_track": False}
