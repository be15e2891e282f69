"""The README's reports walkthrough, as a newcomer runs it: `pavedroad sandbox --history`, then `pavedroad report`
on the sandbox's database (while the sandbox runs), a chart, and `/incident report` in a team channel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.process_helpers import free_port, http, wait_for
from tests.reports.seed_table import SEED, seed_figures


def test_the_reports_walkthrough(tmp_path: Path) -> None:
    port, db, log_path = free_port(), tmp_path / "sandbox.db", tmp_path / "sandbox.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot.app.cli.main", "sandbox", "--history", "--port",
                                    str(port),
                                    "--db", str(db)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Paved Road sandbox is running" in log_path.read_text(), 90, "the sandbox")
        assert "Imported the synthetic history from the sandbox's PagerDuty: 46 incidents and 7939 deploys" in \
            log_path.read_text()
        chart = tmp_path / "report.png"
        done = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "report", "--db", str(db), "--chart",
                               str(chart)],
                              capture_output=True, text=True, timeout=120, check=True)
        rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[2:]}
        assert list(rows) == ["2019", "2020"]
        assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        # The seed's table, in its shape, from the database the sandbox imported into (the Done-when of issue 15).
        by_model = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "report", "--db", str(db), "--by",
                                   "model", "--format", "json"], capture_output=True, text=True, timeout=120,
                                  check=True)
        assert seed_figures(json.loads(by_model.stdout)["rows"]) == SEED
        answer = http("POST", f"{url}/sandbox/slack/command", {"user": "ben.okafor@example.com",
                                                               "channel": "team-payments", "text": "report --by team"})
        assert answer["status"] == 200

        def report_posted() -> bool:
            return any(m["files"] and "*Incidents by team*" in m["text"]
                       for m in http("GET", f"{url}/sandbox/state")["slack"]["messages"])
        wait_for(report_posted, 30, "the report to be posted in #team-payments")
    finally:
        process.terminate()
        process.wait(10)
