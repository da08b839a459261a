"""Quiet-STaR thought tokens: the 12 tokens (tokens.py), strategy-tagged GSM8K thoughts (data.py),
baking by SFT (bake.py), the REINFORCE step with a mixing head (step.py, rl.py) and the anti-theater
checks that gate it (checks.py)."""
