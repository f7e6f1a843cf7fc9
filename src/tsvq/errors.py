"""The one error type a user is meant to read: the command line prints it as one line, exit 2."""


class TsvqError(ValueError):
    """Bad input a user can act on: says what was wrong, the value given, and what is allowed."""


class WriteFailed(TsvqError):
    """A file could not be written (disk full, a size limit, permissions): the run failed."""

    exit_status = 1
