"""`pavedroad emulators` as a newcomer runs it: the exports it prints point at where it really listens, whatever the
shell still holds from an earlier run, and its world is built from the catalogue the bot it serves is told to load."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.catalogue_file import seed_catalogue_path
from tests.e2e.process_helpers import http, wait_for


class Emulators:
    def __init__(self, tmp: Path, env: dict[str, str], *args: str) -> None:
        self.output = tmp / "emulators.out"
        with open(self.output, "wb") as out, open(tmp / "emulators.err", "wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.app.cli.main", "emulators", *args],
                                            env=env, stdout=out, stderr=err, cwd=tmp)
        wait_for(lambda: "pavedroad serve --port" in self.output.read_text(), 60, "the emulators' exports")

    @property
    def printed(self) -> str:
        return self.output.read_text()

    def exports(self) -> dict[str, str]:
        return dict(re.findall(r"^export (\w+)=(.*)$", self.printed, re.M))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(15)


Start = Callable[..., Emulators]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    started: list[Emulators] = []
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "PAGERDUTY_", "SERVICENOW_", "CATALOGUE"))}

    def launch(env: dict[str, str], *args: str) -> Emulators:
        started.append(Emulators(tmp_path, {**base, **env}, *args))
        return started[-1]

    yield launch
    for emulators in started:
        if emulators.process.poll() is None:
            emulators.stop()


def test_port_0_prints_the_port_it_listens_on(start: Start) -> None:
    # Before: "Emulators on http://127.0.0.1:0" and every export pointing at port 0, while it listened elsewhere.
    emulators = start({}, "--port", "0", "--bot-url", "http://127.0.0.1:9")
    url = re.search(r"Emulators on (http://127\.0\.0\.1:(\d+))", emulators.printed)
    assert url is not None and url.group(2) != "0", emulators.printed
    assert emulators.exports()["SLACK_API_URL"] == f"{url.group(1)}/sandbox/slack/api/"
    assert emulators.exports()["PAGERDUTY_API_URL"] == f"{url.group(1)}/sandbox/pagerduty/api"
    state = http("GET", f"{url.group(1)}/sandbox/state")  # listening there
    assert state is not None and state["slack"]["bot"]["name"] == "pavedroad"


def test_addresses_are_this_runs_whatever_the_shell_holds(start: Start) -> None:
    # An earlier run's pasted exports (another port) were kept: "# SLACK_API_URL: as already set in your environment"
    # sent the bot to emulators no longer there, and CATALOGUE_PATH named a catalogue the emulators never loaded.
    stale = {"SLACK_API_URL": "http://127.0.0.1:3999/sandbox/slack/api/",
             "PAGERDUTY_API_URL": "http://127.0.0.1:3999/sandbox/pagerduty/api",
             "SERVICENOW_INSTANCE_URL": "http://127.0.0.1:3999/sandbox/servicenow",
             "CATALOGUE_PATH": str(seed_catalogue_path()), "SLACK_SIGNING_SECRET": "kept-from-the-shell"}
    emulators = start(stale, "--port", "0", "--bot-url", "http://127.0.0.1:9")
    exports = emulators.exports()
    port = re.search(r"Emulators on http://127\.0\.0\.1:(\d+)", emulators.printed).group(1)  # type: ignore[union-attr]
    assert exports["SLACK_API_URL"] == f"http://127.0.0.1:{port}/sandbox/slack/api/"
    assert exports["SERVICENOW_INSTANCE_URL"] == f"http://127.0.0.1:{port}/sandbox/servicenow"
    assert exports["CATALOGUE_PATH"] == str(seed_catalogue_path())
    # A secret from the environment is the one it accepts, and is never echoed.
    assert "SLACK_SIGNING_SECRET" not in exports
    assert "# SLACK_SIGNING_SECRET: as already set in your environment" in emulators.printed
    # Its world is the seed catalogue's (49 services, the bundled example's 12), as the bot's will be.
    services = {s["id"] for s in http("GET", f"http://127.0.0.1:{port}/sandbox/state")["pagerduty"]["services"]}
    assert "PSEED01" in services


def test_a_port_taken_is_one_line(start: Start, tmp_path: Path) -> None:
    first = start({}, "--port", "0", "--bot-url", "http://127.0.0.1:9")
    port = re.search(r"Emulators on http://127\.0\.0\.1:(\d+)", first.printed).group(1)  # type: ignore[union-attr]
    second = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "emulators", "--port", port, "--bot-url",
                             "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            check=False)
    assert second.returncode == 2
    assert f"pavedroad emulators: cannot listen on port {port} (Address already in use)" in second.stderr
    assert "Traceback" not in second.stderr


def test_secrets_given_as_files_are_the_ones_it_accepts(start: Start, tmp_path: Path) -> None:
    # The README's secrets setup (`<NAME>_FILE` naming a mounted secret), which the bot reads: the emulators ignored
    # the files and generated their own, so the bot started with those exports had its token refused by them.
    given = {"SLACK_BOT_TOKEN": "xoxb-from-a-file", "SLACK_SIGNING_SECRET": "signing-from-a-file",
             "PAGERDUTY_API_TOKEN": "pd-from-a-file", "PAGERDUTY_WEBHOOK_SECRETS": "webhook-from-a-file",
             "SERVICENOW_PASSWORD": "sn-from-a-file", "SERVICENOW_WEBHOOK_SECRET": "sn-webhook-from-a-file"}
    env = {}
    for name, value in given.items():
        (tmp_path / name.lower()).write_text(value + "\n")  # a mounted secret's trailing newline is not part of it
        env[f"{name}_FILE"] = str(tmp_path / name.lower())
    emulators = start(env, "--port", "0", "--bot-url", "http://127.0.0.1:9")
    for name, value in given.items():
        assert name not in emulators.exports() and value not in emulators.printed
        assert f"# {name}: as already set in your environment" in emulators.printed
    url = emulators.exports()["SLACK_API_URL"]
    request = urllib.request.Request(f"{url}auth.test", data=b"", method="POST",
                                     headers={"Authorization": "Bearer xoxb-from-a-file"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read())["ok"] is True
    request = urllib.request.Request(f"{emulators.exports()['PAGERDUTY_API_URL']}/users", method="GET",
                                     headers={"Authorization": "Token token=pd-from-a-file",
                                              "Accept": "application/vnd.pagerduty+json;version=2"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_a_secret_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_", "SERVICENOW_"))},
           "SLACK_BOT_TOKEN_FILE": str(tmp_path / "missing")}
    emulators = subprocess.run([sys.executable, "-m", "bot.app.cli.main", "emulators", "--port", "0", "--bot-url",
                                "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                               env=env, check=False)
    assert emulators.returncode == 2
    assert f"pavedroad emulators: SLACK_BOT_TOKEN_FILE: cannot read '{tmp_path / 'missing'}'" in emulators.stderr
    assert "Traceback" not in emulators.stderr
