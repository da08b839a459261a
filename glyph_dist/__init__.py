"""glyph_dist: a Ray experiment platform for glyph-coded context and memory."""

__version__ = "0.1.0"
