#!/usr/bin/env python
"""The study's script name for `python -m plmtransfer.cli.prepare_flip` (the code lives there)."""
from plmtransfer.cli.common import run_cli
from plmtransfer.cli.prepare_flip import main

raise SystemExit(run_cli(main))
