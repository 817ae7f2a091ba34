#!/usr/bin/env python
"""The study's script name for `python -m plmtransfer.cli.finetune_go` (the code lives there)."""
from plmtransfer.cli.common import run_cli
from plmtransfer.cli.finetune_go import main

raise SystemExit(run_cli(main))
