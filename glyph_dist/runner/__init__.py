"""Experiment configs -> Ray Tune trials -> result rows, resume and telemetry."""
