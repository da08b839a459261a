"""Context strategies under a token budget and the context benchmark (RAW-TRUNCATE vs FGT-CONTEXT vs retrieval)."""
