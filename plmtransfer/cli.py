"""Shared plumbing for the thin command-line scripts in ``scripts/``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from plmtransfer.errors import UserError

USER_ERROR_EXIT_CODE = 2


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)``; turn a :class:`UserError` into one line on stderr and exit code 2.

    Returns the exit code so scripts can do ``sys.exit(run_cli(main))``.
    """
    try:
        code = main(argv)
    except UserError as error:
        prog = argparse.ArgumentParser().prog
        print(f"{prog}: error: {error}", file=sys.stderr)
        return USER_ERROR_EXIT_CODE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every flag's default and keeps the description's line breaks (tables, examples)."""
