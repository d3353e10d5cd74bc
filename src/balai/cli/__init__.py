"""The `balai` command."""

from __future__ import annotations

from balai.cli.app import app


def main() -> None:
    """Entry point of the `balai` console script."""
    app()
