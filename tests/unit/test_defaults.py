"""What a client reads back after writing an object: the fields Kubernetes fills in."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane.resources.checks import apply_defaults
from controlplane.resources.checks import validate

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}
DEFAULTED_CONTAINER = {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                       "terminationMessagePolicy": "File", "resources": {}}
DEFAULTED_POD_SPEC = {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                      "terminationGracePeriodSeconds": 30, "securityContext": {}}


def pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "default"},
            "spec": {"containers": [{"name": "web", "image": "busybox:1.36", "ports": [{"containerPort": 8080}]}]}}


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "hello"}},
                     "template": {"metadata": {"labels": {"app": "hello"}},
                                  "spec": {"containers": [{"name": "hello", "image": "hello:1.0"}]}}}}


def service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello", "namespace": "default"},
            "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80}]}}


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    apply_defaults(obj)
    return obj


def test_pod_defaults() -> None:
    assert defaulted(pod())["spec"] == {
        "containers": [{"name": "web", "image": "busybox:1.36", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        **DEFAULTED_CONTAINER}],
        **DEFAULTED_POD_SPEC,
        "enableServiceLinks": True,
        "serviceAccountName": "default", "serviceAccount": "default",
        "tolerations": [NOT_READY, UNREACHABLE],
    }


def test_pod_service_account_defaults_to_default_and_the_deprecated_field_follows() -> None:
    p = pod()
    p["spec"]["serviceAccountName"] = "builder"
    assert (defaulted(p)["spec"]["serviceAccountName"], p["spec"]["serviceAccount"]) == ("builder", "builder")
    p = pod()
    p["spec"]["serviceAccount"] = "old-style"
    assert (defaulted(p)["spec"]["serviceAccountName"], p["spec"]["serviceAccount"]) == ("old-style", "old-style")
    assert "serviceAccountName" not in defaulted(deployment())["spec"]["template"]["spec"]  # Pods only


def test_a_clients_own_values_are_kept() -> None:
    p = pod()
    p["spec"].update(restartPolicy="Never", terminationGracePeriodSeconds=0, enableServiceLinks=False,
                     dnsPolicy="Default", schedulerName="mine")
    p["spec"]["containers"][0].update(imagePullPolicy="Never", ports=[{"containerPort": 53, "protocol": "UDP"}])
    spec = defaulted(p)["spec"]
    assert (spec["restartPolicy"], spec["terminationGracePeriodSeconds"], spec["enableServiceLinks"],
            spec["dnsPolicy"], spec["schedulerName"]) == ("Never", 0, False, "Default", "mine")
    assert spec["containers"][0]["imagePullPolicy"] == "Never"
    assert spec["containers"][0]["ports"] == [{"containerPort": 53, "protocol": "UDP"}]


@pytest.mark.parametrize("image,policy", [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.25", "IfNotPresent"),
    ("docker.io/library/nginx", "Always"),
    ("localhost:5000/team/app", "Always"),
    ("localhost:5000/team/app:v2", "IfNotPresent"),
    ("registry.local/app@sha256:" + "a" * 64, "IfNotPresent"),
    ("registry.local/app:latest@sha256:" + "a" * 64, "Always"),
    ("NotAValidReference", "IfNotPresent"),
    ("", "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    p = pod()
    p["spec"]["containers"][0]["image"] = image
    assert defaulted(p)["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_probe_and_handler_defaults() -> None:
    p = pod()
    c = p["spec"]["containers"][0]
    c["livenessProbe"] = {"httpGet": {"port": 8080}, "timeoutSeconds": 0, "failureThreshold": 5}
    c["readinessProbe"] = {"tcpSocket": {"port": 8080}}
    c["lifecycle"] = {"preStop": {"httpGet": {"port": 8080, "path": "/quit"}}}
    c["env"] = [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    c = defaulted(p)["spec"]["containers"][0]
    assert c["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 5}
    assert c["readinessProbe"] == {"tcpSocket": {"port": 8080}, "timeoutSeconds": 1, "periodSeconds": 10,
                                   "successThreshold": 1, "failureThreshold": 3}
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 8080, "path": "/quit", "scheme": "HTTP"}
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}


def test_volume_defaults() -> None:
    p = pod()
    p["spec"]["volumes"] = [{"name": "scratch"}, {"name": "conf", "configMap": {"name": "conf"}},
                            {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}},
                            {"name": "host", "hostPath": {"path": "/var/log"}}]
    assert defaulted(p)["spec"]["volumes"] == [
        {"name": "scratch", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "conf", "defaultMode": 420}},
        {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": ""}}]


def test_requests_default_to_limits_on_pods_but_not_templates() -> None:
    p = pod()
    p["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "250m"}}
    assert defaulted(p)["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "250m", "memory": "1Gi"}
    d = deployment()
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    assert defaulted(d)["spec"]["template"]["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1"}}


def test_pods_tolerate_a_dead_node_for_five_minutes_unless_they_say_otherwise() -> None:
    p = pod()
    p["spec"]["tolerations"] = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                 "effect": "NoExecute", "tolerationSeconds": 30}]
    assert defaulted(p)["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
        NOT_READY]
    tolerate_all = pod()
    tolerate_all["spec"]["tolerations"] = [{"operator": "Exists"}]
    assert defaulted(tolerate_all)["spec"]["tolerations"] == [{"operator": "Exists"}]


def test_deployment_defaults_and_its_template_is_not_a_pod() -> None:
    spec = defaulted(deployment())["spec"]
    assert {k: spec[k] for k in ("replicas", "strategy", "revisionHistoryLimit", "progressDeadlineSeconds")} == {
        "replicas": 1, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
    assert spec["template"]["spec"] == {
        "containers": [{"name": "hello", "image": "hello:1.0", **DEFAULTED_CONTAINER}], **DEFAULTED_POD_SPEC}


def test_deployment_keeps_zero_replicas_and_recreate_gets_no_rolling_update() -> None:
    d = deployment()
    d["spec"].update(replicas=0, strategy={"type": "Recreate"})
    spec = defaulted(d)["spec"]
    assert spec["replicas"] == 0
    assert spec["strategy"] == {"type": "Recreate"}


def test_replica_set_defaults() -> None:
    rs = deployment()
    rs["kind"] = "ReplicaSet"
    spec = defaulted(rs)["spec"]
    assert spec["replicas"] == 1
    assert "strategy" not in spec and "revisionHistoryLimit" not in spec
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert "tolerations" not in spec["template"]["spec"]


def test_service_defaults() -> None:
    assert defaulted(service())["spec"] == {
        "selector": {"app": "hello"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}


def test_service_defaults_by_type() -> None:
    s = service()
    s["spec"].update(type="NodePort", clusterIP="fd00::10", sessionAffinity="ClientIP")
    s["spec"]["ports"] = [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "dns", "port": 53, "protocol": "UDP"}]
    spec = defaulted(s)["spec"]
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                             {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}]
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert (spec["clusterIPs"], spec["ipFamilies"]) == (["fd00::10"], ["IPv6"])
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    external = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "default"},
                "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    assert defaulted(external)["spec"] == {"type": "ExternalName", "externalName": "db.example.com",
                                           "sessionAffinity": "None"}


def test_namespace_gets_the_kubernetes_finalizer_and_active_phase() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}, "spec": {"finalizers": ["example.com/x"]}}
    assert defaulted(ns)["spec"] == {"finalizers": ["example.com/x", "kubernetes"]}
    assert ns["status"] == {"phase": "Active"}


def test_a_terminating_namespace_is_not_given_its_finalizer_back() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "team-a", "deletionTimestamp": "2026-01-01T00:00:00Z"},
          "spec": {}, "status": {"phase": "Terminating"}}
    assert defaulted(ns)["spec"] == {}
    assert ns["status"] == {"phase": "Terminating"}


def test_small_kinds() -> None:
    secret = defaulted({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}})
    assert secret["type"] == "Opaque"
    endpoints = defaulted({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e", "namespace": "default"},
                           "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 8080}]}]})
    assert endpoints["subsets"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    eps = defaulted({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                     "metadata": {"name": "e-1", "namespace": "default"}, "endpoints": [], "ports": [{"port": 8080}]})
    assert eps["ports"] == [{"port": 8080, "name": "", "protocol": "TCP"}]
    node = defaulted({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                      "status": {"capacity": {"cpu": "4", "pods": "110"}}})
    assert node["status"]["allocatable"] == {"cpu": "4", "pods": "110"}


def test_kinds_without_defaults_are_left_alone() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l", "namespace": "default"}}
    other = {"apiVersion": "example.com/v1", "kind": "Pod", "spec": {}}
    for obj in (cm, lease, other):
        before = copy.deepcopy(obj)
        apply_defaults(obj)
        assert obj == before


ALL_KINDS = [
    pod(), deployment(), dict(deployment(), kind="ReplicaSet"), service(),
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}},
    {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "hello", "namespace": "default"},
     "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 8080}]}]},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
     "metadata": {"name": "hello-1", "namespace": "default"}, "endpoints": [], "ports": [{"port": 8080}]},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "status": {"capacity": {"cpu": "2"}}},
]


@pytest.mark.parametrize("obj", ALL_KINDS, ids=lambda o: o["kind"])
def test_defaulting_twice_equals_defaulting_once_and_the_result_is_valid(obj: dict[str, Any]) -> None:
    once = defaulted(copy.deepcopy(obj))
    twice = defaulted(copy.deepcopy(once))
    assert twice == once
    assert validate(once) == []


@pytest.mark.parametrize("obj", [
    {"apiVersion": "v1", "kind": "Pod", "spec": "oops"},
    {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "oops", "volumes": [None, 3], "tolerations": "x"}},
    {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"ports": [1], "livenessProbe": [], "resources": 5}]}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"strategy": "fast", "template": []}},
    {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [None], "sessionAffinity": "ClientIP",
                                                     "sessionAffinityConfig": "x"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": "x", "spec": {"finalizers": "kubernetes"}},
    "not even an object",
])
def test_wrongly_typed_input_is_left_for_validation_to_report(obj: Any) -> None:
    apply_defaults(obj)  # does not raise
    assert any(c["reason"] == "FieldValueTypeInvalid" for c in validate(obj))
