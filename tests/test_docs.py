"""Docs are part of the change: every setting, command and API route is documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from balai.app import create_app
from balai.config import Settings, load_settings

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "operator" / "settings.md").read_text()
    documented = set(re.findall(r"`(BALAI_[A-Z_]+)`", text))
    expected = {f"BALAI_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from docs/operator/settings.md"
    assert documented - expected == set(), "docs/operator/settings.md names unknown settings"


def test_cli_reference_is_generated_from_the_code(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "typer",
            "balai.cli.app",
            "utils",
            "docs",
            "--name",
            "balai",
            "--title",
            "Command-line reference",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert out.read_text() == (DOCS / "cli.md").read_text(), (
        "docs/cli.md is out of date: regenerate it with the command in docs/dev/contributing.md"
    )


def test_every_api_route_is_documented() -> None:
    spec = create_app(load_settings(demo=True, database_url="sqlite:///:memory:")).openapi()
    text = (DOCS / "api.md").read_text()
    routes = {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops}
    missing = {route for route in routes if f"`{route}`" not in text}
    assert missing == set(), f"API routes missing from docs/api.md: {sorted(missing)}"


def test_readme_gives_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/demo" in readme
    assert "./scripts/test" in readme
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()
