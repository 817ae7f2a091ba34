#!/usr/bin/env python
"""The study's script name for `python -m plmtransfer.cli.zero_shot` (the code lives there)."""
from plmtransfer.cli.common import run_cli
from plmtransfer.cli.zero_shot import main

raise SystemExit(run_cli(main))
