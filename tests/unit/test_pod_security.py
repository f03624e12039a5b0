"""The Pod Security Standards: which pods each level refuses, in Kubernetes' words."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.api.admission import podsecurity

ENFORCE = "pod-security.kubernetes.io/enforce"


def pod(*containers: dict[str, Any], name: str = "x", **spec: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": list(containers) or [{"name": "c", "image": "busybox"}], **spec}}


def ctr(name: str = "c", **sc: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "securityContext": sc}


RESTRICTED_OK = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                 "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def refused(labels: dict[str, str], obj: dict[str, Any]) -> str:
    return podsecurity.review(labels, obj).refused


def test_an_unlabelled_namespace_enforces_baseline_with_every_violation_named() -> None:
    p = pod(ctr("a", privileged=True), ctr("b", privileged=True),
            hostPID=True, volumes=[{"name": "h", "hostPath": {"path": "/"}},
                                   {"name": "e", "emptyDir": {}}])
    assert refused({}, p) == (
        'pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true), '
        'hostPath volumes (volume "h"), '
        'privileged (containers "a", "b" must not set securityContext.privileged=true)')


@pytest.mark.parametrize("spec_or_container, detail", [
    ({"hostNetwork": True, "hostIPC": True}, "host namespaces (hostNetwork=true, hostIPC=true)"),
    (ctr(capabilities={"add": ["SYS_ADMIN", "CHOWN", "NET_ADMIN"]}),
     'non-default capabilities (container "c" must not include "NET_ADMIN", "SYS_ADMIN" in '
     'securityContext.capabilities.add)'),
    ({"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 8080}]},
     'hostPort (container "c" uses hostPort 8080)'),
    (ctr(seccompProfile={"type": "Unconfined"}),
     'seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")'),
    (ctr(procMount="Unmasked"), 'procMount (container "c" must not set securityContext.procMount to "Unmasked")'),
    ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"},
                                      {"name": "net.ipv4.tcp_syncookies", "value": "1"}]}},
     "forbidden sysctls (kernel.msgmax)"),
])
def test_baseline_refuses(spec_or_container: dict[str, Any], detail: str) -> None:
    p = pod(spec_or_container) if "name" in spec_or_container else pod(**spec_or_container)
    assert refused({}, p) == f'pods "x" is forbidden: violates PodSecurity "baseline:latest": {detail}'


def test_baseline_admits_default_capabilities_and_runtime_default_seccomp() -> None:
    p = pod(ctr(capabilities={"add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["NET_RAW"]},
                seccompProfile={"type": "RuntimeDefault"}, readOnlyRootFilesystem=True))
    assert refused({}, p) == ""
    assert refused({ENFORCE: "baseline"}, pod()) == ""


def test_restricted_requires_the_hardened_fields() -> None:
    assert refused({ENFORCE: "restricted"}, pod()) == (
        'pods "x" is forbidden: violates PodSecurity "restricted:latest": '
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")')
    assert refused({ENFORCE: "restricted"}, pod(ctr(**RESTRICTED_OK))) == ""


def test_restricted_accepts_pod_level_settings_and_refuses_root_and_other_volumes() -> None:
    pod_level = pod(ctr(allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]}),
                    securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "Localhost",
                                                                              "localhostProfile": "p.json"}})
    assert refused({ENFORCE: "restricted"}, pod_level) == ""
    bad = pod(ctr(**{**RESTRICTED_OK, "runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}}),
              volumes=[{"name": "h", "hostPath": {"path": "/"}}, {"name": "cm", "configMap": {"name": "x"}}])
    assert refused({ENFORCE: "restricted", f"{ENFORCE}-version": "v1.30"}, bad) == (
        'pods "x" is forbidden: violates PodSecurity "restricted:v1.30": '
        'unrestricted capabilities (container "c" must not include "CHOWN" in securityContext.capabilities.add), '
        'restricted volume types (volume "h" uses restricted volume type "hostPath"), '
        'runAsUser=0 (container "c" must not set runAsUser=0)')


def test_privileged_namespaces_admit_anything() -> None:
    p = pod(ctr(privileged=True), hostNetwork=True, volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    assert refused({ENFORCE: "privileged"}, p) == ""


def test_workloads_are_admitted_with_a_warning_per_level() -> None:
    template = pod(ctr(privileged=True))
    deploy = {"kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"template": {"metadata": {}, "spec": template["spec"]}}}
    decision = podsecurity.review({"pod-security.kubernetes.io/warn": "restricted"}, deploy)
    assert decision.refused == ""
    assert decision.warnings[0] == ('would violate PodSecurity "baseline:latest": privileged '
                                    '(container "c" must not set securityContext.privileged=true)')
    assert decision.warnings[1].startswith('would violate PodSecurity "restricted:latest": '
                                           'allowPrivilegeEscalation != false')
    assert podsecurity.review({}, {"kind": "ConfigMap", "data": {}}).warnings == []


def test_pod_warn_label_warns_without_refusing() -> None:
    decision = podsecurity.review({ENFORCE: "baseline", "pod-security.kubernetes.io/warn": "restricted"}, pod())
    assert decision.refused == ""
    assert [w.split(":")[0] for w in decision.warnings] == ['would violate PodSecurity "restricted']


def test_updates_that_only_change_images_are_not_reviewed_again() -> None:
    old = pod(ctr(privileged=True))
    new = pod({**ctr(privileged=True), "image": "busybox:2"})
    assert podsecurity.review({}, new, old).refused == ""
    more = pod(ctr(privileged=True), hostPID=True)
    assert podsecurity.review({}, more, old).refused.startswith('pods "x" is forbidden')


def test_namespace_labels_are_checked() -> None:
    assert podsecurity.label_errors({ENFORCE: "restricted", f"{ENFORCE}-version": "latest"}) == []
    [cause] = podsecurity.label_errors({ENFORCE: "strict"})
    assert cause["field"] == f"metadata.labels[{ENFORCE}]"
    assert cause["message"] == ('Unsupported value: "strict": supported values: '
                                '"privileged", "baseline", "restricted"')


def test_a_stricter_namespace_names_the_pods_that_would_fail_it() -> None:
    pods = [pod(ctr(privileged=True), name="a"), pod(ctr(privileged=True), name="b"),
            pod(name="plain"), pod(name="host", hostIPC=True)]
    assert podsecurity.existing_pods("ns", {}, {ENFORCE: "baseline"}, lambda: pods) == []  # unchanged
    assert podsecurity.existing_pods("ns", {ENFORCE: "privileged"}, {ENFORCE: "baseline"}, lambda: pods) == [
        'existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest"',
        "a (and 1 other pods): privileged",
        "host: host namespaces"]
    assert podsecurity.existing_pods("ns", {}, {ENFORCE: "privileged"}, lambda: pods) == []
