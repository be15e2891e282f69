"""deploy/kubernetes/: rendered with `kubectl kustomize`, every object valid against Kubernetes' own schemas
(kubernetes-validate, which ships them: no cluster, no network), and the properties the deploy recipe promises:
at least two replicas, readiness on /readyz and liveness on /healthz, every secret through secretKeyRef and none
written down, a PodDisruptionBudget and a Service that select the bot's pods (not the migration Job's), the
migration Job, the catalogue as a ConfigMap the bot's own loader accepts, and the settings its own config accepts.

The rendered tests skip, saying so, where kubectl is missing; the files' own checks run everywhere.
"""

from __future__ import annotations

import copy
import inspect
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.adapters.pagerduty.paging import PagerDutyPaging
from bot.app import readiness
from bot.app.config import VARIABLES, load_settings
from bot.app.stopping import DRAIN_SECONDS, TELL_SECONDS
from bot.app.web import ACK_SECONDS, HTTP_SHUTDOWN_SECONDS
from bot.catalogue import load_catalogue, parse_catalogue
from commands.in_flight import CANCELLED_END_SECONDS
from tests.deploy.dockerfile import stages

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
# Every secret the bot reads (bot/app/config.py), and the PostgreSQL URL, which carries the database's password.
SECRETS = {v.name for v in VARIABLES if v.secret} | {"PAVEDROAD_DATABASE_URL"}
REQUIRED_SECRETS = {v.name for v in VARIABLES if v.secret and v.required_for_serve} | {"PAVEDROAD_DATABASE_URL"}
# The oldest Kubernetes minor release still in its providers' standard support, and the newest the validator knows.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: the rendered manifests (kubectl kustomize deploy/kubernetes) are not "
                    "checked here; install kubectl to check them")
    result = subprocess.run([kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return [m for m in yaml.safe_load_all(result.stdout) if m]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    [found] = [m for m in manifests if m["kind"] == kind]
    return found


def config_map(manifests: list[Manifest], name: str) -> Manifest:
    # kustomize names a generated ConfigMap by its content's hash: pavedroad-catalogue-<hash>.
    [found] = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"].startswith(name + "-")]
    return found


def pod(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: Manifest) -> dict[str, Any]:
    [found] = pod(workload)["containers"]
    return dict(found)


def selects(selector: dict[str, dict[str, str]], labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}, "only matchLabels is read here"
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_the_kustomization_lists_files_that_exist_and_leaves_the_example_secret_out() -> None:
    files = [*KUSTOMIZATION["resources"], *(f for g in KUSTOMIZATION["configMapGenerator"]
                                           for f in [*g.get("files", []), *g.get("envs", [])])]
    assert all((DEPLOY / f).is_file() for f in files), files
    assert "secret.example.yaml" not in files and "secretGenerator" not in KUSTOMIZATION
    example = yaml.safe_load((DEPLOY / "secret.example.yaml").read_text())
    kubernetes_validate.validate(example, VERSIONS[-1], strict=True)
    # The example names every secret the workloads read, and nothing else; its values are placeholders.
    keys = set(example["stringData"]) | set(re.findall(r"^  # ([A-Z_]+):", (DEPLOY / "secret.example.yaml").read_text(),
                                                       re.M))
    assert keys == SECRETS
    assert all("CHANGE-ME" in value for value in example["stringData"].values())


def test_the_grace_period_holds_the_whole_stop_so_work_under_way_is_answered_before_the_pod_is_killed() -> None:
    # From the moment Kubernetes begins to stop the pod: preStop's sleep, then SIGTERM, and the server waits for the
    # requests in flight, a Socket Mode connection stays open for the answers Slack waits for, the bot drains the
    # work already acknowledged (the work cut short given a moment to end, its people's notices queued), and closes
    # its clients, the PagerDuty one perhaps waiting for a call still on its thread until PagerDuty's timeout. All of
    # it before SIGKILL.
    deployment = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    [bot] = pod(deployment)["containers"]
    sleep, seconds = bot["lifecycle"]["preStop"]["exec"]["command"]
    pagerduty_timeout = inspect.signature(PagerDutyPaging).parameters["timeout"].default
    assert sleep == "sleep"
    stop = (float(seconds) + HTTP_SHUTDOWN_SECONDS + ACK_SECONDS + DRAIN_SECONDS + CANCELLED_END_SECONDS
            + TELL_SECONDS + pagerduty_timeout)
    assert stop <= pod(deployment)["terminationGracePeriodSeconds"]


def test_the_catalogue_in_the_config_map_is_one_the_bot_loads() -> None:
    catalogue = load_catalogue(DEPLOY / "catalogue.yml")
    assert catalogue.services and catalogue.teams and catalogue.sandbox is None  # the sandbox's seed is not served


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_object_is_valid_for_kubernetes(rendered: list[Manifest], version: str) -> None:
    assert {m["kind"] for m in rendered} == {"Deployment", "Service", "PodDisruptionBudget", "Job", "ConfigMap"}
    for manifest in rendered:
        kubernetes_validate.validate(manifest, version, strict=True)
        assert manifest["metadata"]["namespace"] == KUSTOMIZATION["namespace"]


def test_the_validator_refuses_a_misspelt_field(rendered: list[Manifest]) -> None:
    # Strict validation bites: the tests above would fail on a field Kubernetes would not read.
    deployment = copy.deepcopy(one(rendered, "Deployment"))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_at_least_two_replicas_ready_on_readyz_alive_on_healthz(rendered: list[Manifest]) -> None:
    deployment = one(rendered, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0  # a deploy keeps them all
    bot = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in bot["ports"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
        get = bot[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports.get(get["port"], get["port"]) in ports.values(), f"{probe} asks a port the bot does not open"
        assert bot[probe]["timeoutSeconds"] >= 2, f"{probe}: the default 1 s is shorter than a busy store's answer"
    # /readyz answers "not ready" by its own time limit when the store hangs: the probe must wait that long for it.
    assert bot["readinessProbe"]["timeoutSeconds"] > readiness.CHECK_SECONDS
    assert bot["args"] == ["serve"]
    # The image is tagged with the release it was built from, never a moving `latest`.
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert bot["image"].rsplit(":", 1)[-1] == version


def env_of(workload: Manifest) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(workload).get("env", [])}


def test_every_secret_the_bot_reads_comes_through_a_secret_key_ref(rendered: list[Manifest]) -> None:
    env = env_of(one(rendered, "Deployment"))
    for name in SECRETS:
        assert name in env, f"{name} is not given to the bot"
        assert "value" not in env[name], f"{name} is written in the manifest"
        reference = env[name]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == "pavedroad" and reference["key"] == name
        # A required secret missing from the Secret stops the pod from starting, rather than the bot failing later.
        assert reference.get("optional", False) is (name not in REQUIRED_SECRETS), name
    assert not [e for e in env.values() if "valueFrom" in e and "secretKeyRef" not in e["valueFrom"]]
    job_env = env_of(one(rendered, "Job"))
    assert job_env == {"PAVEDROAD_DATABASE_URL": env["PAVEDROAD_DATABASE_URL"]}  # the Job needs the database only


def test_no_secret_value_is_written_anywhere_in_what_is_applied(rendered: list[Manifest]) -> None:
    assert not [m for m in rendered if m["kind"] == "Secret"]
    settings = config_map(rendered, "pavedroad-settings")["data"]
    assert not set(settings) & SECRETS
    text = yaml.safe_dump_all(rendered)
    for pattern in (r"xox[abp]-", r"xapp-", r"://[^/\s:@]+:[^/\s@]+@", r"(?i)password\s*[:=]\s*\S"):
        assert not re.search(pattern, text), pattern
    for manifest in rendered:
        for workload_env in ([e for c in pod(manifest)["containers"] for e in c.get("env", [])]
                             if manifest["kind"] in ("Deployment", "Job") else []):
            assert workload_env["name"] not in SECRETS or "value" not in workload_env


def test_the_settings_and_the_env_are_ones_the_bots_own_config_accepts(rendered: list[Manifest]) -> None:
    deployment = one(rendered, "Deployment")
    settings = config_map(rendered, "pavedroad-settings")
    [source] = container(deployment)["envFrom"]
    assert source["configMapRef"]["name"] == settings["metadata"]["name"]
    known = {v.name for v in VARIABLES}
    assert set(settings["data"]) <= known - SECRETS, set(settings["data"]) - known
    literal = {name: e["value"] for name, e in env_of(deployment).items() if "value" in e}
    # The secrets as a Secret would give them (placeholders), the rest as the manifests do.
    given = {**settings["data"], **literal, **{name: f"placeholder-{name}" for name in REQUIRED_SECRETS},
             "SLACK_BOT_TOKEN": "xoxb-placeholder",
             "PAVEDROAD_DATABASE_URL": "postgresql://pavedroad:placeholder@postgres:5432/pavedroad"}
    loaded = load_settings(given)
    assert str(loaded.catalogue_path) == literal["CATALOGUE_PATH"]
    assert loaded.port == container(deployment)["ports"][0]["containerPort"]


def test_the_catalogue_config_map_is_mounted_where_the_bot_reads_it(rendered: list[Manifest]) -> None:
    deployment = one(rendered, "Deployment")
    generated = config_map(rendered, "pavedroad-catalogue")
    assert generated["data"] == {"catalogue.yml": (DEPLOY / "catalogue.yml").read_text()}
    parse_catalogue(yaml.safe_load(generated["data"]["catalogue.yml"]), Path("catalogue.yml"))
    path = Path(env_of(deployment)["CATALOGUE_PATH"]["value"])
    volumes = {v["name"]: v for v in pod(deployment)["volumes"]}
    [mount] = [m for m in container(deployment)["volumeMounts"] if Path(m["mountPath"]) == path.parent]
    assert volumes[mount["name"]]["configMap"]["name"] == generated["metadata"]["name"]
    assert path.name in generated["data"]


def test_resources_and_an_unprivileged_read_only_container_for_every_workload(rendered: list[Manifest]) -> None:
    user = stages((ROOT / "Dockerfile").read_text())[-1].one("USER").arguments.partition(":")[0]
    for workload in (one(rendered, "Deployment"), one(rendered, "Job")):
        spec, main = pod(workload), container(workload)
        assert {"requests", "limits"} <= set(main["resources"])
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(main["resources"][bound]), (workload["kind"], bound)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == int(user)  # the image's own user
        assert spec["automountServiceAccountToken"] is False
        # No PAVEDROAD_PORT=tcp://… from the Service's name: it would sit beside the bot's own PAVEDROAD_ settings.
        assert spec["enableServiceLinks"] is False
        context = main["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        # The one writable place, /tmp (matplotlib's cache and temporary files), is a volume.
        assert any(m["mountPath"] == "/tmp" for m in main["volumeMounts"])
        assert main["image"] == container(one(rendered, "Deployment"))["image"]


def test_the_disruption_budget_keeps_one_bot_serving_and_selects_only_the_bots_pods(
        rendered: list[Manifest]) -> None:
    deployment, budget, job = one(rendered, "Deployment"), one(rendered, "PodDisruptionBudget"), one(rendered, "Job")
    bots = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(budget["spec"]["selector"], bots)
    assert not selects(budget["spec"]["selector"], job["spec"]["template"]["metadata"]["labels"])
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    # At least one stays, and a drain can still go on (a budget of every replica would block it for ever).
    assert 1 <= budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_the_service_sends_to_the_bots_container_port(rendered: list[Manifest]) -> None:
    deployment, service, job = one(rendered, "Deployment"), one(rendered, "Service"), one(rendered, "Job")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects({"matchLabels": service["spec"]["selector"]}, labels)
    assert not selects({"matchLabels": service["spec"]["selector"]}, job["spec"]["template"]["metadata"]["labels"])
    ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    [port] = service["spec"]["ports"]
    target = ports.get(port["targetPort"], port["targetPort"])
    assert target in ports.values()
    assert str(target) == env_of(deployment)["PORT"]["value"]  # the bot listens where the Service sends
    assert str(target) == stages((ROOT / "Dockerfile").read_text())[-1].one("EXPOSE").arguments


def test_the_migration_job_runs_pavedroad_migrate_once(rendered: list[Manifest]) -> None:
    job = one(rendered, "Job")
    migrate = container(job)
    assert migrate["args"] == ["migrate"]
    assert pod(job)["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"].get("parallelism", 1) == 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0  # gone after a while, so the next apply can create it anew


def test_the_readmes_commands_name_the_objects_the_manifests_create(rendered: list[Manifest]) -> None:
    readme = (ROOT / "README.md").read_text()
    namespace, job = KUSTOMIZATION["namespace"], one(rendered, "Job")["metadata"]["name"]
    assert f"kubectl create namespace {namespace}\n" in readme
    assert f"kubectl -n {namespace} create secret generic {container_secret(rendered)} " in readme
    assert f"kubectl -n {namespace} wait --for=condition=complete job/{job} " in readme
    assert f"kubectl -n {namespace} rollout status deployment/{one(rendered, 'Deployment')['metadata']['name']}\n" \
        in readme
    assert f"kubectl -n {namespace} delete job {job}`" in readme
    assert "kubectl apply -k deploy/kubernetes\n" in readme


def container_secret(rendered: list[Manifest]) -> str:
    """The one Secret every secretKeyRef names."""
    names = {str(e["valueFrom"]["secretKeyRef"]["name"]) for kind in ("Deployment", "Job")
             for e in env_of(one(rendered, kind)).values() if "secretKeyRef" in e.get("valueFrom", {})}
    [name] = names
    return name
