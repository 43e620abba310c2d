"""`python -m evalctl` runs exactly what the `evalctl` entry point runs."""

from evalctl.cli.app import main

main()
