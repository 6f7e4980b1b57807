"""`python -m mecopt.cli`: the same CLI as the `mecopt` script."""

from mecopt.cli.main import main

main()
