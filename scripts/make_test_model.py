#!/usr/bin/env python
"""The study's script name for `python -m plmtransfer.cli.make_test_model` (the code lives there)."""
from plmtransfer.cli.common import run_cli
from plmtransfer.cli.make_test_model import main

raise SystemExit(run_cli(main))
