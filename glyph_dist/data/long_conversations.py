"""Long conversations: one user's SGD dialogues chained into dated sessions, 300-700 turns an
episode, with questions written from the slot annotations and evidence spread over the history.

Each session opens with a date turn (`Session 4 of the conversation, on Tuesday, 14 March 2023.`,
role `system`) followed by one SGD dialogue; sessions are days to weeks apart. Domains recur across
sessions, so slot values are revised. Questions, each with a `type`:

- `single_hop`: a slot set in one session only; evidence: the turn that last set it.
- `revision`: a slot whose value changed (within a session or in a later one). "Most recently, ..."
  asks for the latest value; evidence: the turn that set it (earlier values are in `superseded`).
- `multi_hop`: "In the session where the user gave "X" for the <thing> (<slot>), <question>": the
  bridge value X is said in that session only and the asked slot has other values in other
  sessions, so the answer needs both turns; evidence: the bridge turn and the answer turn.
- `temporal`: the session date is the answer ("On what date was the session in which the user gave
  "X" ...?") or the key ("In the session of 14 March 2023, <question>"); evidence: the session's
  date turn and the fact's turn.

Every answer is in its answer turn verbatim. Per episode, questions are taken evenly from ten bins of
evidence position (last evidence turn / (turns - 1)) and, within a bin, from the four types in turn.

Splits: only dialogues that the corpus holds out from tapes (`data corpus` defaults) are used, so no
tape built from `sgd_train.jsonl` has seen them; they are divided into a `dev` pool (for tuning) and
a `test` pool (never for tuning), disjoint by dialogue. A pool is smaller than its episodes need, so
a dialogue recurs in other episodes of its split (least-used first), never in the other split.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from glyph_dist.data.corpus import ROLES, is_heldout
from glyph_dist.data.public_dialog import (DOMAIN_NOUNS, HELDOUT_FRACTION, HELDOUT_SEED, SlotFact, dialogue_facts,
                                           domain, load_descriptions, occurs, question_text)
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import sgd_dialogues

SPLITS = ("dev", "test")
SEED = 4242  # this data set's own seed (`data prepare --long-seed`)
EPISODES = {"dev": 5, "test": 5}
TURNS_RANGE = (300, 700)  # per episode, date turns included
QUESTIONS_PER_EPISODE = 120
POSITION_BINS = 10
TYPES = ("single_hop", "revision", "multi_hop", "temporal")
GAP_DAYS = (1, 21)  # between two sessions
FIRST_DAY, FIRST_DAY_SPREAD = date(2022, 1, 3), 365
DATE_ROLE = "system"
# Slots that two services of one domain name differently, mapped to one name: one fact for questions.
SAME_SLOT = {("Hotels", "destination"): "location", ("Hotels", "number_of_days"): "stay_length"}


@dataclass(frozen=True)
class Session:
    number: int  # 1-based
    day: date
    dialogue: dict
    start: int  # episode index of the date turn; the dialogue's turns follow it

    @property
    def date_text(self) -> str:
        return f"{self.day.day} {self.day:%B %Y}"

    @property
    def header(self) -> str:
        return f"Session {self.number} of the conversation, on {self.day:%A}, {self.date_text}."

    @property
    def end(self) -> int:
        """One past the session's last turn."""
        return self.start + 1 + len(self.dialogue["turns"])


@dataclass(frozen=True)
class Fact:
    """A slot value a session ended with, placed in the episode."""

    session: Session
    slot: SlotFact

    @property
    def key(self) -> tuple[str, str]:
        """(domain, slot): the same fact whichever service of the domain set it."""
        name = domain(self.slot.service)
        return name, SAME_SLOT.get((name, self.slot.slot), self.slot.slot)

    @property
    def turn(self) -> int:
        """The turn that last set the value."""
        return self.session.start + 1 + max(self.slot.evidence)

    @property
    def superseded(self) -> list[int]:
        return [self.session.start + 1 + i for i in self.slot.superseded]


def split_pools(dialogue_ids: Sequence[str], seed: int) -> dict[str, list[str]]:
    """The corpus-held-out dialogues, shuffled by `seed` and cut in half: dev and test."""
    heldout = sorted(d for d in dialogue_ids if is_heldout(d, HELDOUT_FRACTION, HELDOUT_SEED))
    random.Random(f"long-pools:{seed}").shuffle(heldout)
    cut = len(heldout) // 2
    return {"dev": sorted(heldout[:cut]), "test": sorted(heldout[cut:])}


def draw_sessions(pool: Sequence[str], dialogues: dict[str, dict], uses: Counter, rng: random.Random) -> list[str]:
    """Dialogues for one episode, least used first (ties at random), while the episode stays within
    a length drawn from TURNS_RANGE."""
    target = rng.randint(*TURNS_RANGE)
    chosen, turns = [], 0
    for dialogue_id in sorted(pool, key=lambda d: (uses[d], rng.random())):
        size = 1 + len(dialogues[dialogue_id]["turns"])
        if turns + size <= target:
            chosen.append(dialogue_id)
            turns += size
    if turns < TURNS_RANGE[0]:
        raise GlyphDistError(f"a pool of {len(pool)} dialogues cannot fill an episode of {TURNS_RANGE[0]} turns")
    uses.update(chosen)
    rng.shuffle(chosen)
    return chosen


def sessions_of(dialogues: Sequence[dict], rng: random.Random) -> list[Session]:
    day = FIRST_DAY + timedelta(days=rng.randrange(FIRST_DAY_SPREAD))
    sessions, start = [], 0
    for number, dialogue in enumerate(dialogues, start=1):
        sessions.append(Session(number, day, dialogue, start))
        start = sessions[-1].end
        day += timedelta(days=rng.randint(*GAP_DAYS))
    return sessions


def episode_turns(sessions: Sequence[Session]) -> list[dict]:
    turns = []
    for session in sessions:
        turns.append({"role": DATE_ROLE, "text": session.header})
        turns.extend({"role": ROLES.get(t.get("speaker"), "user"), "text": t.get("utterance", "")}
                     for t in session.dialogue["turns"])
    return turns


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:]


def _slot_words(fact: Fact, descriptions: dict[tuple[str, str], str]) -> str:
    """`"X" for the <thing> (<slot description>)`: how a question names a value the user gave."""
    service = fact.slot.service
    thing = DOMAIN_NOUNS.get(domain(service), domain(service).lower())
    description = descriptions.get((service, fact.slot.slot), fact.slot.slot.replace("_", " ")).rstrip(".")
    return f'"{fact.slot.answer}" for the {thing} ({re.sub(r"^the ", "", _lower_first(description))})'


def _said_elsewhere(value: str, session: Session, turns: Sequence[dict]) -> bool:
    return any(occurs(value, t["text"]) for i, t in enumerate(turns) if not session.start <= i < session.end)


def _question(kind: str, text: str, answer: str, evidence: Sequence[int], fact: Fact, **extra) -> dict:
    return {"question": text, "answer": answer, "evidence": sorted(set(evidence)), "type": kind,
            "slot": fact.slot.slot, "service": fact.slot.service, "dialogue_id": fact.slot.dialogue_id,
            "session": fact.session.number, **extra}


def candidate_questions(sessions: Sequence[Session], turns: Sequence[dict],
                        descriptions: dict[tuple[str, str], str]) -> list[dict]:
    """Every question the episode supports, of the four types; a question text that would have two
    answers is dropped."""
    facts = [Fact(s, f) for s in sessions for f in dialogue_facts(s.dialogue)]
    by_key: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for fact in facts:
        by_key[fact.key].append(fact)
    varies = {key for key, group in by_key.items() if len({f.slot.answer for f in group}) > 1}
    questions = []
    for key, group in by_key.items():
        latest = max(group, key=lambda f: f.turn)
        earlier = [f for f in group if f is not latest]
        superseded = sorted({*latest.superseded, *(f.turn for f in earlier if f.slot.answer != latest.slot.answer)})
        if any(occurs(latest.slot.answer, turns[i]["text"]) for i in superseded):
            continue  # an earlier turn says the latest value too, for another slot: no clean revision
        if superseded:
            questions.append(_question("revision", "Most recently, " + _lower_first(question_text(latest.slot, descriptions)),
                                       latest.slot.answer, [latest.turn], latest, superseded=superseded))
        elif not earlier:
            questions.append(_question("single_hop", question_text(latest.slot, descriptions), latest.slot.answer,
                                       [latest.turn], latest))
    for fact in facts:
        asked = _lower_first(question_text(fact.slot, descriptions))
        if not _said_elsewhere(fact.slot.answer, fact.session, turns):
            questions.append(_question("temporal", "On what date was the session in which the user gave "
                                       f"{_slot_words(fact, descriptions)}?", fact.session.date_text,
                                       [fact.session.start, fact.turn], fact, asks="date"))
        if fact.key not in varies:
            continue
        questions.append(_question("temporal", f"In the session of {fact.session.date_text}, {asked}",
                                   fact.slot.answer, [fact.session.start, fact.turn], fact, asks="value"))
        for bridge in facts:
            if (bridge.session is fact.session and bridge.turn != fact.turn and bridge.key != fact.key
                    and bridge.slot.answer != fact.slot.answer
                    and not _said_elsewhere(bridge.slot.answer, fact.session, turns)):
                questions.append(_question("multi_hop", f"In the session where the user gave "
                                           f"{_slot_words(bridge, descriptions)}, {asked}", fact.slot.answer,
                                           [bridge.turn, fact.turn], fact, bridge_slot=bridge.slot.slot))
    answers: dict[str, set[str]] = defaultdict(set)
    for question in questions:
        answers[question["question"]].add(question["answer"])
    seen: set[str] = set()
    unique = []
    for question in questions:
        if len(answers[question["question"]]) == 1 and question["question"] not in seen:
            seen.add(question["question"])
            unique.append(question)
    return unique


def select_questions(questions: Sequence[dict], n_turns: int, count: int, rng: random.Random) -> list[dict]:
    """Up to `count` questions, an equal share from each bin of evidence position, the types taken
    in turn within a bin (in a random order); returned by evidence turn."""
    bins: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for question in questions:
        position = question["evidence"][-1] / max(n_turns - 1, 1)
        bins[min(int(position * POSITION_BINS), POSITION_BINS - 1)][question["type"]].append(question)
    quota = count // POSITION_BINS
    chosen = []
    for k in range(POSITION_BINS):
        pools = [bins[k][kind] for kind in rng.sample(TYPES, len(TYPES)) if bins[k][kind]]
        for pool in pools:
            rng.shuffle(pool)
        taken = []
        while len(taken) < quota and any(pools):
            for pool in pools:
                if pool and len(taken) < quota:
                    taken.append(pool.pop())
        chosen.extend(taken)
    return sorted(chosen, key=lambda q: (q["evidence"][-1], q["question"]))


def long_conversation_episodes(sgd_dir: Path, seed: int) -> list[dict]:
    """EPISODES[split] episodes per split, in the DESIGN.md episode format, deterministic in `seed`."""
    if not sgd_dir.is_dir():
        raise GlyphDistError(f"{sgd_dir}: SGD directory not found (expected dialogues_*.json and schema.json)")
    descriptions = load_descriptions(sgd_dir)
    dialogues = {str(d["dialogue_id"]): d for d in sgd_dialogues(sgd_dir)}
    episodes = []
    for split, pool in split_pools(list(dialogues), seed).items():
        rng = random.Random(f"long-episodes:{seed}:{split}")
        uses: Counter = Counter()
        for _ in range(EPISODES[split]):
            sessions = sessions_of([dialogues[d] for d in draw_sessions(pool, dialogues, uses, rng)], rng)
            turns = episode_turns(sessions)
            questions = select_questions(candidate_questions(sessions, turns, descriptions), len(turns),
                                         QUESTIONS_PER_EPISODE, rng)
            episodes.append({
                "episode_id": f"sgd-long-{seed}-{len(episodes):03d}", "split": split,
                "sessions": [{"session": s.number, "date": s.day.isoformat(), "dialogue_id": str(s.dialogue["dialogue_id"]),
                              "start": s.start} for s in sessions],
                "turns": turns, "questions": questions})
    return episodes
