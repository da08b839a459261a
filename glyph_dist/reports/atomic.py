"""Plots saved atomically (text files: glyph_dist.files.write_text)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from glyph_dist.files import replace_atomically


def save_png(figure: Figure, path: Path) -> Path:
    """Save `figure` as a PNG at `path` via a temporary file and a rename."""
    return replace_atomically(path, lambda staged: figure.savefig(staged, dpi=120, format="png"))
