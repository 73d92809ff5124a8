"""`python -m lab2prod.cli`: the `lab2prod` command."""

from lab2prod.cli import run

run()
