"""The project's error type: raised for bad input, caught by the CLI and shown as one line."""


class GlyphDistError(Exception):
    """Bad input or state that the user can fix; the message names what and where."""
