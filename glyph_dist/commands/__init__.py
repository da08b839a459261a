"""Command groups of the `glyph-dist` command, one module each."""
