"""The Kubernetes base in deploy/kubernetes/base: every manifest the kustomization lists
validates against the Kubernetes API schemas (kubernetes-validate, offline, strict: an
unknown field is an error), and the base keeps the house's policy: non-root, read-only,
resources and probes everywhere, secrets only from Secrets, an HPA on the API, a
PodDisruptionBudget per Deployment, and a vault that only the API pods can reach."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes" / "base"
KUBERNETES_VERSION = "1.33.0"
SECRET_NAMES = re.compile(r"(DATABASE_URL|REDIS_URL|_KEY|_TOKEN|_KEK|PASSWORD)")


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return loaded


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in kustomization()["resources"]:
        for doc in yaml.safe_load_all((BASE / name).read_text()):
            if doc:
                found.append((f"{name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


MANIFESTS = manifests()


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in MANIFESTS if doc["kind"] == kind]


def workloads() -> list[tuple[str, dict[str, Any]]]:
    """(name, pod template spec) of every Deployment and Job."""
    return [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for doc in of_kind("Deployment") + of_kind("Job")
    ]


def test_the_kustomization_lists_every_manifest_of_the_base() -> None:
    listed = set(kustomization()["resources"])
    present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize(("name", "manifest"), MANIFESTS, ids=[n for n, _ in MANIFESTS])
def test_every_manifest_validates_against_the_kubernetes_schemas(
    name: str, manifest: dict[str, Any]
) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_every_role_runs_as_its_own_deployment() -> None:
    components = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in of_kind("Deployment")
    }
    assert components == {"api", "worker", "web", "stripe", "vault", "acquirer", "psp", "envoy"}
    jobs = of_kind("Job")
    assert [j["spec"]["template"]["spec"]["containers"][0]["args"] for j in jobs] == [["migrate"]]


@pytest.mark.parametrize(("name", "pod"), workloads(), ids=[n for n, _ in workloads()])
def test_pods_run_non_root_read_only_with_resources(name: str, pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod.get("initContainers", []):
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), container["name"]
        assert container["image"] == "paygate"  # one image, set by the kustomization


@pytest.mark.parametrize(("name", "pod"), workloads(), ids=[n for n, _ in workloads()])
def test_secrets_come_only_from_kubernetes_secrets(name: str, pod: dict[str, Any]) -> None:
    for container in pod["containers"] + pod.get("initContainers", []):
        for variable in container.get("env", []):
            if SECRET_NAMES.search(variable["name"]):
                assert "value" not in variable, (name, variable["name"])
                assert "secretKeyRef" in variable["valueFrom"], (name, variable["name"])
    config = next(c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "paygate-config")
    assert not [k for k in config["data"] if SECRET_NAMES.search(k)]


def test_every_deployment_has_probes_and_a_disruption_budget() -> None:
    budgets = [b["spec"]["selector"]["matchLabels"] for b in of_kind("PodDisruptionBudget")]
    for deployment in of_kind("Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert "readinessProbe" in container and "livenessProbe" in container
        assert deployment["spec"]["selector"]["matchLabels"] in budgets


def test_database_roles_are_ready_only_when_their_schema_check_passes() -> None:
    """api, worker and web: readiness is /readyz (PostgreSQL and migrations), liveness
    the cheap /livez, both on the metrics port Prometheus scrapes."""
    for deployment in of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]
        if labels["labels"]["app.kubernetes.io/component"] not in {"api", "worker", "web"}:
            continue
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert labels["annotations"]["prometheus.io/port"] == "9100"


def test_the_api_scales_horizontally() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "paygate-api",
    }
    assert hpa["spec"]["minReplicas"] >= 2


def test_only_the_api_pods_reach_the_vault() -> None:
    vault_labels = next(
        d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind("Deployment")
        if d["metadata"]["name"] == "paygate-vault"
    )
    guarding = [
        p
        for p in of_kind("NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].items() <= vault_labels.items()
    ]
    assert len(guarding) == 1
    (policy,) = guarding
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    # The internal port from the API pods; the public token service from Envoy only.
    assert _ingress_peers("vault") == {50070: [_pods("api")], 50071: [_pods("envoy")]}
    envoy = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "paygate-envoy")
    render = envoy["spec"]["template"]["spec"]["initContainers"][0]["env"]
    upstreams = {v["name"]: v.get("value") for v in render}
    assert upstreams["PAYGATE_ENVOY_VAULT_UPSTREAM"] == "paygate-vault:50071"
    # The vault's keys are in a Secret only the vault mounts.
    for name, pod in workloads():
        refs = {
            v["valueFrom"]["secretKeyRef"]["name"]
            for c in pod["containers"]
            for v in c.get("env", [])
            if "secretKeyRef" in v.get("valueFrom", {})
        }
        if "paygate-vault-secrets" in refs:
            assert name in {"paygate-vault", "paygate-migrate"}, name


def _ingress_peers(component: str) -> dict[int, list[dict[str, str]]]:
    """Port -> the pod labels each NetworkPolicy guarding `component` lets in there."""
    allowed: dict[int, list[dict[str, str]]] = {}
    for policy in of_kind("NetworkPolicy"):
        if policy["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") != (
            component
        ):
            continue
        for rule in policy["spec"]["ingress"]:
            peers = [p["podSelector"]["matchLabels"] for p in rule["from"] if "podSelector" in p]
            for port in rule["ports"]:
                allowed.setdefault(port["port"], []).extend(peers)
    return allowed


def _pods(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "paygate", "app.kubernetes.io/component": component}


def test_only_the_zone_and_the_worker_reach_the_psps() -> None:
    peers = _ingress_peers("psp")
    assert list(peers) == [50056]
    assert sorted(p["app.kubernetes.io/component"] for p in peers[50056]) == ["vault", "worker"]
    config = next(c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "paygate-config")
    assert config["data"]["PAYGATE_ORBIT_URL"] == "http://paygate-psp:50056"
    assert config["data"]["PAYGATE_KORA_URL"] == "http://paygate-psp:50056/kora"


def test_envoy_routes_stripe_to_its_pods_which_reach_only_the_api() -> None:
    envoy = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "paygate-envoy")
    (render,) = envoy["spec"]["template"]["spec"]["initContainers"]
    env = {v["name"]: v.get("value") for v in render["env"]}
    (service,) = [s for s in of_kind("Service") if s["metadata"]["name"] == "paygate-stripe"]
    (port,) = service["spec"]["ports"]
    assert env["PAYGATE_ENVOY_STRIPE_UPSTREAM"] == f"paygate-stripe:{port['port']}"
    assert service["spec"]["clusterIP"] == "None"  # every pod an endpoint of Envoy's cluster
    assert _ingress_peers("stripe")[port["port"]] == [_pods("envoy")]
    stripe = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "paygate-stripe")
    (container,) = stripe["spec"]["template"]["spec"]["containers"]
    stripe_env = {v["name"]: v.get("value") for v in container["env"]}
    assert stripe_env["PAYGATE_ENVOY_API_UPSTREAM"] == env["PAYGATE_ENVOY_API_UPSTREAM"]
    assert _ingress_peers("api")[50061] == [_pods("envoy"), _pods("stripe")]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert stripe["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    # It calls with its callers' credentials: it holds none of paygate's secrets.
    assert not any("valueFrom" in v for v in container["env"])


def test_the_image_is_multi_stage_non_root_and_installs_the_wheel() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", dockerfile, re.MULTILINE)
    assert len(stages) >= 2
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"0", "root"}
    assert re.search(r"pip wheel .*--wheel-dir /wheels", dockerfile)
    assert re.search(r"pip install .*--no-index .*/wheels", dockerfile)
