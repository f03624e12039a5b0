"""What a client sees when it writes an invalid object: the 422 causes, field by field.

Messages are Kubernetes' own, so `kubectl apply` prints what it prints against kube-apiserver.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from controlplane.resources.checks import apply_defaults
from controlplane.resources.checks import unknown_fields, validate
from controlplane.resources.schema import builtin, schema_validator

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_KEY_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
POD_UPDATE_MSG = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
    "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
    "previously negative)")


def deployment() -> dict[str, Any]:
    """The README's deployment.yaml, as kubectl sends it."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hello", "namespace": "default", "labels": {"app": "hello"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "hello"}},
            "template": {
                "metadata": {"labels": {"app": "hello"}},
                "spec": {"containers": [{
                    "name": "hello",
                    "image": "registry.local:5000/hello:1.0",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                  "limits": {"cpu": "500m", "memory": "128Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                    "env": [{"name": "GREETING", "value": "hi"}],
                }]},
            },
        },
    }


def pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "default"},
            "spec": {"containers": [{"name": "web", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}


def service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello", "namespace": "default"},
            "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80, "targetPort": 8080}]}}


def cause(field: str, reason: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the server stores it: defaulted, with a resourceVersion."""
    obj = copy.deepcopy(obj)
    apply_defaults(obj)
    obj["metadata"]["resourceVersion"] = "7"
    return obj


def test_readme_deployment_is_valid_as_written_and_after_defaulting() -> None:
    d = deployment()
    assert validate(d) == []
    apply_defaults(d)
    assert validate(d) == []
    assert unknown_fields(d) == []


CONTAINER = "spec.template.spec.containers[0]"

DEPLOYMENT_ERRORS: list[tuple[str, Callable[[dict[str, Any]], None], dict[str, str]]] = [
    ("negative replicas", lambda d: d["spec"].update(replicas=-1),
     cause("spec.replicas", "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0")),
    ("no selector", lambda d: d["spec"].pop("selector"),
     cause("spec.selector", "FieldValueRequired", "Required value")),
    ("selector not matching the template", lambda d: d["spec"]["selector"].update(matchLabels={"app": "other"}),
     cause("spec.template.metadata.labels", "FieldValueInvalid",
           'Invalid value: map[string]string{"app":"hello"}: `selector` does not match template `labels`')),
    ("template without labels", lambda d: d["spec"]["template"].pop("metadata"),
     cause("spec.template.metadata.labels", "FieldValueInvalid",
           "Invalid value: map[string]string(nil): `selector` does not match template `labels`")),
    ("empty selector", lambda d: d["spec"].update(selector={}),
     cause("spec.selector", "FieldValueInvalid",
           "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
           "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")),
    ("bad selector operator",
     lambda d: d["spec"]["selector"].update(matchExpressions=[{"key": "tier", "operator": "Is", "values": ["x"]}]),
     cause("spec.selector.matchExpressions[0].operator", "FieldValueInvalid",
           'Invalid value: "Is": not a valid selector operator')),
    ("unknown pull policy", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(imagePullPolicy="Foo"),
     cause(f"{CONTAINER}.imagePullPolicy", "FieldValueNotSupported",
           'Unsupported value: "Foo": supported values: "Always", "IfNotPresent", "Never"')),
    ("no image", lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("image"),
     cause(f"{CONTAINER}.image", "FieldValueRequired", "Required value")),
    ("container name with capitals", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(name="Hello"),
     cause(f"{CONTAINER}.name", "FieldValueInvalid", f'Invalid value: "Hello": {LABEL_MSG}')),
    ("two containers with one name",
     lambda d: d["spec"]["template"]["spec"]["containers"].append({"name": "hello", "image": "busybox"}),
     cause("spec.template.spec.containers[1].name", "FieldValueDuplicate", 'Duplicate value: "hello"')),
    ("port out of range", lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort=70000),
     cause(f"{CONTAINER}.ports[0].containerPort", "FieldValueInvalid",
           "Invalid value: 70000: must be between 1 and 65535, inclusive")),
    ("port zero", lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort=0),
     cause(f"{CONTAINER}.ports[0].containerPort", "FieldValueRequired", "Required value")),
    ("unknown protocol", lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(protocol="XTP"),
     cause(f"{CONTAINER}.ports[0].protocol", "FieldValueNotSupported",
           'Unsupported value: "XTP": supported values: "SCTP", "TCP", "UDP"')),
    ("restartPolicy other than Always", lambda d: d["spec"]["template"]["spec"].update(restartPolicy="OnFailure"),
     cause("spec.template.spec.restartPolicy", "FieldValueNotSupported",
           'Unsupported value: "OnFailure": supported values: "Always"')),
    ("unknown strategy", lambda d: d["spec"].update(strategy={"type": "BlueGreen"}),
     cause("spec.strategy.type", "FieldValueNotSupported",
           'Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"')),
    ("rolling update that can never progress",
     lambda d: d["spec"].update(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
     cause("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid",
           "Invalid value: 0%: may not be 0 when `maxSurge` is 0")),
    ("progress deadline not after minReadySeconds",
     lambda d: d["spec"].update(minReadySeconds=30, progressDeadlineSeconds=30),
     cause("spec.progressDeadlineSeconds", "FieldValueInvalid", "Invalid value: 30: must be greater than minReadySeconds")),
    ("replicas as a word", lambda d: d["spec"].update(replicas="three"),
     cause("spec.replicas", "FieldValueTypeInvalid",
           'Invalid value: "string": spec.replicas in body must be of type integer: "string"')),
    ("mount of a volume that does not exist",
     lambda d: d["spec"]["template"]["spec"]["containers"][0].update(volumeMounts=[{"name": "data", "mountPath": "/d"}]),
     cause(f"{CONTAINER}.volumeMounts[0].name", "FieldValueNotFound", 'Not found: "data"')),
    ("request above limit",
     lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].update(cpu="1"),
     cause(f"{CONTAINER}.resources.requests", "FieldValueInvalid",
           'Invalid value: "1": must be less than or equal to cpu limit of 500m')),
    ("malformed quantity",
     lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(memory="1 GB"),
     cause(f"{CONTAINER}.resources.limits[memory]", "FieldValueInvalid",
           "Invalid value: \"1 GB\": quantities must match the regular expression "
           "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")),
    ("probe without a handler",
     lambda d: d["spec"]["template"]["spec"]["containers"][0].update(livenessProbe={"periodSeconds": 5}),
     cause(f"{CONTAINER}.livenessProbe", "FieldValueRequired", "Required value: must specify a handler type")),
    ("liveness probe with successThreshold 2",
     lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
         livenessProbe={"tcpSocket": {"port": 8080}, "successThreshold": 2}),
     cause(f"{CONTAINER}.livenessProbe.successThreshold", "FieldValueInvalid", "Invalid value: 2: must be 1")),
]


@pytest.mark.parametrize("mutate,expected", [(m, e) for _, m, e in DEPLOYMENT_ERRORS],
                         ids=[name for name, _, _ in DEPLOYMENT_ERRORS])
def test_each_deployment_problem_is_one_cause_with_kubernetes_field_and_message(
        mutate: Callable[[dict[str, Any]], None], expected: dict[str, str]) -> None:
    d = deployment()
    mutate(d)
    assert validate(d) == [expected]


@pytest.mark.parametrize("make,name,message", [
    (deployment, "Hello_World", SUBDOMAIN_MSG),
    (deployment, "a" * 254, "must be no more than 253 characters"),
    (service, "1st-service", DNS1035_MSG),
    (lambda: {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}, "team.a", "must not contain dots"),
    (lambda: {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}, "Team", LABEL_MSG),
])
def test_object_names_follow_the_kinds_dns_rules(make: Callable[[], dict[str, Any]], name: str, message: str) -> None:
    obj = make()
    obj["metadata"]["name"] = name
    assert validate(obj) == [cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {message}')]


def test_generate_name_stands_in_for_a_name_and_may_end_with_a_dash() -> None:
    p = pod()
    p["metadata"] = {"generateName": "web-", "namespace": "default"}
    assert validate(p) == []
    p["metadata"]["generateName"] = "Web-"
    assert validate(p) == [cause("metadata.generateName", "FieldValueInvalid", f'Invalid value: "Web-": {SUBDOMAIN_MSG}')]
    del p["metadata"]["generateName"]
    assert validate(p) == [cause("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]


def test_namespaced_kinds_need_a_namespace_and_cluster_kinds_refuse_one() -> None:
    p = pod()
    del p["metadata"]["namespace"]
    assert validate(p) == [cause("metadata.namespace", "FieldValueRequired", "Required value")]
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "namespace": "default"}}
    assert validate(node) == [cause("metadata.namespace", "FieldValueForbidden", "Forbidden: not allowed on this type")]


def test_label_and_annotation_syntax() -> None:
    p = pod()
    p["metadata"]["labels"] = {"app": "web", "bad key": "v", "tier": "front end"}
    p["metadata"]["annotations"] = {"example.com/ok": "anything at all", "x/y/z": "v"}
    found = validate(p)
    assert cause("metadata.labels", "FieldValueInvalid", f'Invalid value: "bad key": {LABEL_KEY_MSG}') in found
    assert cause("metadata.labels", "FieldValueInvalid", f'Invalid value: "front end": {LABEL_VALUE_MSG}') in found
    assert [c["field"] for c in found] == ["metadata.labels", "metadata.labels", "metadata.annotations"]
    assert found[2]["message"].startswith('Invalid value: "x/y/z": a valid label key must consist of')


def test_missing_required_field_is_reported_once() -> None:
    p = pod()
    del p["spec"]["containers"][0]["name"]
    assert validate(p) == [cause("spec.containers[0].name", "FieldValueRequired", "Required value")]


@pytest.mark.parametrize("spec,field,actual,expected", [
    ("not an object", "spec", "string", "object"),
    ({"containers": "nope"}, "spec.containers", "string", "array"),
    ({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": "80"}]}]},
     "spec.containers[0].ports[0].containerPort", "string", "integer"),
])
def test_a_wrongly_typed_field_is_one_type_cause(spec: Any, field: str, actual: str, expected: str) -> None:
    p = pod()
    p["spec"] = spec
    assert validate(p) == [cause(field, "FieldValueTypeInvalid",
                                 f'Invalid value: "{actual}": {field} in body must be of type {expected}: "{actual}"')]


def test_garbage_in_a_list_is_reported_not_raised() -> None:
    p = pod()
    p["spec"]["containers"] += [7, "x", None]
    found = validate(p)
    assert cause("spec.containers[1]", "FieldValueTypeInvalid",
                 'Invalid value: "integer": spec.containers[1] in body must be of type object: "integer"') in found
    assert cause("spec.containers[2]", "FieldValueTypeInvalid",
                 'Invalid value: "string": spec.containers[2] in body must be of type object: "string"') in found
    assert cause("spec.containers[3].image", "FieldValueRequired", "Required value") in found  # null decodes as {}


def test_null_means_unset_even_for_int_or_string_fields() -> None:
    s = service()
    s["spec"]["ports"][0]["targetPort"] = None
    s["spec"]["clusterIP"] = None
    assert validate(s) == []


@pytest.mark.parametrize("obj,expected", [
    ({"apiVersion": "apps/v1", "kind": "Gadget", "metadata": {"name": "g"}},
     [cause("kind", "FieldValueInvalid", 'Invalid value: "Gadget": no kind "Gadget" is registered for version "apps/v1"')]),
    ({"apiVersion": "example.com/v9", "kind": "Deployment"},
     [cause("kind", "FieldValueInvalid",
            'Invalid value: "Deployment": no kind "Deployment" is registered for version "example.com/v9"')]),
    ({"apiVersion": "v1", "kind": "../../etc/passwd"},
     [cause("kind", "FieldValueInvalid",
            'Invalid value: "../../etc/passwd": no kind "../../etc/passwd" is registered for version "v1"')]),
    ({"metadata": {"name": "x"}}, [cause("apiVersion", "FieldValueRequired", "Required value"),
                                   cause("kind", "FieldValueRequired", "Required value")]),
])
def test_unknown_kinds_get_a_clear_cause(obj: dict[str, Any], expected: list[dict[str, str]]) -> None:
    assert validate(obj) == expected
    assert unknown_fields(obj) == []


# --- services ------------------------------------------------------------------------------

def test_service_port_and_selector_sanity() -> None:
    s = service()
    s["spec"]["ports"] = [{"port": 0, "protocol": "XTP"}, {"port": 80, "targetPort": "Web_Port"}, {"name": "b", "port": 80}]
    s["spec"]["selector"] = {"app": "not valid!"}
    s["spec"]["ports"][2]["nodePort"] = 30080
    assert validate(s) == [
        cause("spec.ports[0].name", "FieldValueRequired", "Required value"),
        cause("spec.ports[0].port", "FieldValueInvalid", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        cause("spec.ports[0].protocol", "FieldValueNotSupported", 'Unsupported value: "XTP": supported values: "SCTP", "TCP", "UDP"'),
        cause("spec.ports[1].name", "FieldValueRequired", "Required value"),
        cause("spec.ports[1].targetPort", "FieldValueInvalid",
              'Invalid value: "Web_Port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'),
        cause("spec.ports[2].nodePort", "FieldValueForbidden", "Forbidden: may not be used when `type` is 'ClusterIP'"),
        cause("spec.ports[2]", "FieldValueDuplicate",
              'Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, '
              'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'),
        cause("spec.selector", "FieldValueInvalid", f'Invalid value: "not valid!": {LABEL_VALUE_MSG}'),
    ]


def test_service_without_ports_is_only_valid_when_headless_or_external_name() -> None:
    s = service()
    del s["spec"]["ports"]
    assert validate(s) == [cause("spec.ports", "FieldValueRequired", "Required value")]
    s["spec"]["clusterIP"] = "None"
    assert validate(s) == []
    s["spec"] = {"type": "ExternalName"}
    assert validate(s) == [cause("spec.externalName", "FieldValueRequired", "Required value")]
    s["spec"]["externalName"] = "db.example.com."
    assert validate(s) == []


def test_service_cluster_ip_must_be_an_address() -> None:
    s = service()
    s["spec"]["clusterIP"] = "10.96.0.300"
    assert validate(s) == [cause("spec.clusterIPs[0]", "FieldValueInvalid",
                                 'Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')]


# --- updates -------------------------------------------------------------------------------

def test_deployment_selector_is_immutable() -> None:
    old = stored(deployment())
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["track"] = "canary"
    new["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
    assert validate(new) == []  # fine as a new object
    assert validate(new, old) == [cause(
        "spec.selector", "FieldValueInvalid",
        'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"hello", "track":"canary"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")]


def test_replica_set_selector_is_immutable_but_scaling_is_not() -> None:
    rs = deployment()
    rs["kind"] = "ReplicaSet"
    old = stored(rs)
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 10
    assert validate(new, old) == []
    new["spec"]["selector"] = {"matchLabels": {"app": "hello"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["web"]}]}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
    assert [c["message"] for c in validate(new, old)] == [
        'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"hello"}, MatchExpressions:'
        '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"tier", Operator:"In", '
        'Values:[]string{"web"}}}}: field is immutable']


def test_name_namespace_and_uid_are_immutable() -> None:
    old = stored(pod())
    old["metadata"]["uid"] = "1111"
    new = copy.deepcopy(old)
    new["metadata"].update(name="web-1", namespace="prod", uid="2222")
    assert validate(new, old) == [
        cause("metadata.name", "FieldValueInvalid", 'Invalid value: "web-1": field is immutable'),
        cause("metadata.namespace", "FieldValueInvalid", 'Invalid value: "prod": field is immutable'),
        cause("metadata.uid", "FieldValueInvalid", 'Invalid value: "2222": field is immutable'),
    ]
    del new["metadata"]["uid"]  # left out: the server keeps the stored uid
    new["metadata"].update(name="web-0", namespace="default")
    assert validate(new, old) == []


def test_pod_update_may_change_images_labels_deadline_and_add_tolerations() -> None:
    old = stored(pod())
    old["spec"]["activeDeadlineSeconds"] = 600
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "busybox:1.37"
    new["metadata"]["labels"] = {"rev": "2"}
    new["spec"]["activeDeadlineSeconds"] = 300
    new["spec"]["tolerations"].append({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"})
    new["spec"]["tolerations"][0]["tolerationSeconds"] = 60
    assert validate(new, old) == []


def test_pod_update_of_any_other_spec_field_is_forbidden_and_says_what_changed() -> None:
    old = stored(pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["command"] = ["sleep", "10"]
    [found] = validate(new, old)
    assert found["field"] == "spec" and found["reason"] == "FieldValueForbidden"
    assert found["message"].startswith(POD_UPDATE_MSG + "\n")
    assert 'spec.containers[0].command[1]: "3600" -> "10"' in found["message"]


def test_binding_may_set_the_node_once() -> None:
    old = stored(pod())
    bound = copy.deepcopy(old)
    bound["spec"]["nodeName"] = "node-1"
    assert validate(bound, old) == []
    moved = copy.deepcopy(bound)
    moved["spec"]["nodeName"] = "node-2"
    [found] = validate(moved, bound)
    assert found["message"].startswith(POD_UPDATE_MSG) and 'spec.nodeName: "node-1" -> "node-2"' in found["message"]


@pytest.mark.parametrize("change,expected", [
    (lambda s: s["tolerations"].pop(0),
     cause("spec.tolerations", "FieldValueForbidden",
           "Forbidden: existing toleration can not be modified except its tolerationSeconds")),
    (lambda s: s["containers"].append({"name": "sidecar", "image": "busybox"}),
     cause("spec.containers", "FieldValueForbidden", "Forbidden: pod updates may not add or remove containers")),
    (lambda s: s.update(activeDeadlineSeconds=900),
     cause("spec.activeDeadlineSeconds", "FieldValueInvalid",
           "Invalid value: 900: must be less than or equal to previous value")),
    (lambda s: s.pop("activeDeadlineSeconds"),
     cause("spec.activeDeadlineSeconds", "FieldValueInvalid",
           "Invalid value: null: must not update from a positive integer to nil value")),
])
def test_pod_update_limits(change: Callable[[dict[str, Any]], None], expected: dict[str, str]) -> None:
    old = stored(pod())
    old["spec"]["activeDeadlineSeconds"] = 600
    new = copy.deepcopy(old)
    change(new["spec"])
    assert validate(new, old) == [expected]


def test_service_cluster_ip_cannot_change_or_be_unset_once_assigned() -> None:
    s = service()
    s["spec"]["clusterIP"] = "10.96.0.10"
    old = stored(s)
    new = copy.deepcopy(old)
    new["spec"]["ports"][0]["port"] = 8080
    assert validate(new, old) == []
    new["spec"].update(clusterIP="10.96.0.11", clusterIPs=["10.96.0.11"])
    assert validate(new, old) == [cause("spec.clusterIPs[0]", "FieldValueInvalid",
                                        'Invalid value: []string{"10.96.0.11"}: may not change once set')]
    new["spec"].pop("clusterIP"), new["spec"].pop("clusterIPs")
    assert validate(new, old) == [cause("spec.clusterIPs[0]", "FieldValueInvalid",
                                        "Invalid value: []string(nil): primary clusterIP can not be unset")]


def test_immutable_config_maps_and_secrets_keep_their_data() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "default"},
          "data": {"a": "1"}, "immutable": True}
    new = copy.deepcopy(cm)
    new["data"]["a"] = "2"
    new["immutable"] = False
    assert validate(new, cm) == [
        cause("immutable", "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set"),
        cause("data", "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set")]
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "type": "Opaque"}
    changed = dict(secret, type="kubernetes.io/basic-auth", stringData={"username": "u"})
    assert validate(changed, secret) == [
        cause("type", "FieldValueInvalid", 'Invalid value: "kubernetes.io/basic-auth": field is immutable')]


def test_no_new_finalizers_while_deleting() -> None:
    old = stored(pod())
    old["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["example.com/a"])
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = ["example.com/a", "example.com/b"]
    assert validate(new, old) == [cause("metadata.finalizers", "FieldValueForbidden",
                                        "Forbidden: no new finalizers can be added if the object is being "
                                        'deleted, found new finalizers []string{"example.com/b"}')]


def test_endpoint_slice_address_type_is_immutable() -> None:
    old = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "hello-abc", "namespace": "default"}, "addressType": "IPv4", "endpoints": []}
    assert validate(old) == []
    new = dict(old, addressType="IPv6")
    assert validate(new, old) == [cause("addressType", "FieldValueInvalid", 'Invalid value: "IPv6": field is immutable')]


# --- the other kinds -----------------------------------------------------------------------

@pytest.mark.parametrize("obj,expected", [
    ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}, "spec": {"finalizers": ["cleanup"]}},
     [cause("spec.finalizers", "FieldValueInvalid",
            'Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified')]),
    ({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
      "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}, {"key": "dedicated", "effect": "NoSchedule"},
                          {"key": "gpu", "effect": "Sometimes"}]}},
     [cause("spec.taints[1]", "FieldValueDuplicate",
            'Duplicate value: core.Taint{Key:"dedicated", Value:"", Effect:"NoSchedule", TimeAdded:(*v1.Time)(nil)}: '
            "taints must be unique by key and effect pair"),
      cause("spec.taints[2].effect", "FieldValueNotSupported",
            'Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')]),
    ({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "hello", "namespace": "default"},
      "subsets": [{"addresses": [{"ip": "10.244.1"}], "ports": [{"port": 8080}, {"name": "metrics", "port": 9090}]}]},
     [cause("subsets[0].addresses[0].ip", "FieldValueInvalid",
            'Invalid value: "10.244.1": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
      cause("subsets[0].ports[0].name", "FieldValueRequired", "Required value")]),
    ({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "hello", "namespace": "default"},
      "subsets": [{"ports": [{"port": 8080}]}]},
     [cause("subsets[0]", "FieldValueRequired", "Required value: must specify `addresses` or `notReadyAddresses`")]),
    ({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-0.17a", "namespace": "default"},
      "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "prod"}},
     [cause("involvedObject.namespace", "FieldValueInvalid", 'Invalid value: "prod": does not match event.namespace')]),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "default"},
      "data": {"app.conf": "x", "bad key": "y"}},
     [cause("data[bad key]", "FieldValueInvalid",
            "Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
            "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]),
    ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "default"},
      "type": "kubernetes.io/tls", "data": {"tls.crt": "not base64!"}},
     [cause("data[tls.crt]", "FieldValueInvalid", 'Invalid value: "<secret contents redacted>": illegal base64 data'),
      cause("data[tls.key]", "FieldValueRequired", "Required value")]),
    ({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
      "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 0}},
     [cause("spec.leaseDurationSeconds", "FieldValueInvalid", "Invalid value: 0: must be greater than 0")]),
    ({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "hello", "namespace": "default"},
      "spec": {"replicas": -1}},
     [cause("spec.replicas", "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0")]),
    ({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web-0"}, "target": {"kind": "Pod", "name": ""}},
     [cause("target.kind", "FieldValueNotSupported", 'Unsupported value: "Pod": supported values: "Node", "<empty>"'),
      cause("target.name", "FieldValueRequired", "Required value")]),
    ({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "s", "namespace": "default"},
      "addressType": "IPv5", "endpoints": [{"addresses": []}]},
     [cause("addressType", "FieldValueNotSupported", 'Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"'),
      cause("endpoints[0].addresses", "FieldValueRequired", "Required value: must contain at least 1 address")]),
], ids=["namespace", "node", "endpoints", "endpoints-empty", "event", "configmap", "secret", "lease", "scale",
        "binding", "endpointslice"])
def test_kind_specific_rules(obj: dict[str, Any], expected: list[dict[str, str]]) -> None:
    assert validate(obj) == expected


@pytest.mark.parametrize("obj", [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1.example.com"},
     "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}},
    {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "hello", "namespace": "default"},
     "subsets": [{"addresses": [{"ip": "10.244.1.5", "nodeName": "node-1"}], "ports": [{"port": 8080}]}]},
    {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "node-1.17a", "namespace": "default"},
     "involvedObject": {"kind": "Node", "name": "node-1"}, "reason": "NodeReady", "type": "Normal"},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
     "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "admin"}},
    {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
     "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2026-01-01T00:00:00.000000Z"}},
    {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "hello", "namespace": "default"},
     "spec": {"replicas": 5}},
    {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web-0", "namespace": "default"},
     "target": {"kind": "Node", "name": "node-1"}},
], ids=lambda o: o["kind"])
def test_ordinary_objects_of_every_kind_pass(obj: dict[str, Any]) -> None:
    assert validate(obj) == []
    apply_defaults(obj)
    assert validate(obj) == []


# --- unknown fields ------------------------------------------------------------------------

def test_unknown_fields_are_reported_as_paths_and_do_not_make_an_object_invalid() -> None:
    d = deployment()
    d["spec"]["foo"] = 1
    d["metadata"]["lables"] = {"app": "x"}
    d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostPortt"] = 1
    assert sorted(unknown_fields(d)) == [
        "metadata.lables", "spec.foo", "spec.template.spec.containers[0].imagePullPolicyy",
        "spec.template.spec.containers[0].ports[0].hostPortt"]
    assert validate(d) == []


def test_map_keys_are_never_unknown_fields() -> None:
    p = pod()
    p["metadata"]["labels"] = {"anything": "goes"}
    p["metadata"]["annotations"] = {"example.com/x": "y"}
    p["spec"]["nodeSelector"] = {"disk": "ssd"}
    p["spec"]["containers"][0]["resources"] = {"limits": {"example.com/gpu": 1}}
    assert unknown_fields(p) == []


# --- speed -----------------------------------------------------------------------------------

def test_a_kinds_schema_validator_is_built_once_and_reused() -> None:
    schema_validator.cache_clear()
    builtin.cache_clear()
    for i in range(1000):
        p = pod()
        p["metadata"]["name"] = f"web-{i}"
        assert validate(p) == []
    assert schema_validator.cache_info().misses == 1
    info = builtin.cache_info()
    assert info.misses == 1 and info.hits >= 999
    validate(deployment())
    validate(deployment())
    assert schema_validator.cache_info().misses == 2
    assert schema_validator("v1", "Pod") is schema_validator("v1", "Pod")
