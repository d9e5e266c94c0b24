"""The `paygate` command (main.py) and its operator subcommands (ledger, vault rotate)."""
