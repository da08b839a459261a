"""data/MANIFEST.json: one entry per generated file (hash, per-split counts, seed, generator).

Entries are merged into the existing manifest, so each preparation step keeps the others' entries.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import read_json, write_text

MANIFEST = "MANIFEST.json"
SPLITS = ("train", "val", "test")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_counts(episodes: list[dict], splits: tuple[str, ...] = SPLITS) -> dict[str, dict[str, int]]:
    """Episodes, questions and turns per split, in the order of `splits`."""
    counts = {split: {"episodes": 0, "questions": 0, "turns": 0} for split in splits}
    for episode in episodes:
        split = counts[episode["split"]]
        split["episodes"] += 1
        split["questions"] += len(episode.get("questions", []))
        split["turns"] += len(episode["turns"])
    return counts


def file_entry(out_dir: Path, path: Path, episodes: list[dict], seed: int, generator: str,
               splits: tuple[str, ...] = SPLITS, **extra) -> dict:
    """The manifest entry of a written episode file; `path` lies under `out_dir`."""
    return {"path": path.relative_to(out_dir).as_posix(), "sha256": sha256(path), "generator": generator,
            "seed": seed, "splits": split_counts(episodes, splits), **extra}


def read_manifest(out_dir: Path) -> dict:
    """The manifest under `out_dir`, or an empty one."""
    path = out_dir / MANIFEST
    if not path.exists():
        return {"files": {}}
    manifest = read_json(path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise GlyphDistError(f"{path}: expected an object with a 'files' object")
    return manifest


def write_manifest(out_dir: Path, manifest: dict, entries: list[dict]) -> dict:
    """Merge `entries` (keyed by their path) into `manifest` and write it atomically under `out_dir`."""
    manifest["files"].update({entry["path"]: entry for entry in entries})
    write_text(out_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return manifest
