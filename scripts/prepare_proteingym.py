#!/usr/bin/env python
"""The study's script name for `python -m plmtransfer.cli.prepare_proteingym` (the code lives there)."""
from plmtransfer.cli.common import run_cli
from plmtransfer.cli.prepare_proteingym import main

raise SystemExit(run_cli(main))
