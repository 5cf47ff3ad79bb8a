"""`python -m edgeseg` is the `edgeseg` command."""

from edgeseg.cli import main

main()
