"""EvoMerge: merge methods over state dicts (one registry), layer plans, and the evolution of merges."""
