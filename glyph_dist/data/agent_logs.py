"""Synthetic agent logs: long user/assistant sessions on a software project with questions about
the decisions taken in them.

Each decision (database, deploy region, deadline, ...) is set at a uniformly drawn turn, may be
revised later (the latest value is the answer), and sits among distractors: chit-chat, work
reports, tool output and values that were only considered. No value of a pool is a substring of
another, and filler text holds none of them, so an answer occurs only in its evidence turns.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

SPLIT_SHARES = (("train", 0.70), ("val", 0.15))  # the rest is test
TURNS_RANGE = (20, 400)
DECISIONS_RANGE = (5, 10)
# Chance of a decision being set once, then revised once or twice.
REVISIONS_WEIGHTS = (0.6, 0.3, 0.1)
TERSE_REVISION_CHANCE = 0.3


@dataclass(frozen=True)
class Slot:
    """A kind of decision: its values and the slot-specific ways to set and ask about it."""

    name: str
    noun: str
    values: tuple[str, ...]
    user: tuple[str, ...] = ()
    assistant: tuple[str, ...] = ()
    asks: tuple[str, ...] = ()


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")

SLOTS = (
    Slot("database", "database",
         ("Postgres", "MySQL", "SQLite", "MongoDB", "CockroachDB", "DynamoDB", "Cassandra", "MariaDB", "ClickHouse"),
         user=("We'll store everything in {v}.", "The data layer should sit on {v}."),
         assistant=("I've written the schema migrations for {v}.",),
         asks=("Which database did we settle on?", "What database is {project} going to use?",
               "Remind me, what's our datastore for {project}?", "Which DB did we end up choosing?")),
    Slot("region", "deploy region",
         ("eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2", "eu-central-1", "ap-northeast-1", "ca-central-1",
          "sa-east-1", "eu-north-1", "us-east-2"),
         user=("Deploy everything to {v}, please.", "Our users are mostly near {v}, so that's where we deploy."),
         assistant=("The Terraform stack now targets {v}.",),
         asks=("Which region are we deploying {project} to?", "What AWS region did we agree on?",
               "Where does {project} get deployed, region-wise?")),
    Slot("deadline", "deadline",
         tuple(f"{month} {day}" for month in MONTHS for day in (11, 14, 19, 23, 27)),
         user=("This has to ship by {v}.", "Leadership wants it live no later than {v}."),
         assistant=("I put {v} on the project calendar as the ship date.",),
         asks=("What is the deadline for {project}?", "By what date does this need to ship?",
               "When's the hard due date?")),
    Slot("budget", "monthly budget cap",
         tuple(f"${amount:,}" for amount in range(2_500, 20_001, 750)),
         user=("Keep the cloud spend under {v} a month.", "Finance approved at most {v} per month for this."),
         assistant=("I set a billing alarm at {v} per month.",),
         asks=("What's the monthly budget cap?", "How much are we allowed to spend per month?",
               "What monthly spending limit did we agree on for {project}?")),
    Slot("language", "implementation language",
         ("Python", "Rust", "TypeScript", "Java", "Kotlin", "Elixir", "Scala", "C#", "Ruby", "Swift"),
         user=("Write it in {v}; that's what the team knows best.", "The codebase will be {v}."),
         assistant=("I scaffolded the repository as a {v} project.",),
         asks=("Which programming language is {project} written in?",
               "What language did we pick for the implementation?", "Which language are we coding this in?")),
    Slot("framework", "web framework",
         ("Django", "FastAPI", "Flask", "Spring Boot", "Rails", "Express.js", "Phoenix", "Actix", "Laravel", "NestJS"),
         user=("Build the HTTP layer on {v}.", "I'd like the API built with {v}."),
         assistant=("The request handlers are now wired up with {v}.",),
         asks=("Which web framework are we using?", "What framework did we go with for {project}?",
               "Which framework serves the API?")),
    Slot("oncall", "on-call engineer",
         ("Priya Raman", "Tomás Oliveira", "Dana Whitfield", "Kenji Sato", "Amara Okafor", "Lena Fischer",
          "Marcus Bell", "Sofia Lindqvist", "Ravi Menon", "Hannah Cho"),
         user=("{v} will be on call for the launch week.", "Page {v} if anything breaks after hours."),
         assistant=("PagerDuty now routes alerts to {v}.",),
         asks=("Who is on call?", "Who's the on-call engineer for {project}?",
               "Which person should get paged if {project} breaks?")),
    Slot("port", "service port",
         ("3000", "4000", "5000", "5173", "7000", "8000", "8080", "8081", "8443", "8888", "9090", "9443"),
         user=("The service should listen on port {v}.", "Expose the API on port {v}."),
         assistant=("The container now binds to port {v}.",),
         asks=("Which port does the service listen on?", "What port did we configure for {project}?",
               "On which port is the API exposed?")),
    Slot("retention", "log retention period",
         tuple(f"{days} days" for days in (14, 21, 30, 45, 60, 90, 180, 365)),
         user=("Keep logs for {v}, then purge them.", "Compliance says we retain logs {v}."),
         assistant=("The log bucket lifecycle rule now expires objects after {v}.",),
         asks=("How long do we keep logs?", "What's the log retention period?",
               "After how long are logs purged?")),
    Slot("queue", "message queue",
         ("Kafka", "RabbitMQ", "NATS", "SQS", "Pulsar", "Redpanda"),
         user=("Events should go through {v}.", "Use {v} between the services."),
         assistant=("The producers and consumers now talk through {v}.",),
         asks=("Which message queue are we using?", "What broker did we choose for events?",
               "What carries events between the services?")),
    Slot("ci", "CI system",
         ("GitHub Actions", "GitLab CI", "Jenkins", "CircleCI", "Buildkite", "TeamCity"),
         user=("Run the builds on {v}.", "CI should live in {v}."),
         assistant=("The pipeline definition for {v} is committed.",),
         asks=("Which CI system runs our builds?", "Where does CI run for {project}?",
               "What do we use for continuous integration?")),
    Slot("latency", "p99 latency target",
         tuple(f"{ms} ms" for ms in (120, 150, 180, 200, 250, 300, 400, 500, 750)),
         user=("Requests must stay under {v} at the 99th percentile.", "Our SLO is {v} p99."),
         assistant=("The load-test gate fails any build whose p99 exceeds {v}.",),
         asks=("What's the p99 latency target?", "What latency budget did we agree on for requests?",
               "How fast must requests be at the 99th percentile?")),
    Slot("cache_ttl", "cache TTL",
         tuple(f"{minutes} minutes" for minutes in (10, 15, 20, 30, 45, 60, 90)),
         user=("Cache responses for {v}.", "Cached entries should expire after {v}."),
         assistant=("The cache layer now expires entries after {v}.",),
         asks=("How long is the cache TTL?", "What TTL did we choose for cached responses?",
               "How long do cached entries live?")),
    Slot("release_branch", "release branch",
         tuple(f"release/{major}.{minor}" for major in (1, 2, 3, 4) for minor in range(10)),
         user=("Cut the release from {v}.", "Ship from the {v} branch."),
         assistant=("I created {v} and protected it.",),
         asks=("Which branch are we releasing from?", "What's the release branch called?",
               "Which branch do we ship from?")),
    Slot("channel", "team channel",
         ("#proj-atlas", "#ops-alerts", "#backend-guild", "#release-train", "#infra-pager", "#team-falcon",
          "#deploys", "#payments-eng"),
         user=("Post status updates in {v}.", "Alerts and updates go to {v}."),
         assistant=("The deploy bot now posts to {v}.",),
         asks=("Which Slack channel should alerts go to?", "Where do we post updates for {project}?",
               "Which channel gets the deploy notifications?")),
    Slot("backup_window", "nightly backup time",
         tuple(f"{hour:02d}:{minute:02d} UTC" for hour in range(6) for minute in (0, 15, 30, 45)),
         user=("Run the nightly backup at {v}.", "Backups should start at {v} every night."),
         assistant=("The backup cron job now fires at {v}.",),
         asks=("When does the nightly backup run?", "What time is the backup window?",
               "At what time do backups start?")),
)

SET_USER = ("Let's go with {v} for the {noun}.", "Decision for the record: the {noun} is {v}.",
            "Please use {v} as the {noun}.", "For {project}, the {noun} will be {v}.",
            "After the meeting we agreed: {v} for the {noun}.")
SET_ASSISTANT = ("Understood, I've recorded {v} as the {noun} in the decision log.",
                 "Done: the {noun} is now set to {v} in config/settings.yaml.",
                 "Confirmed, {v} is the {noun} going forward.")
REVISE_USER = ("Actually, let's switch the {noun} to {v}.", "Change of plan: the {noun} is now {v}, not {old}.",
               "Update from the leads: move the {noun} from {old} to {v}.",
               "Scrap the earlier decision about the {noun}; we're going with {v}.")
# Revisions that do not name the slot: the turn that set the old value is needed to read them.
REVISE_USER_TERSE = ("Scratch {old}, make it {v} instead.", "On second thought, {v} rather than {old}.",
                     "Hmm, not {old} after all. Let's do {v}.")
REVISE_ASSISTANT = ("Following your review, I changed the {noun} from {old} to {v}.",
                    "Heads-up: the {noun} is now {v}; I updated every reference to {old}.")
CONSIDERED = ("{v} came up as an option for the {noun}, but we ruled it out.",
              "Another team uses {v} as their {noun}; not relevant for us.",
              "If things change we might revisit {v} for the {noun}, but not now.",
              "Someone suggested {v} for the {noun}. We passed.",
              "Out of curiosity, what would change if the {noun} were {v}? No action needed.")
ASKS = ("What did we decide for the {noun}?", "What is the current {noun} for {project}?",
        "Can you remind me of the {noun} we agreed on?")

PROJECTS = ("the billing service", "the checkout API", "the telemetry pipeline", "the internal wiki",
            "the mobile backend", "the search indexer", "the notification service", "the warehouse sync job",
            "the feature-flag platform", "the customer portal")
INTROS = ("Hi! We're starting work on {project} today. I'll share decisions as we go.",
          "Morning. Let's pick up {project}; there are a few choices to make.",
          "Kick-off for {project}: I'll be around all day if you have questions.")
ACKS = ("Noted.", "Got it, I'll keep that in mind.", "Understood. Updating the plan.",
        "Okay, I've added that to the decision log.", "Makes sense, thanks.")
CHAT_OPENERS = ("", "Sorry,", "Okay,", "By the way,", "Quick note:", "Heads-up:")
CHAT_REMARKS = ("I was in a meeting.", "the coffee machine is broken again.", "did you see the all-hands recording?",
                "I'm grabbing lunch soon.", "the Wi-Fi keeps dropping today.", "I'll be offline for a bit.",
                "the design review ran long.", "I have a dentist appointment later.", "thanks, that looks good.",
                "that output looks fine.")
CHAT_CLOSERS = ("", "Carry on.", "Where were we?", "Keep going with the current item.", "No rush.", "Back soon.")
REPLY_OPENERS = ("Sure.", "No problem.", "Of course.", "Okay.", "Thanks.")
REPLY_BODIES = ("I'll keep working on {component} meanwhile.", "Let me know when you want the next step.",
                "I'll post a summary when it's done.", "I'm reviewing {component} in the meantime.", "Take your time.")
REQUESTS = ("Can you {task}{why}?", "Next, please {task}{why}.", "When you get a chance, {task}{why}.",
            "Before the review, could you {task}{why}?", "I'd like you to {task}{why}.", "Could you {task} today{why}?")
REASONS = ("", " so QA can start", " before the standup", ", the reviewers asked for it", " while I'm in meetings",
           " since it keeps biting us")
TASKS = ("look into the flaky integration test", "add retries to the HTTP client", "clean up the unused feature flags",
         "bump the dependencies", "write a migration for the users table", "profile the checkout endpoint",
         "add structured logging to the worker", "tidy up the README", "split the settings module",
         "add a health check endpoint", "review the open pull requests", "fix the lint warnings")
TASK_VERBS = ("add tests for", "refactor", "document", "profile", "simplify", "review", "clean up")
DID = ("Refactored", "Added tests for", "Fixed a bug in", "Documented", "Profiled", "Simplified", "Reviewed")
COMPONENTS = ("the auth middleware", "the retry logic", "the CSV exporter", "the rate limiter", "the session store",
              "the webhook handler", "the search index builder", "the feature-flag client", "the email templates",
              "the pagination helper", "the error reporter", "the admin dashboard")
RESULTS = ("all tests pass.", "coverage went up a little.", "one test is still flaky.", "the diff is small.",
           "it is ready for review.", "nothing else changed.", "I left two comments in the code.")
SERVICES = ("api", "worker", "scheduler", "gateway", "indexer")
COMMITS = ("fix typo in docs", "add request id to logs", "handle empty payloads", "tighten input validation",
           "remove dead feature flag", "speed up fixtures")


def _hex_like(rng: random.Random, n: int = 7) -> str:
    """A commit-like id; letters and digits alternate so no run of digits can spell a value."""
    return "".join(rng.choice("abcdef" if i % 2 == 0 else "0123456789") for i in range(n))


def _tool_output(rng: random.Random) -> str:
    """A short command and its output. Numbers stay below 1000 and carry no units used by values."""
    kind = rng.randrange(4)
    if kind == 0:
        return (f"$ pytest -q\n{rng.randint(120, 999)} passed, {rng.randint(0, 9)} skipped "
                f"in {rng.randint(3, 99)}.{rng.randint(0, 9)}s")
    if kind == 1:
        lines = [f"{_hex_like(rng)} {c}" for c in rng.sample(COMMITS, 3)]
        return "$ git log --oneline -3\n" + "\n".join(lines)
    if kind == 2:
        pods = [f"{s}-{''.join(rng.choices('bcdfghjkmnpqrstvwxz', k=5))}   1/1   Running   {rng.randint(0, 4)}"
                for s in rng.sample(SERVICES, 2)]
        return "$ kubectl get pods\nNAME   READY   STATUS   RESTARTS\n" + "\n".join(pods)
    return f"$ ruff check .\nFound {rng.randint(1, 40)} errors ({rng.randint(1, 40)} fixed, 0 remaining)."


def _compose(rng: random.Random, *parts: tuple[str, ...]) -> str:
    """One alternative of each part, joined by spaces and capitalised."""
    text = " ".join(p for p in (rng.choice(part) for part in parts) if p)
    return text[0].upper() + text[1:]


def _task(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(TASKS)
    return f"{rng.choice(TASK_VERBS)} {rng.choice(COMPONENTS)}"


def _filler(role: str, after_fact: bool, rng: random.Random) -> str:
    """A turn that holds no decision."""
    if role == "user":
        if rng.random() < 0.4:
            return _compose(rng, CHAT_OPENERS, CHAT_REMARKS, CHAT_CLOSERS)
        return rng.choice(REQUESTS).format(task=_task(rng), why=rng.choice(REASONS))
    if after_fact:
        return rng.choice(ACKS)
    pick = rng.random()
    if pick < 0.25:
        return _compose(rng, REPLY_OPENERS, REPLY_BODIES).format(component=rng.choice(COMPONENTS))
    if pick < 0.6:
        return f"{rng.choice(DID)} {rng.choice(COMPONENTS)}; {rng.choice(RESULTS)}"
    return _tool_output(rng)


def _role(turn: int) -> str:
    return "user" if turn % 2 == 0 else "assistant"


def _setting_text(slot: Slot, chain: list[str], step: int, role: str, fields: dict,
                  rng: random.Random) -> tuple[str, bool]:
    """Text of the turn that sets `chain[step]`, and whether reading it needs the previous setting."""
    fields = {**fields, "v": chain[step], "noun": slot.noun, "old": chain[step - 1] if step else ""}
    if step == 0:
        templates = slot.user + SET_USER if role == "user" else slot.assistant + SET_ASSISTANT
        return rng.choice(templates).format(**fields), False
    if role == "assistant":
        return rng.choice(REVISE_ASSISTANT).format(**fields), False
    terse = rng.random() < TERSE_REVISION_CHANCE
    return rng.choice(REVISE_USER_TERSE if terse else REVISE_USER).format(**fields), terse


def _episode_length(rng: random.Random) -> int:
    """Log-uniform over TURNS_RANGE: as many short as long sessions per factor of length."""
    low, high = TURNS_RANGE
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


def agent_episode(episode_id: str, split: str, rng: random.Random) -> dict:
    """One session with 5-10 decisions at uniformly drawn turns, some revised, among distractors."""
    n_turns = _episode_length(rng)
    project = rng.choice(PROJECTS)
    fields = {"project": project}
    slots = rng.sample(SLOTS, min(rng.randint(*DECISIONS_RANGE), (n_turns - 1) // 3))
    chains = {slot.name: rng.sample(slot.values, rng.choices((1, 2, 3), REVISIONS_WEIGHTS)[0]) for slot in slots}
    n_settings = sum(map(len, chains.values()))
    n_considered = min(rng.randint(1, 1 + n_turns // 25), n_turns - 1 - n_settings)
    free = rng.sample(range(1, n_turns), n_settings + n_considered)

    texts: dict[int, str] = {0: rng.choice(INTROS).format(**fields)}
    questions = []
    for slot in slots:
        chain = chains[slot.name]
        settings = sorted(free.pop() for _ in chain)
        needs_previous = False
        for step, turn in enumerate(settings):
            texts[turn], needs_previous = _setting_text(slot, chain, step, _role(turn), fields, rng)
        evidence = settings[-2:] if needs_previous else settings[-1:]
        questions.append({"question": rng.choice(slot.asks + ASKS).format(noun=slot.noun, **fields),
                          "answer": chain[-1], "evidence": evidence, "slot": slot.name,
                          "revised": len(chain) > 1, "superseded": settings[:-1]})
    for turn in free:
        slot = rng.choice(SLOTS)
        value = rng.choice([v for v in slot.values if v not in chains.get(slot.name, ())])
        texts[turn] = rng.choice(CONSIDERED).format(v=value, noun=slot.noun)
    fact_turns = {t for q in questions for t in q["evidence"] + q["superseded"]}
    turns = [{"role": _role(i), "text": texts.get(i) or _filler(_role(i), i - 1 in fact_turns, rng)}
             for i in range(n_turns)]
    questions.sort(key=lambda q: q["evidence"][-1])
    return {"episode_id": episode_id, "split": split, "project": project, "turns": turns, "questions": questions}


def split_of(count: int, seed: int) -> list[str]:
    """A seeded 70/15/15 train/val/test assignment of `count` episodes, exact in size."""
    order = list(range(count))
    random.Random(f"agent-split:{seed}").shuffle(order)
    splits = ["test"] * count
    start = 0
    for name, share in SPLIT_SHARES:
        size = round(count * share)
        for index in order[start:start + size]:
            splits[index] = name
        start += size
    return splits


def agent_log_episodes(count: int, seed: int) -> list[dict]:
    """`count` episodes; the content of episode i depends only on (seed, i)."""
    return [agent_episode(f"agent-{seed}-{i:05d}", split, random.Random(f"agent:{seed}:{i}"))
            for i, split in enumerate(split_of(count, seed))]
