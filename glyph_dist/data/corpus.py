"""`glyph-dist data corpus`: the shared SGD dialogues as JSONL episodes, split by dialogue.

The split is by dialogue, decided by a seeded hash of its id, so the held-out file never shares a
dialogue with the file a tape is built from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import write_text
from glyph_dist.fgt.ingest import sgd_dialogues

DEFAULT_SGD = Path("../shared/datasets/sgd/dev")
ROLES = {"USER": "user", "SYSTEM": "assistant"}


def sgd_episode(dialogue: dict, split_name: str) -> dict:
    """One SGD dialogue in the DESIGN.md episode format (no questions: a pure corpus)."""
    return {
        "episode_id": f"sgd-{split_name}-{dialogue['dialogue_id']}",
        "services": dialogue.get("services", []),
        "turns": [{"role": ROLES.get(t.get("speaker"), "user"), "text": t.get("utterance", "")}
                  for t in dialogue["turns"]],
    }


def is_heldout(dialogue_id: str, fraction: float, seed: int) -> bool:
    digest = hashlib.blake2b(f"{seed}:{dialogue_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


def write_jsonl(path: Path, records: list[dict]) -> None:
    """Write records atomically, one JSON object a line."""
    write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def make_sgd_corpus(sgd: Path, out: Path, heldout_fraction: float = 0.2, seed: int = 0) -> dict[str, Path]:
    """Write `sgd_train.jsonl` and `sgd_heldout.jsonl` under `out`; returns their paths."""
    if not 0.0 < heldout_fraction < 1.0:
        raise GlyphDistError(f"held-out fraction must be in (0, 1), got {heldout_fraction}")
    split_name = sgd.name if sgd.is_dir() else sgd.parent.name
    parts: dict[str, list[dict]] = {"train": [], "heldout": []}
    for dialogue in sgd_dialogues(sgd):
        part = "heldout" if is_heldout(str(dialogue.get("dialogue_id")), heldout_fraction, seed) else "train"
        parts[part].append(sgd_episode(dialogue, split_name))
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for part, episodes in parts.items():
        if not episodes:
            raise GlyphDistError(f"{sgd}: the {part} split is empty; use more dialogues or another fraction")
        paths[part] = out / f"sgd_{part}.jsonl"
        write_jsonl(paths[part], episodes)
    return paths
