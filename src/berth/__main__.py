"""``python -m berth`` runs the CLI."""

from berth.cli import run

run()
