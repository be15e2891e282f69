"""The README's promise, as a newcomer would run it: `pavedroad sandbox`, one curl to trigger, then the state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.process_helpers import free_port, http, wait_for


def second_sandbox_leaves_the_first_alone(tmp_path: Path, port: int) -> None:
    """A second `pavedroad sandbox` in the same folder: on the same port it stops before touching the database; on
    another port it sees the database open in the first and leaves it."""
    db = tmp_path / "sandbox.db"
    same_port = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "sandbox", "--port", str(port), "--db",
                                str(db)], capture_output=True, text=True, timeout=60, check=False)
    assert same_port.returncode == 2 and f"Cannot listen on port {port}" in same_port.stderr, same_port.stderr
    assert "Removed" not in same_port.stdout and db.exists()
    other_port = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "sandbox", "--port", str(free_port()),
                                 "--db", str(db)], capture_output=True, text=True, timeout=60, check=False)
    assert other_port.returncode == 2 and "is open in another process" in other_port.stderr, other_port.stderr
    assert db.exists() and http("GET", f"http://127.0.0.1:{port}/readyz")["ready"]


def test_the_readme_walkthrough(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "sandbox.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot.app.cli.main", "sandbox", "--port", str(port), "--db",
                                    str(tmp_path / "sandbox.db")], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: http("GET", f"{url}/readyz")["ready"], 60, "the sandbox")
        banner = (tmp_path / "sandbox.log").read_text()
        assert f"Paved Road sandbox is running on {url}" in banner and "/sandbox/pagerduty/incidents" in banner
        assert "Adding job tentatively" not in banner and f"Open {url} in a browser" in banner
        second_sandbox_leaves_the_first_alone(tmp_path, port)
        created = http("POST", f"{url}/sandbox/pagerduty/incidents",
                       {"title": "Checkout returns 500s", "service_id": "PCHECKO"})["incident"]

        def channel() -> dict[str, object] | None:
            channels = http("GET", f"{url}/sandbox/state")["slack"]["channels"]
            return next((c for c in channels if c["name"] == f"inc-{created['incident_number']}-checkout-"
                         "returns-500s" and c["pins"]), None)
        wait_for(lambda: channel() is not None, 20, "the incident channel with its pinned card")
        http("POST", f"{url}/sandbox/pagerduty/incidents/{created['id']}/acknowledge",
             {"user": "ben.okafor@example.com"})
        http("POST", f"{url}/sandbox/pagerduty/incidents/{created['id']}/resolve", {"user": "ben.okafor@example.com"})
        wait_for(lambda: str((channel() or {}).get("topic", "")).startswith("✅ Resolved · Checkout"), 20,
                 "the topic to show the resolution")
    finally:
        process.terminate()
        process.wait(10)
