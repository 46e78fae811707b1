"""The `smartlinks` command line and the README that documents it."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from core import config
from smartlinks.cli import README_END, README_START, build_parser, settings_markdown

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _readme_table() -> str:
    return README.split(README_START, 1)[1].split(README_END, 1)[0]


def test_readme_lists_every_setting_with_its_default() -> None:
    table = _readme_table()
    missing = [row for row in settings_markdown().splitlines() if row not in table.splitlines()]
    assert not missing, (
        "README.md's settings table is out of date; run\n"
        "    .venv/bin/smartlinks settings --update-readme README.md\n"
        f"missing rows: {missing}"
    )
    for setting in config.SETTINGS:
        assert f"| `{setting.env}` |" in table


def test_readme_gives_exactly_two_commands_for_a_fresh_machine() -> None:
    section = README.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["python3 dev.py up", "python3 dev.py test"]
    assert "exec python3 dev.py test" in (ROOT / ".ci" / "run").read_text()


def test_readme_names_every_role_and_subcommand() -> None:
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name in sub.choices:
        assert f"smartlinks {name}" in README, name


def test_settings_markdown_escapes_pipes_and_marks_unset_defaults() -> None:
    table = settings_markdown().splitlines()
    assert table[0] == "| variable | default | what it does |"
    assert len(table) == 2 + len(config.SETTINGS)
    assert all(row.count(" | ") == 2 for row in table[2:])
    assert "| `DATABASE_URL` | (unset) |" in table[2]


def _settings_command(tmp_path: Path, edge_port: str) -> subprocess.CompletedProcess[str]:
    """`smartlinks settings` with EDGE_PORT set and no other setting."""
    env = {"PATH": "/usr/bin:/bin", "EDGE_PORT": edge_port, "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "smartlinks.cli", "settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_settings_command_prints_the_values_in_effect(tmp_path: Path) -> None:
    result = _settings_command(tmp_path, "9123")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "EDGE_PORT=9123" in lines
    assert "ADMIN_PORT=8000" in lines
    assert len(lines) == len(config.SETTINGS)


def test_a_bad_setting_stops_a_command_with_its_name(tmp_path: Path) -> None:
    result = _settings_command(tmp_path, "abc")
    assert result.returncode == 2
    assert result.stderr.strip() == "smartlinks settings: EDGE_PORT must be an integer, not 'abc'"


def test_update_readme_rewrites_only_the_table(tmp_path: Path) -> None:
    from smartlinks.cli import update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{README_START}| stale |\n{README_END}\n\nafter\n")
    assert update_readme(readme)
    text = readme.read_text()
    assert text.startswith("# Title\n\n")
    assert text.endswith(f"{README_END}\n\nafter\n")
    assert "| stale |" not in text
    assert settings_markdown() in text
    assert not update_readme(readme)  # already up to date


def test_dev_py_without_a_command_prints_its_usage() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "dev.py")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "python3 dev.py up" in result.stdout
    assert "python3 dev.py test" in result.stdout
