"""`python -m servers.cli ...` is the `paygate` command."""

from servers.cli.main import main

main()
