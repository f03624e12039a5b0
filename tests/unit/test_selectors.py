"""Label and field selectors behave, and fail, as kube-apiserver's do."""

from __future__ import annotations

import pytest

from controlplane.machinery.selectors import (
    SelectorError,
    label_selector_from_spec,
    parse_field_selector,
    parse_label_selector,
    selector_to_string,
)

NAME_PART_RULE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                  "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_RULE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                    "'my_value',  or '12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")

WEB = {"app": "web", "tier": "frontend", "env": "prod"}


# --- label selectors: matching ------------------------------------------------------------

@pytest.mark.parametrize("selector, labels, expected", [
    ("app=web", WEB, True),
    ("app==web", WEB, True),
    ("app=api", WEB, False),
    ("app!=api", WEB, True),
    ("app!=web", WEB, False),
    ("canary!=true", WEB, True),             # != also matches when the key is absent
    ("tier in (frontend,backend)", WEB, True),
    ("tier in (backend)", WEB, False),
    ("env notin (dev, staging)", WEB, True),
    ("env notin (prod)", WEB, False),
    ("canary notin (true)", WEB, True),      # notin matches a missing key
    ("app", WEB, True),
    ("canary", WEB, False),
    ("!canary", WEB, True),
    ("!app", WEB, False),
    ("app=web,tier=frontend", WEB, True),
    ("app=web,tier=backend", WEB, False),
    ("  app = web ,\ttier in ( frontend )  ", WEB, True),  # whitespace anywhere between tokens
    ("app=", {"app": ""}, True),             # empty value
    ("app=", WEB, False),
    ("version>2", {"version": "3"}, True),
    ("version<2", {"version": "3"}, False),
    ("version>2", {"version": "three"}, False),
    ("in in (in)", {"in": "in"}, True),      # the keywords are ordinary words in value/key position
])
def test_label_selector_matches(selector, labels, expected):
    assert parse_label_selector(selector).matches(labels) is expected


def test_empty_label_selector_matches_everything_even_unlabelled_objects():
    everything = parse_label_selector("")
    assert everything.empty
    assert everything.matches(None) and everything.matches({}) and everything.matches(WEB)
    assert str(everything) == ""


def test_unlabelled_object_satisfies_only_negative_terms():
    assert parse_label_selector("!app,tier notin (x)").matches(None)
    assert not parse_label_selector("app").matches(None)


@pytest.mark.parametrize("selector, canonical", [
    ("tier=frontend,app=web", "app=web,tier=frontend"),               # sorted by key
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),  # values sorted, "" kept
    ("!canary, tier in (front, back)", "!canary,tier in (back,front)"),
    ("a==b,  c != d", "a==b,c!=d"),
    ("version > 2", "version>2"),
    ("example.com/owner=me", "example.com/owner=me"),
])
def test_label_selector_canonical_string(selector, canonical):
    assert str(parse_label_selector(selector)) == canonical
    assert str(parse_label_selector(canonical)) == canonical  # the canonical form round-trips


@pytest.mark.parametrize("selector, message", [
    ("app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt"),
    ("app=web,", "found '', expected: identifier after ','"),
    ("=web", "found '=', expected: !, identifier, or 'end of string'"),
    ("!app=web", "found '=', expected: ',' or 'end of string'"),
    ("app=my web", "found 'web', expected: ',' or 'end of string'"),
    ("tier in frontend", "unable to parse requirement: found 'frontend' expected: '('"),
    ("tier in (frontend", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("app=(web)", "unable to parse requirement: found '(', expected: identifier"),
    ("app:web", f'unable to parse requirement: <nil>: Invalid value: "app:web": name part {NAME_PART_RULE}'),
    ("a/b/c=x", 'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name '
                f"{NAME_PART_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("app.kubernetes_io/name=x",
     'unable to parse requirement: <nil>: Invalid value: "app.kubernetes_io/name": prefix part a lowercase '
     "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
     "end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("app=-web-", f'unable to parse requirement: values[0][app]: Invalid value: "-web-": {LABEL_VALUE_RULE}'),
    ("version>two", 'unable to parse requirement: values[0]: Invalid value: "two": '
                    "for 'Gt', 'Lt' operators, the value must be an integer"),
])
def test_label_selector_errors_read_like_kube_apiserver(selector, message):
    with pytest.raises(SelectorError) as err:
        parse_label_selector(selector)
    assert str(err.value) == message


def test_label_value_longer_than_63_characters_is_rejected():
    with pytest.raises(SelectorError, match="must be no more than 63 characters"):
        parse_label_selector("app=" + "x" * 64)
    assert parse_label_selector("app=" + "x" * 63).matches({"app": "x" * 63})


# --- label selectors: the object form -------------------------------------------------------

def test_spec_selector_combines_match_labels_and_expressions():
    spec = {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev", "staging"]},
                                 {"key": "tier", "operator": "In", "values": ["frontend"]},
                                 {"key": "owner", "operator": "Exists"},
                                 {"key": "canary", "operator": "DoesNotExist"}]}
    selector = label_selector_from_spec(spec)
    assert selector.matches({**WEB, "owner": "me"})
    assert not selector.matches(WEB)                                  # owner missing
    assert not selector.matches({**WEB, "owner": "me", "canary": "1"})
    assert str(selector) == "app=web,!canary,env notin (dev,staging),owner,tier in (frontend)"


def test_missing_spec_selector_matches_nothing_but_empty_one_matches_everything():
    nothing, everything = label_selector_from_spec(None), label_selector_from_spec({})
    assert not nothing.matches({}) and not nothing.matches(WEB)
    assert not nothing.empty
    assert everything.matches({}) and everything.matches(WEB) and everything.empty


@pytest.mark.parametrize("spec, shown", [
    ({"matchLabels": {"app": "myapp"}}, "app=myapp"),
    ({"matchLabels": {"tier": "web", "app": "myapp"}}, "app=myapp,tier=web"),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["b", "a"]}]}, "app in (a,b)"),
    ({}, ""),
    (None, ""),
])
def test_selector_to_string_is_what_scale_status_selector_shows(spec, shown):
    assert selector_to_string(spec) == shown


@pytest.mark.parametrize("spec, message", [
    ({"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["x"]}]},
     '"Equals" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": []}]},
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]},
     'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist'),
    ({"matchLabels": {"my app": "web"}}, f'key: Invalid value: "my app": name part {NAME_PART_RULE}'),
    ({"matchLabels": {"my app": "a b"}},
     f'[key: Invalid value: "my app": name part {NAME_PART_RULE}, '
     f'values[0][my app]: Invalid value: "a b": {LABEL_VALUE_RULE}]'),
])
def test_invalid_spec_selector(spec, message):
    with pytest.raises(SelectorError) as err:
        label_selector_from_spec(spec)
    assert str(err.value) == message


# --- field selectors --------------------------------------------------------------------------

def _pod(name, node, phase, ns="default"):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"nodeName": node, "restartPolicy": "Always", "schedulerName": "default-scheduler"},
            "status": {"phase": phase, "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}]}}


PODS = [_pod("a", "node-1", "Running"), _pod("b", "node-1", "Succeeded"), _pod("c", "node-1", "Failed"),
        _pod("d", "node-2", "Running"), _pod("e", "", "Pending", ns="kube-system")]


def _names(selector, objects):
    return [o["metadata"]["name"] for o in objects if selector.matches(o)]


def test_describe_node_query_selects_the_nodes_live_pods():
    # kubectl describe node: spec.nodeName=X,status.phase!=Succeeded,status.phase!=Failed
    sel = parse_field_selector("spec.nodeName=node-1,status.phase!=Succeeded,status.phase!=Failed", "pods")
    assert _names(sel, PODS) == ["a"]


@pytest.mark.parametrize("query, names", [
    ("metadata.name=d", ["d"]),
    ("metadata.name==d", ["d"]),
    ("metadata.namespace=kube-system", ["e"]),
    ("metadata.namespace!=kube-system", ["a", "b", "c", "d"]),
    ("spec.nodeName=", ["e"]),                      # unscheduled pods
    ("spec.host=node-2", ["d"]),                    # legacy alias of spec.nodeName
    ("status.podIP=10.244.1.7,metadata.name=a", ["a"]),
    ("spec.restartPolicy=Always,spec.schedulerName=default-scheduler", ["a", "b", "c", "d", "e"]),
    ("spec.hostNetwork=false", ["a", "b", "c", "d", "e"]),
    ("status.nominatedNodeName=", ["a", "b", "c", "d", "e"]),
    ("", ["a", "b", "c", "d", "e"]),
])
def test_pod_field_selectors(query, names):
    assert _names(parse_field_selector(query, "pods"), PODS) == names


EVENTS = [
    {"metadata": {"name": "web.1", "namespace": "default"}, "reason": "BackOff", "type": "Warning",
     "source": {"component": "kubelet", "host": "node-1"},
     "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u-1",
                        "apiVersion": "v1", "fieldPath": "spec.containers{web}"}},
    {"metadata": {"name": "node-1.1", "namespace": "default"}, "reason": "NodeNotReady", "type": "Normal",
     "reportingComponent": "node-controller",
     "involvedObject": {"kind": "Node", "name": "node-1", "uid": "u-2", "apiVersion": "v1"}},
]


@pytest.mark.parametrize("query, names", [
    # kubectl describe pod / describe node
    ("involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=u-1", ["web.1"]),
    ("involvedObject.name=node-1,involvedObject.namespace=,involvedObject.kind=Node,involvedObject.uid=u-2",
     ["node-1.1"]),
    ("involvedObject.namespace=", ["node-1.1"]),     # an absent field reads as ""
    ("involvedObject.fieldPath=spec.containers{web}", ["web.1"]),
    ("involvedObject.apiVersion=v1,involvedObject.resourceVersion=", ["web.1", "node-1.1"]),
    ("reason=BackOff", ["web.1"]),
    ("type!=Normal", ["web.1"]),
    ("source=kubelet", ["web.1"]),
    ("source=node-controller", ["node-1.1"]),       # falls back to reportingComponent
    ("reportingComponent=node-controller", ["node-1.1"]),
])
def test_event_field_selectors(query, names):
    assert _names(parse_field_selector(query, "events"), EVENTS) == names


def test_node_and_namespace_field_selectors():
    nodes = [{"metadata": {"name": "n1"}, "spec": {"unschedulable": True}}, {"metadata": {"name": "n2"}, "spec": {}}]
    assert _names(parse_field_selector("spec.unschedulable=true", "nodes"), nodes) == ["n1"]
    assert _names(parse_field_selector("spec.unschedulable=false", "nodes"), nodes) == ["n2"]
    namespaces = [{"metadata": {"name": "default"}, "status": {"phase": "Active"}},
                  {"metadata": {"name": "old"}, "status": {"phase": "Terminating"}}]
    assert _names(parse_field_selector("status.phase=Active", "namespaces"), namespaces) == ["default"]


@pytest.mark.parametrize("query, resource, message", [
    ("spec.foo=bar", "pods", "field label not supported: spec.foo"),
    ("status.hostIP=1.2.3.4", "pods", "field label not supported: status.hostIP"),
    ("reason=x,message=y", "events", "field label not supported: message"),
    ("spec.unschedulable=true,metadata.namespace=", "nodes", "field label not supported: metadata.namespace"),
    ("status.phase=Active,spec.finalizers=x", "namespaces", "field label not supported: spec.finalizers"),
    # Kinds without their own conversion func (the apps group, config maps, ...) use the generic text.
    ("status.replicas=3", "replicasets",
     '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("spec.paused=true", "deployments",
     '"spec.paused" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("metadata.name", "pods", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("metadata.name=a=b", "pods", "invalid field selector: unescaped character in value: 61"),
    ("metadata.name=a\\b", "pods", "invalid field selector: invalid escape sequence: \\b"),
])
def test_field_selector_errors(query, resource, message):
    with pytest.raises(SelectorError) as err:
        parse_field_selector(query, resource)
    assert str(err.value) == message


def test_syntax_is_checked_before_field_labels():
    # Upstream parses the whole string first, then converts each label.
    with pytest.raises(SelectorError, match="can't understand 'garbage'"):
        parse_field_selector("spec.foo=bar,garbage", "pods")


def test_generic_resources_accept_name_and_namespace():
    cms = [{"metadata": {"name": "cfg", "namespace": "default"}}, {"metadata": {"name": "other", "namespace": "x"}}]
    assert _names(parse_field_selector("metadata.namespace=default", "configmaps"), cms) == ["cfg"]
    assert _names(parse_field_selector("metadata.name!=cfg", "deployments"), cms) == ["other"]


def test_exact_name_lets_a_server_skip_the_scan():
    assert parse_field_selector("metadata.name=myapp", "deployments").exact_name() == "myapp"
    assert parse_field_selector("metadata.name==myapp,metadata.namespace=default", "pods").exact_name() == "myapp"
    assert parse_field_selector("metadata.name!=myapp", "pods").exact_name() is None
    assert parse_field_selector("status.phase=Running", "pods").exact_name() is None
    assert parse_field_selector("", "pods").exact_name() is None


def test_escaped_values_and_canonical_string():
    sel = parse_field_selector("status.phase!=Failed,metadata.name=a\\,b\\=c", "pods")
    assert sel.exact_name() == "a,b=c"
    assert str(sel) == "metadata.name=a\\,b\\=c,status.phase!=Failed"  # terms sorted, values re-escaped
    assert parse_field_selector("spec.host=n1", "pods").requirements[0].field == "spec.nodeName"
    assert parse_field_selector("", "pods").empty
