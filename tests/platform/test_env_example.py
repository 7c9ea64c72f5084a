"""`.env.example` lists every setting with its default, and the README documents each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gomeet.config import Settings

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
SETTINGS = {name.upper() for name in Settings.model_fields}


def example_lines() -> list[tuple[bool, str, str]]:
    """(commented out, NAME, value) for every `NAME=value` or `# NAME=` line."""
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = LINE.match(line)
        if match:
            lines.append((bool(match.group(1)), match.group(2), match.group(3)))
    return lines


def test_it_lists_exactly_the_settings_each_once() -> None:
    names = [name for _, name, _ in example_lines()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert set(names) == SETTINGS


def test_its_values_are_the_defaults_and_its_commented_settings_are_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    from_example = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in Settings.model_fields:
        assert getattr(from_example, name) == getattr(defaults, name), name
    for commented, name, value in example_lines():
        if commented:
            assert getattr(defaults, name.lower()) is None, name
            assert value == "", name


def test_the_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in SETTINGS if f"`{name}`" not in readme)
    assert not missing, missing
