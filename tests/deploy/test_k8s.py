"""The Kubernetes manifests (deploy/k8s), checked offline: each overlay renders with
``kubectl kustomize``, every object it renders is valid for the Kubernetes API (strict schemas,
bundled by kubernetes-validate), and the properties the deployment relies on hold. No cluster
runs here, so these tests are what stands between a typo and a failed ``kubectl apply``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes still widely run (CronJob timeZone is GA from 1.27), and kubectl's own
# version on the development machine. Strict: a misspelt or misplaced field is an error, as it
# is for `kubectl apply --validate=strict`, not a field silently dropped.
KUBERNETES_VERSIONS = ("1.29.0", "1.32.0")
# The images an overlay maps to a registry: as a local `docker compose build` names them.
IMAGES = {"mle-challenge-api", "mle-challenge-app"}
API = "mle-challenge-api"
TRAINER = "mle-challenge-trainer"
SECRET = "mle-challenge-secrets"


def _kustomize_problem() -> str | None:
    """Why ``kubectl kustomize`` cannot render the overlays here, or None when it can."""
    if shutil.which("kubectl") is None:
        return (
            "kubectl is not installed: the overlays are rendered with `kubectl kustomize` "
            "(kubectl >= 1.27). Debian bookworm's kubernetes-client is 1.20, whose kustomize "
            "v2 cannot read them."
        )
    done = subprocess.run(
        ["kubectl", "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    version = json.loads(done.stdout or "{}")
    kustomize = version.get("kustomizeVersion", "")  # absent before kubectl 1.24
    found = re.match(r"v?(\d+)", kustomize)
    if found is None or int(found.group(1)) < 5:
        kubectl = version.get("clientVersion", {}).get("gitVersion", "of unknown version")
        return (
            f"kubectl {kubectl} embeds kustomize {kustomize or 'older than v4.5'}: the "
            "overlays use kustomize v5 (labels, replicas, patches), in kubectl >= 1.27"
        )
    return None


@dataclass(frozen=True)
class Rendered:
    overlay: str
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}, found {len(found)}"
        return found[0]

    def config(self) -> dict[str, str]:
        """The data of the one ConfigMap the workloads read."""
        (config,) = self.of_kind("ConfigMap")
        return dict(config["data"])


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    problem = _kustomize_problem()
    if problem is not None:
        pytest.skip(problem)
    overlay = str(request.param)
    done = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize overlays/{overlay}: {done.stderr}"
    return Rendered(overlay, [o for o in yaml.safe_load_all(done.stdout) if o])


@pytest.fixture(scope="module")
def secret_example() -> dict[str, Any]:
    return dict(yaml.safe_load(SECRET_EXAMPLE.read_text()))


def _pod_templates(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, pod template) of every object that makes pods."""
    for deployment in rendered.of_kind("Deployment"):
        yield deployment["metadata"]["name"], deployment["spec"]["template"]
    for cronjob in rendered.of_kind("CronJob"):
        yield cronjob["metadata"]["name"], cronjob["spec"]["jobTemplate"]["spec"]["template"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]


def _api_container(rendered: Rendered) -> dict[str, Any]:
    pod = rendered.one("Deployment", API)["spec"]["template"]
    (api,) = [c for c in pod["spec"]["containers"] if c["name"] == "api"]
    return api


def _trainer_container(rendered: Rendered) -> dict[str, Any]:
    pod = rendered.one("CronJob", TRAINER)["spec"]["jobTemplate"]["spec"]["template"]
    (trainer,) = pod["spec"]["containers"]
    return trainer


def _port_number(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"port {port!r} is not a named port of {container['name']}"
    return int(named[port])


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- rendering and schemas ---


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_for_kubernetes(rendered: Rendered, version: str) -> None:
    """The whole overlay against the API's own schemas: what `kubectl apply` would refuse (or
    silently drop) fails here instead."""
    assert rendered.objects, f"overlays/{rendered.overlay} rendered nothing"
    for obj in rendered.objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']} at {where}: {exc.message}")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_secret_example_is_valid_for_kubernetes(
    secret_example: dict[str, Any], version: str
) -> None:
    """The example is what an operator copies and applies: it has to apply as it stands."""
    kubernetes_validate.validate(secret_example, version, strict=True)


def test_the_real_secret_is_never_committed() -> None:
    """The Secret with real values is made by hand from git-ignored files, never rendered."""
    ignored = subprocess.run(
        ["git", "check-ignore", "deploy/k8s/secret.yaml", "deploy/k8s/secrets.env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == ["deploy/k8s/secret.yaml", "deploy/k8s/secrets.env"]


def test_no_secret_is_rendered(rendered: Rendered) -> None:
    """An overlay that rendered a Secret would overwrite the real one with placeholders."""
    assert rendered.of_kind("Secret") == []


# --- the API's pods ---


def test_api_probes_are_bentoml_health_endpoints(rendered: Rendered) -> None:
    """Liveness restarts a stuck server, readiness keeps a pod out of the Service until its
    workers are up: BentoML's /livez and /readyz, on the port the server listens on."""
    api = _api_container(rendered)
    assert api["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["startupProbe"]["httpGet"]["path"] == "/livez"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert _port_number(api, api[probe]["httpGet"]["port"]) == 3000, probe


def test_pods_run_as_non_root_on_a_read_only_root(rendered: Rendered) -> None:
    """Every container of every pod: a numeric non-root user (runAsNonRoot alone cannot check
    an image whose user is a name), no privilege escalation, no capabilities, and a read-only
    root filesystem."""
    for name, pod in _pod_templates(rendered):
        security = pod["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert isinstance(security["runAsUser"], int) and security["runAsUser"] > 0, name
        assert security["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["spec"]["automountServiceAccountToken"] is False, name
        for container in _containers(pod):
            context = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where


def test_every_place_written_is_a_mounted_volume(rendered: Rendered) -> None:
    """With a read-only root, what the code writes must be a volume: BentoML's home (the bento's
    model store that a following worker publishes into, staging, cards, Prometheus files) and
    /tmp for the API; the trainer's BENTOML_HOME, HOME and /tmp."""
    for name, pod in _pod_templates(rendered):
        volumes = {v["name"] for v in pod["spec"]["volumes"]}
        for container in _containers(pod):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{name}/{container['name']}: {mount['name']}"

    def mounted(container: dict[str, Any], path: str) -> bool:
        return any(
            path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
            for m in container["volumeMounts"]
        )

    api = _api_container(rendered)
    # BENTOML_HOME of BentoML's image (bentoml/_internal/container/generate.py): not set here.
    assert "BENTOML_HOME" not in _env(api)
    assert mounted(api, "/home/bentoml/bento/models") and mounted(api, "/tmp")
    trainer = _trainer_container(rendered)
    env = _env(trainer)
    for path in (env["BENTOML_HOME"]["value"], env["HOME"]["value"], "/tmp"):
        assert mounted(trainer, path), path
    assert mounted(trainer, trainer["workingDir"])


def test_the_api_home_is_copied_from_the_image_before_it_is_mounted(rendered: Rendered) -> None:
    """The volume over /home/bentoml hides the bento the image carries there: an init
    container of the same image copies it in first."""
    pod = rendered.one("Deployment", API)["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    api = _api_container(rendered)
    assert init["image"] == api["image"]
    (home,) = [m for m in api["volumeMounts"] if m["mountPath"] == "/home/bentoml"]
    (target,) = [m for m in init["volumeMounts"] if m["name"] == home["name"]]
    assert init["command"] == ["cp", "-R", "/home/bentoml/.", target["mountPath"] + "/"]


def test_pre_stop_sleep_fits_in_the_grace_period(rendered: Rendered) -> None:
    """The grace period counts from the start of preStop: it must outlast the sleep, with
    time left for the requests in flight (the service's 30 s traffic timeout)."""
    pod = rendered.one("Deployment", API)["spec"]["template"]["spec"]
    command = _api_container(rendered)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    sleep = int(command[1])
    assert sleep > 0
    assert pod["terminationGracePeriodSeconds"] >= sleep + 30


def test_resources_are_set_and_requests_within_limits(rendered: Rendered) -> None:
    """Requests let the scheduler place pods and the HPA compute utilization; a memory limit
    turns a leak into a restart of one pod rather than pressure on the node."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}

    def amount(value: str | int) -> float:
        text = str(value)
        if text.endswith("m"):
            return float(text[:-1]) / 1000
        for suffix, factor in units.items():
            if text.endswith(suffix):
                return float(text[: -len(suffix)]) * factor
        return float(text)

    for name, pod in _pod_templates(rendered):
        for container in _containers(pod):
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request = amount(resources["requests"][resource])
                limit = amount(resources["limits"][resource])
                assert 0 < request <= limit, f"{name}/{container['name']} {resource}"
    # Two workers and the parent measured at 850 MB of RSS (see api-deployment.yaml).
    memory = amount(_api_container(rendered)["resources"]["requests"]["memory"])
    workers = int(_env(_api_container(rendered))["MLE_SERVE_WORKERS"]["value"])
    assert memory >= (246 + 302 * workers) * 1e6


def test_follow_mode_is_on_against_the_shared_registry(rendered: Rendered) -> None:
    """Promotions reach the pods without a rollout: the API follows production, and
    production lives in the registry on S3 that the trainer promotes into."""
    env = _env(_api_container(rendered))
    assert env["MLE_FOLLOW_PRODUCTION"]["value"] == "1"
    assert rendered.config()["MLE_REGISTRY"].startswith("s3://")


def test_only_variables_the_code_reads_are_set(rendered: Rendered) -> None:
    """Every MLE_ variable given to a pod is a setting of mle_challenge.config.Settings: a
    misspelt name would be ignored without a word (Settings has extra="ignore")."""
    from mle_challenge.config import Settings

    known = {
        (field.validation_alias or f"MLE_{name}").upper()
        for name, field in Settings.model_fields.items()
        if isinstance(field.validation_alias, str | None)
    }
    assert "AWS_ENDPOINT_URL" in known
    given = set(rendered.config())
    for _, pod in _pod_templates(rendered):
        for container in _containers(pod):
            given |= set(_env(container))
    unknown = {n for n in given if n.startswith("MLE_")} - known
    assert unknown == set()


# --- references between objects ---


def test_secret_references_name_keys_of_the_secret_example(
    rendered: Rendered, secret_example: dict[str, Any]
) -> None:
    """Every secretKeyRef names the Secret and a key the example documents: a pod whose key
    is missing never starts (CreateContainerConfigError)."""
    keys = set(secret_example["stringData"])
    used: set[str] = set()
    for name, pod in _pod_templates(rendered):
        for container in _containers(pod):
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                assert ref["name"] == secret_example["metadata"]["name"] == SECRET, name
                assert ref["key"] in keys, f"{name}: key {ref['key']} not in the example"
                used.add(ref["key"])
            assert not [e for e in container.get("envFrom", []) if "secretRef" in e], name
    assert used == keys, "the example documents keys that no pod reads"


def test_config_map_and_claim_references_resolve(rendered: Rendered) -> None:
    """The generated ConfigMap's name carries a hash: every reference must carry the same."""
    config_maps = {c["metadata"]["name"] for c in rendered.of_kind("ConfigMap")}
    claims = {c["metadata"]["name"] for c in rendered.of_kind("PersistentVolumeClaim")}
    for name, pod in _pod_templates(rendered):
        for container in _containers(pod):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, name
        for volume in pod["spec"]["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name


def test_service_reaches_the_api_port(rendered: Rendered) -> None:
    """Service selector, target port and the container's port agree."""
    service = rendered.one("Service", API)
    deployment = rendered.one("Deployment", API)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _selects(service["spec"]["selector"], labels)
    assert _selects(deployment["spec"]["selector"]["matchLabels"], labels)
    api = _api_container(rendered)
    (port,) = service["spec"]["ports"]
    assert _port_number(api, port["targetPort"]) == 3000


def test_network_policies_fence_every_pod(
    rendered: Rendered, secret_example: dict[str, Any]
) -> None:
    """The API takes traffic on its port only and reaches only DNS, S3 and PostgreSQL; the
    trainer takes none. The ports opened are those of the configured S3 endpoint and
    database URL."""
    policies = rendered.of_kind("NetworkPolicy")
    for name, pod in _pod_templates(rendered):
        labels = pod["metadata"]["labels"]
        mine = [p for p in policies if _selects(p["spec"]["podSelector"]["matchLabels"], labels)]
        assert len(mine) == 1, f"{name} is selected by {len(mine)} NetworkPolicies"
        assert set(mine[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}, name

    endpoint = urlsplit(rendered.config().get("AWS_ENDPOINT_URL", "https://s3.amazonaws.com"))
    s3_port = endpoint.port or {"https": 443, "http": 80}[endpoint.scheme]
    database_port = urlsplit(secret_example["stringData"]["MLE_PREDICTION_LOG"]).port or 5432
    allowed = {53, s3_port, database_port}

    def egress_ports(policy: dict[str, Any]) -> set[int]:
        ports: set[int] = set()
        for rule in policy["spec"]["egress"]:
            assert rule.get("ports"), "an egress rule without ports opens every port"
            ports |= {p["port"] for p in rule["ports"]}
        return ports

    api_policy = rendered.one("NetworkPolicy", API)
    assert egress_ports(api_policy) == allowed
    (ingress,) = api_policy["spec"]["ingress"]
    assert [_port_number(_api_container(rendered), p["port"]) for p in ingress["ports"]] == [3000]
    trainer_policy = rendered.one("NetworkPolicy", TRAINER)
    assert trainer_policy["spec"]["ingress"] == []
    assert egress_ports(trainer_policy) == allowed


# --- the trainer ---


def test_cron_job_runs_one_schedule_run_at_a_time(rendered: Rendered) -> None:
    """Kubernetes gives the tick, `mle-challenge schedule --once` does the run: its arguments
    parse with the real command, the outputs and listings are on S3, it monitors with the
    listings as actuals, and Kubernetes' own
    deadline comes after the command's --timeout so the run is recorded, not killed."""
    from mle_challenge.cli import cli
    from mle_challenge.schedule import duration, parse_cron

    cronjob = rendered.one("CronJob", TRAINER)
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    parse_cron(cronjob["spec"]["schedule"])  # a line the application reads the same way
    assert cronjob["spec"]["timeZone"] == "Etc/UTC"
    trainer = _trainer_container(rendered)
    assert trainer["command"] == ["mle-challenge"]
    name, *args = trainer["args"]
    assert name == "schedule"
    params = cli.commands["schedule"].make_context("schedule", list(args)).params
    assert params["once"] is True
    assert params["source"].startswith("s3://") and params["outputs"].startswith("s3://")
    assert params["model_name"]
    # Realized accuracy: each new scrape prices what was classified before it.
    assert params["monitor"] and params["actuals"] == params["source"]
    timeout = duration(params["run_timeout"], "--timeout")
    assert timeout is not None
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] > timeout.total_seconds()
    # SIGTERM, then the training's SIGKILL 30 s later: the grace period covers both.
    assert job["template"]["spec"]["terminationGracePeriodSeconds"] > 30


# --- per overlay ---


def test_replicas_and_disruption_by_overlay(rendered: Rendered) -> None:
    """Production: 2 pods at least, 2 to 6 on CPU, one always kept through a drain.
    Development: one pod, and no budget (a budget of one with one pod blocks every drain)."""
    deployment = rendered.one("Deployment", API)
    hpas = rendered.of_kind("HorizontalPodAutoscaler")
    pdbs = rendered.of_kind("PodDisruptionBudget")
    if rendered.overlay == "dev":
        assert deployment["spec"]["replicas"] == 1
        assert hpas == [] and pdbs == []
        return
    assert deployment["spec"]["replicas"] == 2
    (hpa,) = hpas
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": API,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"]
    (pdb,) = pdbs
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _selects(pdb["spec"]["selector"]["matchLabels"], labels)


def test_images_come_from_a_registry_with_a_fixed_tag(rendered: Rendered) -> None:
    """Every image is one of the two local images, mapped to a registry by the overlay, with
    an explicit tag; production's is never `latest`, which would let a restarted pod run
    other code than its neighbours."""
    for name, pod in _pod_templates(rendered):
        for container in _containers(pod):
            image = container["image"]
            repository, _, tag = image.rpartition(":")
            assert "/" in repository, f"{name}: {image} is not mapped to a registry"
            assert repository.rsplit("/", 1)[1] in IMAGES, f"{name}: {image}"
            assert tag and "/" not in tag, f"{name}: {image} has no tag"
            if rendered.overlay == "prod":
                assert tag != "latest", f"{name}: {image}"
