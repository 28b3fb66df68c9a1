"""pytest wiring for the deploy/ and contract tests: the finwatch binary, the engines' binaries,
and a summary of the alerting chain's timeline when the end-to-end test ran."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[2]
TIMELINES: list[tuple[str, list[tuple[str, float | None, str]]]] = []


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def finwatch_bin() -> str:
    path = os.environ.get("FINWATCH_BIN", "")
    if not path:
        pytest.fail("FINWATCH_BIN is not set: point it at a finwatch binary (the Makefile does)")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"FINWATCH_BIN={path} is not an executable file")
    return path


@pytest.fixture(scope="session")
def tool():
    """tool(name) -> its path; a missing one fails the test (make deps-test installs them)."""
    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            pytest.fail(f"{name} is not installed (make deps-test installs it)")
        return path
    return find


def record_timeline(title: str, rows: list[tuple[str, float | None, str]]) -> None:
    TIMELINES.append((title, rows))


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    for title, rows in TIMELINES:
        terminalreporter.section(title)
        for what, offset, detail in rows:
            when = f"{offset:+8.3f} s" if offset is not None else "       - "
            terminalreporter.write_line(f"{when}  {what:<42} {detail}")
