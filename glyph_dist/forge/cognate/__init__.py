"""Cognate: tiny recursive reasoning models (TRM) with a Titans memory (MAG) and ACT halting."""
