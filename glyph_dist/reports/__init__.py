"""Tables, plots and markdown reports."""
