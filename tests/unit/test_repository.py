"""The repository stands on its own and its scripts are safe on a shared host."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def test_scripts_never_kill_by_name() -> None:
    scripts = _tracked("scripts/*", ".ci/*", "Makefile")
    assert scripts
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in scripts
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\b(pkill|killall)\b", line)
    ]
    assert found == []


def test_no_reference_to_files_outside_the_repository() -> None:
    # spelt in pieces, so that a grep of the tree for these names finds no hit here either
    docs = "|".join(("MISSION", "STYLE", "DESIGN"))
    shared = "sha" + "red"
    outside = re.compile(rf"({docs})\.md|{'notes'}/|\.\./{shared}|/work/{shared}")
    files = _tracked("*.py", "*.md", "*.yaml", "*.yml", "*.toml")
    assert len(files) > 50
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert found == []
