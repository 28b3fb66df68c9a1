"""The whole alerting chain with the real engines: a program leaks a socket in CLOSE_WAIT on
loopback; finwatch (live on `lo`) fires; real Prometheus scrapes it and evaluates the repository's
own rules (deploy/prometheus, `for:` shortened); real Alertmanager routes the alert to a webhook
this test serves; the program closes its socket and the resolution travels the same way.

Everything runs on loopback ports of this test's own and is stopped by PID on every exit path."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import contract
from conftest import record_timeline
from services import Services, events, free_port, http_get, http_json, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="capturing on lo needs root or CAP_NET_RAW")

HERE = Path(__file__).resolve().parent
RULES = HERE.parents[1] / "deploy" / "prometheus" / "finwatch-alerts.yml"
ALERT = "FinwatchCloseWaitLingering"
FOR = "3s"            # the rules' `for: 5m`, shortened so the test sees pending, then firing
SCRAPE = "1s"
THRESHOLD = "1s"      # finwatch's --close-wait-threshold
WALL_LIMIT = 90       # seconds for the whole chain, both ways


class Webhook:
    """Alertmanager's webhook receiver: every POST body, with the wall time it arrived."""

    def __init__(self, port: int):
        received = self.received = []
        lock = self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    received.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def first(self, status: str):
        with self.lock:
            return next(((t, p) for t, p in self.received if p.get("status") == status), None)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def rfc3339(text: str) -> float:
    """Prometheus, Alertmanager (nanoseconds) and finwatch (microseconds) timestamps, as epoch seconds."""
    m = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    assert m, f"not RFC 3339: {text}"
    zone = "+00:00" if m[3] == "Z" else m[3]
    return dt.datetime.fromisoformat(f"{m[1]}.{(m[2] or '0')[:6]:0<6}{zone}").timestamp()


def rules_for_test(tmp_path: Path) -> Path:
    """The repository's rule file, every `for:` replaced by FOR; nothing else changed."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = FOR
    out = tmp_path / "finwatch-alerts.yml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


@pytest.fixture
def services(tmp_path):
    s = Services(tmp_path)
    yield s
    s.stop_all()


def test_stuckSocket_alertReachesWebhook_andResolutionFollows(tmp_path, services, finwatch_bin, tool):
    prometheus, alertmanager, promtool = tool("prometheus"), tool("prometheus-alertmanager"), tool("promtool")
    begun = time.monotonic()
    ports: dict[str, int] = {}
    for name in ("finwatch", "prometheus", "alertmanager", "webhook", "program"):
        ports[name] = free_port(taken=set(ports.values()))
    instance = f"127.0.0.1:{ports['finwatch']}"

    rules = rules_for_test(tmp_path)
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr

    webhook = Webhook(ports["webhook"])
    program = None
    try:
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump({
            "route": {"receiver": "test", "group_by": ["alertname", "instance"],
                      "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "test", "webhook_configs": [
                {"url": f"http://127.0.0.1:{ports['webhook']}/hook", "send_resolved": True}]}],
        }))
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": SCRAPE, "evaluation_interval": SCRAPE},
            "rule_files": [str(rules)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
            "scrape_configs": [{"job_name": "finwatch", "static_configs": [{"targets": [instance]}]}],
        }))
        am = services.start("alertmanager", [
            alertmanager, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address=",   # no gossip port: a single Alertmanager of the test's own
        ])
        prom = services.start("prometheus", [
            prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            f"--web.external-url=http://127.0.0.1:{ports['prometheus']}/",   # the alert's link back to its graph
        ])
        program = services.start("program", [sys.executable, str(HERE / "stuck_program.py"), str(ports["program"])],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True)

        def answer() -> dict:
            ready, _, _ = select.select([program.stdout], [], [], 15)
            assert ready, "the program did not answer within 15 s"
            return json.loads(program.stdout.readline())

        def ask(command: str) -> dict:
            program.stdin.write(command + "\n")
            program.stdin.flush()
            return answer()

        assert answer() == {"port": ports["program"]}
        out = tmp_path / "finwatch.jsonl"
        finwatch = services.start("finwatch", [
            finwatch_bin, "--interface", "lo", "--listen", instance, "--close-wait-threshold", THRESHOLD,
            "--stats-interval", "1s", "--output", str(out),
            "--filter", f"port {ports['program']}",   # the program's connection only, not the scrapes
        ])

        prom_url = f"http://127.0.0.1:{ports['prometheus']}"
        am_url = f"http://127.0.0.1:{ports['alertmanager']}"
        wait_until("finwatch healthy", lambda: http_get(f"http://{instance}/healthz")[0] == 200, 20,
                   diagnose=lambda: services.log("finwatch"))
        wait_until("Alertmanager ready", lambda: http_get(f"{am_url}/-/ready")[0] == 200, 30,
                   diagnose=lambda: services.log("alertmanager")[-2000:])
        wait_until("Prometheus ready", lambda: http_get(f"{prom_url}/-/ready")[0] == 200, 30,
                   diagnose=lambda: services.log("prometheus")[-2000:])
        wait_until("Prometheus scrapes finwatch (up == 1)", lambda: any(
            t["health"] == "up" for t in http_json(f"{prom_url}/api/v1/targets")["data"]["activeTargets"]), 20,
            diagnose=lambda: json.dumps(http_json(f"{prom_url}/api/v1/targets")))
        wait_until("Prometheus knows Alertmanager", lambda: http_json(f"{prom_url}/api/v1/alertmanagers")["data"]["activeAlertmanagers"], 20)

        # The program leaks: its peer hangs up, it never calls close().
        stuck = ask("connect")
        t0 = time.time()
        local, peer = stuck["stuck"]
        ss = subprocess.run(["ss", "-Htn", "state", "close-wait", f"( sport = :{local} and dport = :{peer} )"],
                            capture_output=True, text=True, timeout=10)
        assert ss.stdout.strip(), "the kernel does not show the program's socket in CLOSE_WAIT"

        def prom_alert():
            for a in http_json(f"{prom_url}/api/v1/alerts")["data"]["alerts"]:
                if a["labels"].get("alertname") == ALERT:
                    return a
            return None

        seen: dict[str, float] = {}
        def watch_until(what: str, done, timeout: float):
            """Polls Prometheus's view every 50 ms (noting when the rule was first pending, first
            firing) until done() holds."""
            def step():
                a = prom_alert()
                if a is not None:
                    seen.setdefault(a["state"], time.time())
                    seen.setdefault("active_at", rfc3339(a["activeAt"]))
                elif "firing" in seen:
                    seen.setdefault("inactive", time.time())
                return done()
            return wait_until(what, step, timeout, interval=0.05,
                              diagnose=lambda: f"seen={seen} alerts={http_get(prom_url + '/api/v1/alerts')[1]} "
                                               f"webhook={webhook.received} finwatch={out.read_text() if out.exists() else ''}")

        firing_hook = watch_until("webhook receives the firing alert", lambda: webhook.first("firing"), 45)
        assert "pending" in seen, f"the rule was never seen pending: {seen}"
        assert seen["pending"] <= seen["firing"]

        fired = [e for e in events(out) if e["type"] == "alert" and e["status"] == "firing"]
        assert len(fired) == 1, fired
        fired = fired[0]
        assert fired["alert"] == "close_wait_lingering" and fired["state"] == "CLOSE_WAIT"
        assert fired["resp"]["port"] == local and fired["orig"]["port"] == peer
        assert fired["process"]["pid"] == program.pid, f"the alert names another process: {fired['process']}"
        assert fired["process"]["kernel_confirmed"] is True

        # What the person paged gets: which alert, how bad, which host, and what to do.
        hook_time, payload = firing_hook
        assert payload["receiver"] == "test"
        [delivered] = [a for a in payload["alerts"] if a["labels"]["alertname"] == ALERT]
        assert delivered["status"] == "firing"
        assert delivered["labels"] == {"alertname": ALERT, "instance": instance, "severity": "warning"}
        assert delivered["annotations"]["summary"] == f"1 TCP side(s) stuck in CLOSE_WAIT on {instance}"
        description = delivered["annotations"]["description"]
        assert "never called close()" in description and "`finwatch status`" in description
        assert "`process` field" in description
        assert delivered["generatorURL"].startswith(f"{prom_url}/graph?g0.expr=max+by+%28instance%29+%28finwatch_alerts_firing")
        starts_at = rfc3339(delivered["startsAt"])

        # /connections (what `finwatch status` prints, the runbook's next step) names the program.
        connections = http_json(f"http://{instance}/connections")["connections"]
        assert [c["process"]["pid"] for c in connections if c["state"] == "CLOSE_WAIT"] == [program.pid]

        # The program finally closes: finwatch resolves, the rule goes inactive, Alertmanager
        # delivers the resolution.
        assert ask("close") == {"closed": True}
        t1 = time.time()
        resolved_hook = watch_until("webhook receives the resolution", lambda: webhook.first("resolved"), 45)
        resolved = [e for e in events(out) if e["type"] == "alert" and e["status"] == "resolved"]
        assert len(resolved) == 1 and resolved[0]["uid"] == fired["uid"], resolved
        [closed] = [a for a in resolved_hook[1]["alerts"] if a["labels"]["alertname"] == ALERT]
        assert closed["status"] == "resolved"
        assert closed["labels"] == delivered["labels"]
        ends_at = rfc3339(closed["endsAt"])
        assert ends_at >= starts_at
        close_record = wait_until("finwatch writes the close record", lambda: [
            e for e in events(out) if e["type"] == "close" and e["uid"] == fired["uid"]], 10)
        assert close_record[0]["close"] == "normal", close_record

        assert time.monotonic() - begun < WALL_LIMIT
        # finwatch stops cleanly on SIGTERM; the engines are stopped by the fixture.
        assert services.stop(finwatch) == 0, services.log("finwatch")
        assert prom.poll() is None and am.poll() is None, "an engine died during the test"
        # Every line of the live run (start, stats, alert with process, close, stop) is in the schema.
        lines = out.read_text().splitlines()
        assert {json.loads(line)["type"] for line in lines} == {"start", "stats", "alert", "close", "stop"}
        invalid = [(line[:80], e) for line in lines for e in contract.errors(line)]
        assert not invalid, invalid

        rows = [
            ("program's socket in CLOSE_WAIT", 0.0, f"127.0.0.1:{local} <- 127.0.0.1:{peer}, pid {program.pid}"),
            ("finwatch `alert` firing (its ts)", rfc3339(fired["ts"]) - t0,
             f"threshold {THRESHOLD}, duration_ms {fired['duration_ms']}, process {fired['process']['comm']}"),
            ("Prometheus rule pending (activeAt)", seen["active_at"] - t0, f"scrape/eval every {SCRAPE}"),
            ("Prometheus rule pending (first seen)", seen["pending"] - t0, ""),
            ("Prometheus rule firing (first seen)", seen["firing"] - t0, f"for: {FOR}"),
            ("Alertmanager startsAt", starts_at - t0, ""),
            ("webhook received firing", hook_time - t0, "group_wait 1s"),
            ("program closes the socket", t1 - t0, ""),
            ("finwatch `alert` resolved (its ts)", rfc3339(resolved[0]["ts"]) - t0, f"resolved_to {resolved[0].get('resolved_to')}"),
            ("Prometheus alert gone (first seen)", seen["inactive"] - t0 if "inactive" in seen else None, ""),
            ("Alertmanager endsAt", ends_at - t0, ""),
            ("webhook received resolved", resolved_hook[0] - t0, "group_interval 1s"),
        ]
        record_timeline("alerting chain timeline (finwatch -> Prometheus -> Alertmanager -> webhook)", rows)
        (tmp_path / "timeline.json").write_text(json.dumps(rows, indent=1))
        if os.environ.get("FINWATCH_E2E_TIMELINE"):
            Path(os.environ["FINWATCH_E2E_TIMELINE"]).write_text(json.dumps(rows, indent=1))
    finally:
        if program is not None and program.poll() is None:
            program.stdin.close()   # it exits on end of input; the fixture stops it otherwise
        webhook.close()
