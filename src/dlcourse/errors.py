"""The one error type the user sees as a message instead of a traceback."""


class UsageError(Exception):
    """A mistake in what the user asked for (bad name, key, value or path): exit code 2, no traceback."""
