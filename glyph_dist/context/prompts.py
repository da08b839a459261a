"""The glyph-aware prompt: one template for the pairs `data glyph-aware` writes and the reads
`eval glyph-model` makes of them, and the two context variants they are built with."""

from __future__ import annotations

PROMPT_TEMPLATE = "Context:\n{context}\n\nTask: {instruction}\nAnswer:"
VARIANTS = {"raw": "raw_truncate", "glyph": "fgt_context"}  # variant -> context strategy
