"""Fractal Glyph Tape: phrase families with glyph codes and fractal addresses."""
