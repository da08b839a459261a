"""FGMS, the glyph memory service: sharded memory actors with token-budgeted reads."""
