"""Pretraining data: texts of the shared data sets and local ones, token streams, and the curriculum.

Built-in sources, read from the shared data directory (`datasets`, default ../shared/datasets):

    sgd      SGD dialogues, one text a dialogue: `USER: ...` / `SYSTEM: ...` lines; a seeded 10% of
             dialogues (by id) is held out
    svamp    SVAMP problems: `Question: ...\\nAnswer: EQUATION = N\\n#### N`; held out: the project's
             fixed SVAMP test slice (emergence.unify)
    gsm8k    GSM8K problems: `Question: ...\\nAnswer: <worked solution>\\n#### N`; train split for
             training, test split held out (perplexity and accuracy are measured on it)

Local sources, for public sets a user has on disk (the plan lists 16 of them; none is downloaded):

    jsonl:PATH[:TEMPLATE]   a .jsonl file, or a directory of them; one record a line
    hf:PATH[:TEMPLATE]      a Hugging Face `datasets` directory written by `save_to_disk` (a
                            Dataset, or a DatasetDict whose splits named train/validation/test map
                            to train/held-out/held-out)

TEMPLATE is a Python format string over the record's fields (default `{text}`), e.g.
`hf:data/openbookqa:Question: {question_stem}\\nAnswer: {answerKey}`. A JSONL file's records are
split by a seeded hash of their line number, 10% held out; a record lacking a template field is an
error naming the file and line.

The curriculum is a list of stages, each a share of the training steps and the sources it draws
from (windows of the stage's token stream, every source in proportion to its tokens):

    curriculum:
      - {name: dialogue, share: 0.3, sources: [sgd]}
      - {name: arithmetic, share: 0.3, sources: [svamp, sgd]}
      - {name: reasoning, share: 0.4, sources: [gsm8k, svamp]}
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from glyph_dist.data.corpus import is_heldout
from glyph_dist.emergence.unify import read_gsm8k, read_svamp
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import iter_jsonl, sgd_dialogues

DEFAULT_DATASETS = Path("../shared/datasets")
BUILTIN = ("sgd", "svamp", "gsm8k")
HELDOUT_SHARE = 0.1
SPLIT_SEED = 0
FINAL_MARKER = "####"


@dataclass
class Texts:
    train: list[str]
    heldout: list[str]


@dataclass
class Problem:
    """A math word problem for accuracy: the prompt the model continues, and the gold number."""
    question: str
    gold: str

    @property
    def prompt(self) -> str:
        return f"Question: {self.question}\nAnswer:"


def gsm8k_text(problem: dict) -> str:
    return f"Question: {problem['question']}\nAnswer: {problem['solution']}\n{FINAL_MARKER} {problem['gold']}"


def svamp_text(problem: dict) -> str:
    return (f"Question: {problem['question']}\nAnswer: {problem['solution']} = {problem['gold']}\n"
            f"{FINAL_MARKER} {problem['gold']}")


def sgd_texts(directory: Path) -> Texts:
    texts = Texts([], [])
    for dialogue in sgd_dialogues(directory):
        text = "\n".join(f"{turn.get('speaker', 'USER')}: {turn.get('utterance', '')}" for turn in dialogue["turns"])
        heldout = is_heldout(str(dialogue.get("dialogue_id")), HELDOUT_SHARE, SPLIT_SEED)
        (texts.heldout if heldout else texts.train).append(text)
    return texts


def problem_texts(problems: list[dict], render) -> Texts:
    return Texts([render(p) for p in problems if p["split"] == "train"],
                 [render(p) for p in problems if p["split"] == "test"])


def gsm8k_problems(datasets: Path, split: str = "test") -> list[Problem]:
    """GSM8K problems of a split (train or test) with their gold answers, in file order."""
    return [Problem(p["question"], p["gold"]) for p in read_gsm8k(datasets / "gsm8k") if p["split"] == split]


def _render(template: str, record: dict, where: str) -> str:
    try:
        return template.format(**record)
    except KeyError as exc:
        raise GlyphDistError(f"{where}: the record has no field {exc.args[0]!r} that the template "
                             f"{template!r} needs") from None


def _is_heldout_line(path: Path, line: int) -> bool:
    digest = hashlib.blake2b(f"{SPLIT_SEED}:{path.name}:{line}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < HELDOUT_SHARE


def jsonl_texts(path: Path, template: str) -> Texts:
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise GlyphDistError(f"jsonl source: {path} is neither a .jsonl file nor a directory holding some")
    texts = Texts([], [])
    for file in files:
        for line, record in iter_jsonl(file):
            text = _render(template, record, f"{file}:{line}")
            (texts.heldout if _is_heldout_line(file, line) else texts.train).append(text)
    return texts


def hf_texts(path: Path, template: str) -> Texts:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise GlyphDistError(f"hf source: {path} is not a `save_to_disk` directory ({exc})") from None
    texts = Texts([], [])
    if isinstance(data, Dataset):
        for i, record in enumerate(data):
            part = texts.heldout if _is_heldout_line(path, i) else texts.train
            part.append(_render(template, record, f"{path} row {i}"))
    elif isinstance(data, DatasetDict):
        for split, rows in data.items():
            part = texts.train if split == "train" else texts.heldout
            part.extend(_render(template, r, f"{path} split {split} row {i}") for i, r in enumerate(rows))
    return texts


def load_source(spec: str, datasets: Path) -> Texts:
    """The train and held-out texts of a source: a built-in name, or jsonl:PATH[:TEMPLATE] / hf:PATH[:TEMPLATE]."""
    if spec == "sgd":
        return sgd_texts(datasets / "sgd" / "dev")
    if spec == "svamp":
        return problem_texts(read_svamp(datasets / "svamp"), svamp_text)
    if spec == "gsm8k":
        return problem_texts(read_gsm8k(datasets / "gsm8k"), gsm8k_text)
    kind, sep, rest = spec.partition(":")
    if sep and kind in ("jsonl", "hf") and rest:
        path, _, template = rest.partition(":")
        template = (template or "{text}").encode().decode("unicode_escape")
        return (jsonl_texts if kind == "jsonl" else hf_texts)(Path(path).expanduser(), template)
    raise GlyphDistError(f"unknown data source {spec!r}: use one of {', '.join(BUILTIN)}, "
                         "jsonl:PATH[:TEMPLATE] or hf:PATH[:TEMPLATE]")


@dataclass
class Stage:
    name: str
    share: float  # of the training steps
    sources: list[str]


def parse_curriculum(stages: list, source: str = "curriculum") -> list[Stage]:
    """Stages from the config's list of mappings; shares must be positive and sum to 1."""
    if not isinstance(stages, list) or not stages:
        raise GlyphDistError(f"{source}: a non-empty list of stages {{name, share, sources}}")
    parsed = []
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or set(stage) != {"name", "share", "sources"}:
            raise GlyphDistError(f"{source}: stage {i} must have exactly the keys name, share, sources")
        if not isinstance(stage["share"], (int, float)) or stage["share"] <= 0:
            raise GlyphDistError(f"{source}: stage {stage['name']!r}: share must be > 0")
        if not isinstance(stage["sources"], list) or not stage["sources"]:
            raise GlyphDistError(f"{source}: stage {stage['name']!r}: sources must be a non-empty list")
        parsed.append(Stage(str(stage["name"]), float(stage["share"]), [str(s) for s in stage["sources"]]))
    total = sum(s.share for s in parsed)
    if abs(total - 1.0) > 1e-6:
        raise GlyphDistError(f"{source}: the stages' shares sum to {total:g}, not 1")
    return parsed


def tokenize(texts: Iterable[str], tokenizer) -> torch.Tensor:
    """One stream of token ids: every text followed by the end-of-text token."""
    ids: list[int] = []
    for encoded in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.int32)


@dataclass
class Streams:
    """Token streams of every source, per split, and the curriculum over them."""
    train: dict[str, torch.Tensor]
    heldout: dict[str, torch.Tensor]
    stages: list[Stage]

    def stage_at(self, step: int, max_steps: int) -> Stage:
        edge = 0.0
        for stage in self.stages:
            edge += stage.share * max_steps
            if step < edge:
                return stage
        return self.stages[-1]

    def batch(self, stage: Stage, seq_len: int, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows (inputs, next-token targets) [batch, seq_len] from the stage's sources,
        a source drawn in proportion to its training tokens."""
        lengths = torch.tensor([len(self.train[s]) - seq_len - 1 for s in stage.sources], dtype=torch.float64)
        picks = torch.multinomial(lengths.clamp(min=0), batch_size, replacement=True, generator=generator)
        rows = []
        for pick in picks.tolist():
            stream = self.train[stage.sources[pick]]
            start = int(torch.randint(len(stream) - seq_len - 1, (1,), generator=generator))
            rows.append(stream[start:start + seq_len + 1].long())
        rows = torch.stack(rows)
        return rows[:, :-1], rows[:, 1:]

    def check(self, seq_len: int) -> None:
        for stage in self.stages:
            for name in stage.sources:
                if len(self.train[name]) <= seq_len + 1:
                    raise GlyphDistError(f"source {name}: {len(self.train[name])} training tokens, fewer than "
                                         f"one window of seq_len {seq_len} + 1")


def all_sources(stages: list[Stage], extra: Iterable[str] = ()) -> list[str]:
    return list(dict.fromkeys([*(s for stage in stages for s in stage.sources), *extra]))


def load_texts(stages: list[Stage], datasets: Path, heldout_sources: Iterable[str] = ()) -> dict[str, Texts]:
    """The texts of every source the curriculum and the held-out evaluation name."""
    return {name: load_source(name, datasets) for name in all_sources(stages, heldout_sources)}


def build_streams(texts: dict[str, Texts], tokenizer, stages: list[Stage]) -> Streams:
    return Streams({name: tokenize(t.train, tokenizer) for name, t in texts.items()},
                   {name: tokenize(t.heldout, tokenizer) for name, t in texts.items() if t.heldout}, stages)

