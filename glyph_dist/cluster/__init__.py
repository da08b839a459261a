"""Ray cluster tooling: a local head, job submission and what a submitted job takes with it."""
