"""Memory modules of the evaluation matrix (HEI-NW, SGC-RSS, SMPD, ALL, baselines) and their suites."""
