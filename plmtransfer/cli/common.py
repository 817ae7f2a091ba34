"""Shared plumbing for the thin command-line scripts in ``scripts/``.

Every script builds its parser with :class:`HelpFormatter`, adds ``--version`` with
:func:`add_version`, and runs ``sys.exit(run_cli(main))``: user errors become one line on
stderr with exit code 2, and Python warnings become one plain ``warning: ...`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence

from plmtransfer.errors import UserError

USER_ERROR_EXIT_CODE = 2


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """``warning: <message>`` on one line, instead of Python's ``path:line: Category: ...``."""
    return "warning: " + " ".join(str(message).split()) + "\n"


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as :func:`one_line_warning` on stderr (or ``file``)."""
    stream = sys.stderr if file is None else file
    with contextlib.suppress(OSError):  # a closed stderr must not turn a warning into a crash
        stream.write(one_line_warning(message, category, filename, lineno, line))


@contextlib.contextmanager
def plain_warnings() -> Iterator[None]:
    """Show warnings as one plain line while a command runs; restore Python's format afterwards."""
    saved = warnings.showwarning, warnings.formatwarning
    warnings.showwarning, warnings.formatwarning = show_warning, one_line_warning
    try:
        yield
    finally:
        warnings.showwarning, warnings.formatwarning = saved


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)``; turn a :class:`UserError` into one line on stderr and exit code 2.

    Warnings raised meanwhile print as ``warning: <message>`` (one line). Returns the exit
    code so scripts can do ``sys.exit(run_cli(main))``.
    """
    try:
        with plain_warnings():
            code = main(argv)
    except UserError as error:
        prog = argparse.ArgumentParser().prog
        print(f"{prog}: error: {error}", file=sys.stderr)
        return USER_ERROR_EXIT_CODE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def version_text() -> str:
    """``plmtransfer <version>`` from the installed package's metadata."""
    from plmtransfer import __version__

    return f"plmtransfer {__version__}"


class VersionAction(argparse.Action):
    """``--version``: print :func:`version_text` and exit 0 (read only when asked for)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "print the plmtransfer version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()




def add_version(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--version`` to a script's parser; return the parser."""
    parser.add_argument("--version", action=VersionAction)
    return parser


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every flag's default and keeps the description's line breaks (tables, examples)."""
