"""Dockerfile, entrypoint, docker-compose.yml and the Kubernetes manifests, checked by real
validators: hadolint, ShellCheck, the Compose Specification's JSON schema, the Kubernetes API's
JSON schemas (kubernetes-validate) and kustomize (`kustomize build` or `kubectl kustomize`)."""

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import PROJECT, VENV_BIN, run

K8S = PROJECT / "deploy" / "k8s"
# The oldest Kubernetes release the manifests promise to work on,
# and the newest one kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
RESOURCE_FILES = sorted(
    path.name for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml"
)


def tool(name: str) -> str:
    return str(VENV_BIN / name)


def schema_errors(resource: dict, version: str) -> str | None:
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        kind, name = resource["kind"], resource["metadata"]["name"]
        return f"{kind}/{name}: {error.path}: {error.message}"
    return None


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> list[dict]:
    """The kustomization rendered, with secret.env made from its committed example."""
    kustomize = shutil.which("kustomize")
    command = [kustomize, "build"] if kustomize else None
    if command is None and shutil.which("kubectl"):
        command = [shutil.which("kubectl"), "kustomize"]
    if command is None:
        pytest.skip("neither kustomize nor kubectl (which embeds kustomize) is installed")
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy)
    shutil.copy(copy / "secret.env.example", copy / "secret.env")
    result = subprocess.run(  # noqa: S603 - a fixed command
        [*command, str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def pod_specs(resources: list[dict]) -> dict[str, dict]:
    specs = {}
    for resource in resources:
        spec = resource.get("spec", {})
        if "template" in spec:
            specs[f"{resource['kind']}/{resource['metadata']['name']}"] = spec["template"]["spec"]
    return specs


def test_the_dockerfile_passes_hadolint():
    result = run([tool("hadolint"), "Dockerfile"], {})

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", ["deploy/entrypoint.sh"])
def test_shell_scripts_pass_shellcheck(script):
    result = run([tool("shellcheck"), script], {})

    assert result.returncode == 0, result.stdout


def test_the_compose_file_follows_the_compose_specification():
    result = run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        {},
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("filename", RESOURCE_FILES)
def test_each_manifest_matches_the_kubernetes_api_schema(filename, version):
    resources = list(yaml.safe_load_all((K8S / filename).read_text()))

    assert [schema_errors(resource, version) for resource in resources] == [None] * len(resources)


def test_the_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())

    assert sorted(kustomization["resources"]) == RESOURCE_FILES


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_rendered_kustomization_matches_the_kubernetes_api_schema(rendered, version):
    assert [schema_errors(resource, version) for resource in rendered] == [None] * len(rendered)


def test_the_rendered_kustomization_holds_the_whole_service(rendered):
    assert sorted(
        f"{resource['kind']}/{resource['metadata']['name']}" for resource in rendered
    ) == [
        "ConfigMap/exnaton-config",
        "CronJob/exnaton-maintain",
        "Deployment/exnaton-beat",
        "Deployment/exnaton-web",
        "Deployment/exnaton-worker",
        "Ingress/exnaton-web",
        "Job/exnaton-migrate",
        "Namespace/exnaton",
        "PodDisruptionBudget/exnaton-web",
        "PodDisruptionBudget/exnaton-worker",
        f"Secret/{secret_name(rendered)}",
        "Service/exnaton-web",
    ]


def secret_name(rendered: list[dict]) -> str:
    """The generated Secret's name, which carries a hash of its content."""
    return next(r["metadata"]["name"] for r in rendered if r["kind"] == "Secret")


def test_every_pod_runs_as_a_non_root_user(rendered):
    specs = pod_specs(rendered)

    assert {
        name: spec["securityContext"].get("runAsNonRoot") for name, spec in specs.items()
    } == dict.fromkeys(specs, True)


def test_every_container_has_a_read_only_root_filesystem_and_resource_limits(rendered):
    containers = {
        container["name"]: container
        for spec in pod_specs(rendered).values()
        for container in spec.get("initContainers", []) + spec["containers"]
    }

    assert {
        name: (
            container["securityContext"]["readOnlyRootFilesystem"],
            container["securityContext"]["allowPrivilegeEscalation"],
            sorted(container["resources"]["limits"]),
            sorted(container["resources"]["requests"]),
        )
        for name, container in containers.items()
    } == {name: (True, False, ["cpu", "memory"], ["cpu", "memory"]) for name in containers}


def test_every_container_runs_the_image_the_kustomization_names(rendered):
    images = {
        container["image"]
        for spec in pod_specs(rendered).values()
        for container in spec.get("initContainers", []) + spec["containers"]
    }

    assert images == {"registry.example.com/exnaton:0.1.0"}


def test_web_probes_ask_for_health_with_a_host_the_configmap_allows(rendered):
    config = next(resource for resource in rendered if resource["kind"] == "ConfigMap")
    allowed = config["data"]["DJANGO_ALLOWED_HOSTS"].split(",")
    web = pod_specs(rendered)["Deployment/exnaton-web"]["containers"][0]

    probes = {
        kind: (web[kind]["httpGet"]["path"], web[kind]["httpGet"]["httpHeaders"][0]["value"])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }

    assert probes == {
        "startupProbe": ("/healthz", allowed[0]),
        "livenessProbe": ("/healthz", allowed[0]),
        "readinessProbe": ("/readyz", allowed[0]),
    }


def test_web_pods_leave_migrations_to_the_job(rendered):
    config = next(resource for resource in rendered if resource["kind"] == "ConfigMap")
    job = pod_specs(rendered)["Job/exnaton-migrate"]["containers"][0]

    assert (config["data"]["MIGRATE_ON_START"], job["args"]) == ("0", ["migrate"])


def test_the_secret_template_commits_no_real_secret():
    values = dict(
        line.split("=", 1)
        for line in (K8S / "secret.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )

    assert "replace" in values["DJANGO_SECRET_KEY"]
    assert ":replace-me@" in values["DATABASE_URL"]
    assert ":replace-me@" in values["CELERY_BROKER_URL"]
    assert "replace" in values["METRICS_TOKEN"]


def test_the_real_secret_file_is_ignored_by_git():
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "deploy/k8s/secret.env"],  # noqa: S607
        cwd=PROJECT,
        check=False,
    )

    assert result.returncode == 0


def test_the_image_build_context_leaves_out_local_secrets():
    ignored = Path(PROJECT / ".dockerignore").read_text().splitlines()

    assert {".env", ".git", ".venv"} <= set(ignored)


def test_a_worker_has_time_to_finish_its_task_before_it_is_killed(rendered):
    config = next(resource for resource in rendered if resource["kind"] == "ConfigMap")
    worker = pod_specs(rendered)["Deployment/exnaton-worker"]

    assert worker["containers"][0]["args"] == ["worker"]
    assert worker["terminationGracePeriodSeconds"] > int(config["data"]["CELERY_TASK_TIME_LIMIT"])


def test_worker_pods_serve_their_counters_on_the_port_prometheus_is_told(rendered):
    config = next(resource for resource in rendered if resource["kind"] == "ConfigMap")
    worker = next(r for r in rendered if r["metadata"]["name"] == "exnaton-worker")
    template = worker["spec"]["template"]
    (port,) = template["spec"]["containers"][0]["ports"]

    assert port == {"name": "metrics", "containerPort": int(config["data"]["WORKER_METRICS_PORT"])}
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port["containerPort"])


def test_node_drains_take_workers_down_one_at_a_time(rendered):
    budget = next(
        r
        for r in rendered
        if r["kind"] == "PodDisruptionBudget" and "worker" in r["metadata"]["name"]
    )
    worker = next(r for r in rendered if r["metadata"]["name"] == "exnaton-worker")

    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]


def test_beat_runs_as_exactly_one_replica(rendered):
    beat = next(r for r in rendered if r["metadata"]["name"] == "exnaton-beat")

    assert (beat["spec"]["replicas"], beat["spec"]["strategy"]["type"]) == (1, "Recreate")
    assert beat["spec"]["template"]["spec"]["containers"][0]["args"] == ["beat"]


def test_the_broker_url_and_metrics_token_come_from_the_secret(rendered):
    config = next(resource for resource in rendered if resource["kind"] == "ConfigMap")
    secret = next(resource for resource in rendered if resource["kind"] == "Secret")

    assert {"CELERY_BROKER_URL", "METRICS_TOKEN"} <= set(secret["data"])
    assert not {"CELERY_BROKER_URL", "METRICS_TOKEN"} & set(config["data"])
