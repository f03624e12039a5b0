"""A small kopf operator for tests/integration/test_operators.py: for each Widget it keeps a
ConfigMap (owned by the Widget), reports its phase in status, and on deletion removes the
ConfigMap itself before kopf lets the Widget go (kopf's finalizer)."""

import kopf
import kubernetes

FINALIZER = "widgets.example.com/operator"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.persistence.finalizer = FINALIZER
    settings.watching.server_timeout = 30
    settings.posting.level = 40  # only errors become Events
    kubernetes.config.load_kube_config()


def _config_map(name: str, spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config"},
            "data": {"size": spec.get("size", ""), "replicas": str(spec.get("replicas", ""))}}


@kopf.on.create("example.com", "v1", "widgets")
def create_fn(spec, name, namespace, patch, **_):
    cm = _config_map(name, spec)
    kopf.adopt(cm)
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, cm)
    patch.status["phase"] = "Ready"
    return {"configMap": cm["metadata"]["name"]}


@kopf.on.update("example.com", "v1", "widgets")
def update_fn(spec, name, namespace, patch, **_):
    kubernetes.client.CoreV1Api().patch_namespaced_config_map(
        f"{name}-config", namespace, {"data": _config_map(name, spec)["data"]})
    patch.status["phase"] = "Updated"


@kopf.on.delete("example.com", "v1", "widgets")
def delete_fn(name, namespace, **_):
    try:
        kubernetes.client.CoreV1Api().delete_namespaced_config_map(f"{name}-config", namespace)
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
