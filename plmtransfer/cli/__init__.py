"""Command-line floor: every stage's main() (argparse, parse, call, exit) and the `plmtransfer` command."""
