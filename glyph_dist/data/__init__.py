"""Dataset preparation: corpora, generators, splits."""
