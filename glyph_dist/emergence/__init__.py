"""Glyph emergence: unify math problems, glyph traces from teachers, filter, latent rewrite, held-out evaluation."""
