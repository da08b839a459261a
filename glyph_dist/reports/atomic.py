"""Atomic report writes: each file is staged beside its target and renamed into place."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure


def _staged(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` via a temporary file and a rename."""
    staged = _staged(path)
    staged.write_text(text)
    os.replace(staged, path)
    return path


def save_png(figure: Figure, path: Path) -> Path:
    """Save `figure` as a PNG at `path` via a temporary file and a rename."""
    staged = _staged(path)
    figure.savefig(staged, dpi=120, format="png")
    os.replace(staged, path)
    return path
