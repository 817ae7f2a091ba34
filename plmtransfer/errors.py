"""The one exception type for problems the user can fix (bad input, missing file, bad flag).

Command-line scripts print its message as one line on stderr and exit with status 2,
without a traceback; any other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """An error caused by the user's input, with a message that says what to do."""
