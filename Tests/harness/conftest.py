"""pytest wiring for the ground-truth harness: the topology (created once, always removed), a
per-test Scenario factory, and a summary table of every finwatch-vs-truth mismatch."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Scenario  # noqa: E402
from topology import Topology, TopologyError, cleanup_stale  # noqa: E402

RESULTS: list[dict] = []
HARNESS_ERRORS: list[tuple[str, str]] = []   # failures that are not finwatch mismatches
STARTED = time.monotonic()


def _missing_tools() -> list[str]:
    return [t for t in ("ip", "tcpdump", "nft", "ss") if shutil.which(t) is None]


@pytest.fixture(scope="session")
def finwatch_bin() -> str:
    path = os.environ.get("FINWATCH_BIN", "")
    if not path:
        pytest.fail("FINWATCH_BIN is not set: point it at the release finwatch binary (the Makefile does)")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"FINWATCH_BIN={path} is not an executable file")
    return path


@pytest.fixture(scope="session")
def topo():
    if os.geteuid() != 0:
        pytest.skip("the ground-truth harness needs root to create network namespaces (CI runs as root)")
    missing = _missing_tools()
    if missing:
        pytest.fail(f"tools missing: {missing} (make deps-test installs them)")
    cleanup_stale()
    t = Topology()
    atexit.register(t.destroy)   # even if pytest itself is interrupted
    try:
        t.create()
    except (TopologyError, OSError) as exc:
        t.destroy()
        if "Operation not permitted" in str(exc) or "Permission denied" in str(exc):
            pytest.skip(f"the kernel refuses network namespaces here: {exc}")
        raise
    yield t
    t.destroy()


@pytest.fixture
def scenario(request, topo, finwatch_bin, tmp_path):
    """scenario(name=None, **kw) -> Scenario; every scenario is closed when the test ends."""
    made: list[Scenario] = []

    def make(name: str | None = None, **kw) -> Scenario:
        nm = name or request.node.name.replace("[", "-").replace("]", "").replace("/", "_")
        s = Scenario(topo, nm, tmp_path, finwatch_bin, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def record(result) -> None:
    RESULTS.append({"scenario": result.scenario, "mismatches": [m.__dict__ for m in result.mismatches],
                    "pcap": str(result.pcap)})


def pytest_runtest_logreport(report):
    # A scenario that failed before comparing (the kernel did not do what it was built to do,
    # a program did not answer) must show up in the table too, as a harness error.
    if report.failed and report.when in ("setup", "call") and report.longrepr is not None:
        text = str(report.longrepr)
        if " mismatch(es) in " not in text:
            line = next((ln for ln in text.splitlines() if ln.startswith("E ")), text.splitlines()[-1] if text else "")
            HARNESS_ERRORS.append((report.nodeid.split("::")[-1], line[1:].strip()[:300]))


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    if not RESULTS and not HARNESS_ERRORS:
        return
    tr = terminalreporter
    tr.section("finwatch vs. ground truth")
    for r in RESULTS:
        status = "PASS" if not r["mismatches"] else "FAIL"
        tr.write_line(f"{status}  {r['scenario']}")
        for m in r["mismatches"]:
            tr.write_line(f"      [{m['conn']}] {m['field']}: finwatch said {m['finwatch']!r}, truth said {m['truth']!r}")
    for nodeid, line in HARNESS_ERRORS:
        tr.write_line(f"ERROR {nodeid}: harness/truth side, not compared: {line}")
    tr.write_line(f"harness wall time: {time.monotonic() - STARTED:.1f} s")
    out = os.environ.get("FINWATCH_HARNESS_REPORT")
    if out:
        Path(out).write_text(json.dumps(RESULTS, indent=1, default=str))
