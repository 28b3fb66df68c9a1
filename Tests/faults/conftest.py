"""Fixtures for the fault tests: the real finwatch binary, and network namespaces of the test's
own (created per test, always removed, named fwf-<pid>-… so leftovers are recognisable)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netns import Namespace, remove_stale  # noqa: E402


@pytest.fixture(scope="session")
def finwatch_bin() -> str:
    path = os.environ.get("FINWATCH_BIN", "")
    if not (path and os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"FINWATCH_BIN={path!r} is not the release finwatch binary (the Makefile sets it)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _root_and_stale():
    if os.geteuid() != 0:
        pytest.skip("the fault tests need root for namespaces, mounts and capture (CI runs as root)")
    remove_stale()
    yield
    remove_stale()


@pytest.fixture
def netns(request):
    created: list[Namespace] = []

    def make(tag: str) -> Namespace:
        ns = Namespace(f"{tag}{len(created)}")
        created.append(ns)
        return ns

    yield make
    for ns in reversed(created):
        ns.destroy()
