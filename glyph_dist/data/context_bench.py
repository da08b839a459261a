"""`glyph-dist data prepare`: the context benchmark's data sets and their manifest entries.

- `phase5/public_dialog.jsonl`: concatenated SGD dialogues with slot-value questions
  (glyph_dist.data.public_dialog);
- `phase5/agent_logs.jsonl`: synthetic agent sessions with decisions set and revised at varied
  turns (glyph_dist.data.agent_logs).

Both are deterministic in the seed: the same seed writes byte-identical files.

`prepare_long_conversations` writes, beside them and with a seed of its own,
`phase5/long_conversations.jsonl`: dated multi-session histories of 300-700 turns with revision,
multi-hop and temporal questions, in a dev and a test split (glyph_dist.data.long_conversations).
"""

from __future__ import annotations

from pathlib import Path

from glyph_dist.data import agent_logs, long_conversations, public_dialog
from glyph_dist.data.corpus import DEFAULT_SGD, write_jsonl
from glyph_dist.data.manifest import file_entry, read_manifest, write_manifest
from glyph_dist.errors import GlyphDistError
from glyph_dist.progress import Steps

AGENT_EPISODES = 160


def add_evidence_positions(episodes: list[dict]) -> list[dict]:
    """Give each question `evidence_position`: its answer turn (the last evidence turn) / (turns - 1)."""
    for episode in episodes:
        last = max(len(episode["turns"]) - 1, 1)
        for question in episode["questions"]:
            question["evidence_position"] = round(question["evidence"][-1] / last, 4)
    return episodes


def prepare_context_bench(out_dir: Path = Path("data"), seed: int = 1337, sgd_dir: Path = DEFAULT_SGD,
                   agent_episodes: int = AGENT_EPISODES, quiet: bool = False) -> dict:
    """Write both data sets under `out_dir/phase5`, merge their entries into `out_dir/MANIFEST.json`
    and return the manifest. Bad input raises GlyphDistError before anything is written."""
    if agent_episodes < 1:
        raise GlyphDistError(f"agent_episodes must be at least 1, got {agent_episodes}")
    manifest = read_manifest(out_dir)
    steps = Steps(3, quiet)
    with steps.step(f"public dialog from {sgd_dir}"):
        dialog = add_evidence_positions(public_dialog.public_dialog_episodes(sgd_dir, seed))
    with steps.step(f"agent logs ({agent_episodes} episodes)"):
        agent = add_evidence_positions(agent_logs.agent_log_episodes(agent_episodes, seed))
    with steps.step("write files and manifest"):
        folder = out_dir / "phase5"
        folder.mkdir(parents=True, exist_ok=True)
        source = {"sgd": str(sgd_dir), "heldout_fraction": public_dialog.HELDOUT_FRACTION,
                  "heldout_seed": public_dialog.HELDOUT_SEED}
        entries = []
        for name, episodes, generator, extra in (("public_dialog", dialog, public_dialog.__name__, {"source": source}),
                                                 ("agent_logs", agent, agent_logs.__name__, {})):
            path = folder / f"{name}.jsonl"
            write_jsonl(path, episodes)
            entries.append(file_entry(out_dir, path, episodes, seed, generator, **extra))
        return write_manifest(out_dir, manifest, entries)


def prepare_long_conversations(out_dir: Path = Path("data"), seed: int = long_conversations.SEED,
                               sgd_dir: Path = DEFAULT_SGD, quiet: bool = False) -> dict:
    """Write `out_dir/phase5/long_conversations.jsonl`, merge its entry into `out_dir/MANIFEST.json`
    and return the manifest. Bad input raises GlyphDistError before anything is written."""
    manifest = read_manifest(out_dir)
    steps = Steps(2, quiet)
    with steps.step(f"long conversations from {sgd_dir}"):
        episodes = add_evidence_positions(long_conversations.long_conversation_episodes(sgd_dir, seed))
    with steps.step("write file and manifest"):
        path = out_dir / "phase5" / "long_conversations.jsonl"
        write_jsonl(path, episodes)
        source = {"sgd": str(sgd_dir), "heldout_fraction": public_dialog.HELDOUT_FRACTION,
                  "heldout_seed": public_dialog.HELDOUT_SEED}
        entry = file_entry(out_dir, path, episodes, seed, long_conversations.__name__,
                           splits=long_conversations.SPLITS, source=source)
        return write_manifest(out_dir, manifest, [entry])
