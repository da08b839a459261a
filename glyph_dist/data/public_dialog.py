"""Public dialog episodes: several SGD dialogues concatenated into one long user history, with
questions about the slot values the user set, generated from the dialogue annotations.

A question asks for a slot's value at the end of its dialogue (the latest value wins); its evidence
is the user turns that set that value, each holding the answer verbatim. Questions are asked only
about services whose domain occurs once in the episode, so every question has one answer.
"""

from __future__ import annotations

import inspect
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from glyph_dist.data.corpus import ROLES, is_heldout, make_sgd_corpus
from glyph_dist.errors import GlyphDistError
from glyph_dist.files import read_json
from glyph_dist.fgt.ingest import sgd_dialogues

# The held-out split of `data/corpus` (make_sgd_corpus's defaults): val and test episodes hold only
# dialogues that no tape built from sgd_train.jsonl has seen.
_CORPUS_DEFAULTS = inspect.signature(make_sgd_corpus).parameters
HELDOUT_FRACTION: float = _CORPUS_DEFAULTS["heldout_fraction"].default
HELDOUT_SEED: int = _CORPUS_DEFAULTS["seed"].default
TEST_SHARE = 0.6  # of the held-out dialogues; the rest make the val episodes
EPISODES = {"train": 160, "val": 24, "test": 24}
DIALOGUES_RANGE = (6, 16)
QUESTIONS_RANGE = (5, 10)

DOMAIN_NOUNS = {
    "Alarm": "alarm", "Banks": "bank transfer", "Buses": "bus trip", "Events": "event booking",
    "Flights": "flight", "Homes": "apartment search", "Hotels": "hotel stay", "Media": "movie rental",
    "Movies": "movie", "Music": "song", "RentalCars": "car rental", "Restaurants": "restaurant reservation",
    "RideSharing": "taxi ride", "Services": "appointment", "Travel": "sightseeing trip", "Weather": "weather check",
    "Trains": "train trip", "Calendar": "calendar event", "Payment": "payment", "Messaging": "message",
}
SLOT_QUESTIONS = {
    "location": "Which city did the user want for the {thing}?",
    "city": "Which city did the user ask about for the {thing}?",
    "area": "In which city was the user looking for an apartment?",
    "destination": "Which destination did the user give for the {thing}?",
    "destination_city": "Which city did the user want to fly to?",
    "origin_city": "Which city did the user want to fly from?",
    "from_location": "Which city did the user want the bus to leave from?",
    "to_location": "Which city did the user want to travel to by bus?",
    "pickup_city": "In which city did the user want to pick up the rental car?",
    "city_of_event": "In which city did the user want to go to an event?",
    "time": "What time did the user want for the {thing}?",
    "appointment_time": "What time did the user want the {thing}?",
    "pickup_time": "At what time did the user want to pick up the rental car?",
    "leaving_time": "At what time did the user want the bus to leave?",
    "new_alarm_time": "What time did the user want the new alarm set for?",
    "date": "What date did the user want for the {thing}?",
    "appointment_date": "On which date did the user want the {thing}?",
    "departure_date": "On what date did the user want to fly out?",
    "return_date": "On what date did the user want to fly back?",
    "leaving_date": "On which date did the user want to leave on the bus?",
    "check_in_date": "What check-in date did the user want for the {thing}?",
    "visit_date": "On which date did the user want to visit the apartment?",
    "pickup_date": "On which date did the user want to pick up the rental car?",
    "dropoff_date": "On which date did the user want to return the rental car?",
    "stay_length": "How many days did the user want to stay at the hotel?",
    "number_of_days": "For how many days did the user want the {thing}?",
    "number_of_seats": "How many seats did the user want for the {thing}?",
    "number_of_riders": "How many riders was the {thing} for?",
    "number_of_rooms": "How many rooms did the user want for the {thing}?",
    "number_of_beds": "How many bedrooms did the user want in the apartment?",
    "number_of_baths": "How many bathrooms did the user want in the apartment?",
    "number_checked_bags": "How many bags did the user want to check in?",
    "travelers": "How many travelers did the user want bus tickets for?",
    "passengers": "How many passengers did the user want flight seats for?",
    "genre": "What genre did the user want for the {thing}?",
    "category": "Which category did the user pick for the {thing}?",
    "subcategory": "Which kind of event did the user ask about?",
    "type": "What type did the user want for the {thing}?",
    "account_type": "Which account type did the user mention for the {thing}?",
    "recipient_account_type": "Which account type did the money recipient have?",
    "transfer_amount": "How much money did the user want to transfer?",
    "recipient_name": "Who did the user want to send the money to?",
    "restaurant_name": "Which restaurant did the user want?",
    "hotel_name": "Which hotel did the user want?",
    "place_name": "Which hotel did the user want?",
    "property_name": "Which apartment did the user pick?",
    "therapist_name": "Which therapist did the user want?",
    "movie_name": "Which movie did the user want?",
    "title": "Which movie title did the user mention?",
    "song_name": "Which song did the user want to hear?",
    "event_name": "Which event did the user want?",
    "director": "Which director did the user mention for the {thing}?",
    "starring": "Which actor did the user want in the {thing}?",
    "actors": "Which actor did the user want in the {thing}?",
    "artist": "Which artist did the user ask for?",
    "album": "Which album did the user mention?",
    "year": "From which year did the user want the {thing}?",
    "star_rating": "What star rating did the user want for the {thing}?",
    "price_range": "What price range did the user want for the {thing}?",
    "flight_class": "Which seating class did the user want on the flight?",
    "airlines": "Which airline did the user prefer?",
    "subtitle_language": "Which subtitle language did the user want?",
    "playback_device": "On which device did the user want the song played?",
    "new_alarm_name": "What name did the user want for the new alarm?",
}


@dataclass(frozen=True)
class SlotFact:
    """A slot's value at the end of a dialogue and the (dialogue-local) user turns that set it."""

    dialogue_id: str
    service: str
    slot: str
    answer: str
    evidence: tuple[int, ...]
    superseded: tuple[int, ...]
    aliases: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return self.dialogue_id, self.service, self.slot


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def occurs(value: str, text: str) -> bool:
    """`value` is in `text` verbatim, not inside a longer word or number."""
    start = text.find(value)
    while start >= 0:
        before, after = text[start - 1:start], text[start + len(value):start + len(value) + 1]
        if not _is_word_char(before) and not _is_word_char(after):
            return True
        start = text.find(value, start + 1)
    return False


def _user_informs(turn: dict) -> Iterator[tuple[str, str, str]]:
    """(service, slot, value) for each value the user informs and says verbatim in this turn."""
    text = turn.get("utterance", "")
    for frame in turn.get("frames", []):
        for action in frame.get("actions", []):
            if action.get("act") == "INFORM":
                for value in action.get("values", []):
                    if value and occurs(value, text):
                        yield frame["service"], action["slot"], value


def dialogue_facts(dialogue: dict) -> list[SlotFact]:
    """The user-set slots whose value at the end of the dialogue was said verbatim by the user.

    The final value is the last user state of the service (all surface forms of one value); a slot
    whose final value came from elsewhere (accepting an offer, a normalised value) is skipped.
    """
    informs: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    final_state: dict[str, dict] = {}
    for index, turn in enumerate(dialogue["turns"]):
        if turn.get("speaker") != "USER":
            continue
        for frame in turn.get("frames", []):
            if "state" in frame:
                final_state[frame["service"]] = frame["state"].get("slot_values", {})
        for service, slot, value in _user_informs(turn):
            informs[service, slot].append((index, value))
    facts = []
    for (service, slot), sets in informs.items():
        final = final_state.get(service, {}).get(slot, [])
        superseded = [i for i, value in sets if value not in final]
        current = [(i, value) for i, value in sets if value in final and i > max(superseded, default=-1)]
        if current:
            answer = current[-1][1]
            facts.append(SlotFact(str(dialogue["dialogue_id"]), service, slot, answer,
                                  tuple(sorted({i for i, _ in current})), tuple(sorted(set(superseded))),
                                  tuple(v for v in final if v != answer)))
    return facts


def load_descriptions(sgd_dir: Path) -> dict[tuple[str, str], str]:
    """(service, slot) -> the slot's description in the SGD schema.json."""
    schema = read_json(sgd_dir / "schema.json")
    return {(service["service_name"], slot["name"]): slot["description"]
            for service in schema for slot in service.get("slots", [])}


def domain(service: str) -> str:
    return service.split("_")[0]


def question_text(fact: SlotFact, descriptions: dict[tuple[str, str], str]) -> str:
    """A readable question per slot name; otherwise one built from the schema's description."""
    thing = DOMAIN_NOUNS.get(domain(fact.service), domain(fact.service).lower())
    if fact.slot in SLOT_QUESTIONS:
        return SLOT_QUESTIONS[fact.slot].format(thing=thing)
    description = descriptions.get((fact.service, fact.slot), fact.slot.replace("_", " ")).rstrip(".")
    description = re.sub(r"^the ", "", description[0].lower() + description[1:])
    return f"For the {thing}, what did the user give as the {description}?"


def _least_used_first(items: Sequence, uses: Counter, rng: random.Random, key=lambda item: item) -> list:
    """`items` ordered by how often they were used, ties broken at random."""
    return sorted(items, key=lambda item: (uses[key(item)], rng.random()))


def _domains(dialogue: dict) -> Counter:
    return Counter(domain(s) for s in dialogue.get("services", []))


def askable_facts(dialogue: dict) -> list[SlotFact]:
    """The dialogue's facts whose domain has one service in it (one answer per question)."""
    domains = _domains(dialogue)
    return [f for f in dialogue_facts(dialogue) if domains[domain(f.service)] == 1]


def split_pools(dialogue_ids: Sequence[str], seed: int) -> dict[str, list[str]]:
    """Corpus-train dialogues make train episodes; the corpus-held-out ones are divided into test and val."""
    heldout = sorted(d for d in dialogue_ids if is_heldout(d, HELDOUT_FRACTION, HELDOUT_SEED))
    random.Random(f"sgd-pools:{seed}").shuffle(heldout)
    cut = round(len(heldout) * TEST_SHARE)
    held = set(heldout)
    return {"train": sorted(d for d in dialogue_ids if d not in held), "val": sorted(heldout[cut:]),
            "test": sorted(heldout[:cut])}


def _question(fact: SlotFact, offset: int, descriptions: dict[tuple[str, str], str]) -> dict:
    return {"question": question_text(fact, descriptions), "answer": fact.answer,
            "evidence": [offset + i for i in fact.evidence], "slot": fact.slot, "service": fact.service,
            "dialogue_id": fact.dialogue_id, "revised": bool(fact.superseded),
            "superseded": [offset + i for i in fact.superseded], "aliases": list(fact.aliases)}


def _draw(pool: Sequence[str], domains: dict[str, Counter], facts: dict[str, list[SlotFact]], size: int,
          questions: int, uses: Counter, asked_in: Counter, rng: random.Random) -> tuple[list[str], list[str]]:
    """`size` dialogues: question dialogues (pairwise disjoint domains, `questions` facts between
    them; those asked about least often first) and context dialogues (domains outside theirs; the
    least used first)."""
    asked: list[str] = []
    blocked: set[str] = set()
    n_facts = 0
    for dialogue_id in _least_used_first(pool, asked_in, rng):
        if n_facts >= questions or len(asked) == size:
            break
        if facts[dialogue_id] and not blocked & domains[dialogue_id].keys():
            asked.append(dialogue_id)
            blocked |= domains[dialogue_id].keys()
            n_facts += len(facts[dialogue_id])
    order = _least_used_first(pool, uses, rng)
    context = [d for d in order if d not in asked and not blocked & domains[d].keys()][:size - len(asked)]
    uses.update(asked + context)
    asked_in.update(asked)
    return asked, context


def _episode(episode_id: str, split: str, dialogues: list[dict], facts: list[SlotFact],
             descriptions: dict[tuple[str, str], str]) -> dict:
    """Concatenate `dialogues` and ask about `facts`."""
    turns, offsets = [], {}
    for dialogue in dialogues:
        offsets[str(dialogue["dialogue_id"])] = len(turns)
        turns.extend({"role": ROLES.get(t.get("speaker"), "user"), "text": t.get("utterance", "")}
                     for t in dialogue["turns"])
    questions = sorted((_question(f, offsets[f.dialogue_id], descriptions) for f in facts),
                       key=lambda q: (q["evidence"][-1], q["slot"]))
    return {"episode_id": episode_id, "split": split, "dialogue_ids": list(offsets),
            "dialogue_starts": list(offsets.values()), "turns": turns, "questions": questions}


def public_dialog_episodes(sgd_dir: Path, seed: int) -> list[dict]:
    """EPISODES[split] episodes per split, each of 6-16 dialogues of that split's pool.

    Dialogues are drawn least-used first, so a pool is covered evenly before any dialogue repeats
    (the held-out pools are smaller than the episodes need); questions are spread the same way.
    """
    if not sgd_dir.is_dir():
        raise GlyphDistError(f"{sgd_dir}: SGD directory not found (expected dialogues_*.json and schema.json)")
    descriptions = load_descriptions(sgd_dir)
    dialogues = {str(d["dialogue_id"]): d for d in sgd_dialogues(sgd_dir)}
    facts = {dialogue_id: askable_facts(d) for dialogue_id, d in dialogues.items()}
    domains = {dialogue_id: _domains(d) for dialogue_id, d in dialogues.items()}
    episodes = []
    for split, pool in split_pools(list(dialogues), seed).items():
        if not pool:
            raise GlyphDistError(f"{sgd_dir}: no dialogue falls in the {split} split; use a larger SGD split")
        rng = random.Random(f"sgd-episodes:{seed}:{split}")
        uses: Counter = Counter()
        asked_in: Counter = Counter()
        asked: Counter = Counter()
        for _ in range(EPISODES[split]):
            size, n_questions = rng.randint(*DIALOGUES_RANGE), rng.randint(*QUESTIONS_RANGE)
            with_questions, context = _draw(pool, domains, facts, size, n_questions, uses, asked_in, rng)
            candidates = [f for d in with_questions for f in facts[d]]
            chosen = _least_used_first(candidates, asked, rng, key=lambda f: f.key)[:n_questions]
            asked.update(f.key for f in chosen)
            order = with_questions + context
            rng.shuffle(order)
            episode_id = f"sgd-concat-{seed}-{len(episodes):05d}"
            episodes.append(_episode(episode_id, split, [dialogues[d] for d in order], chosen, descriptions))
    return episodes
