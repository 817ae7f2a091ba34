"""The one exception type for problems the user can fix (bad input, missing file, bad flag), and the
"did you mean" hint its messages give for a mistyped name.

Command-line scripts print its message as one line on stderr and exit with status 2,
without a traceback; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """An error caused by the user's input, with a message that says what to do."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"did you mean 'X'?"`` naming the ``choices`` closest to a mistyped ``word``, or ``""`` when none is near.

    A choice equal to ``word`` up to letter case is the one answer (``esm2_650m`` -> ``esm2_650M``);
    otherwise up to three of :func:`difflib.get_close_matches`, letter case ignored
    (``IF1_ECOL`` -> ``IF1_ECOLI``).
    """
    import difflib

    by_lower = {choice.lower(): choice for choice in reversed(list(choices))}
    if word.lower() in by_lower:
        matches = [by_lower[word.lower()]]
    else:
        matches = [by_lower[lower] for lower in difflib.get_close_matches(word.lower(), by_lower, n=3, cutoff=0.8)]
    return "did you mean " + " or ".join(map(repr, matches)) + "?" if matches else ""
