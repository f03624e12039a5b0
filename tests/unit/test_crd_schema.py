"""A CRD version's structural schema and CEL rules, without a server: the messages
kube-apiserver gives, pruning, defaulting, what CEL is refused at CRD creation, name conflicts."""

from __future__ import annotations

import pytest

from controlplane.resources.custom import structural
from controlplane.resources.custom.cel import CompileError
from controlplane.resources.custom.crdcheck import crd_causes
from controlplane.resources.custom.names import decide_all
from controlplane.resources.registry import resources

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.minReplicas <= self.replicas", "message": "replicas below minReplicas",
                 "fieldPath": ".replicas"},
                {"rule": "self.replicas >= oldSelf.replicas", "reason": "FieldValueForbidden",
                 "messageExpression": "'may not shrink below ' + string(oldSelf.replicas)"},
                {"rule": "self.name.lowerAscii().startsWith('w') && size(self.tags) <= 3"},
            ],
            "properties": {
                "replicas": {"type": "integer", "default": 1, "maximum": 10, "exclusiveMaximum": True},
                "minReplicas": {"type": "integer", "default": 0},
                "ratio": {"type": "number", "multipleOf": 0.5},
                "name": {"type": "string", "minLength": 2, "default": "w"},
                "email": {"type": "string", "format": "email"},
                "when": {"type": "string", "format": "date-time", "nullable": True},
                "port": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3,
                         "x-kubernetes-list-type": "set", "default": []},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "tmpl": {"type": "object", "x-kubernetes-embedded-resource": True,
                         "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    },
}


@pytest.fixture(scope="module")
def root():
    return structural.compile_schema(SCHEMA)


def causes(root, obj, old=None) -> dict[str, str]:
    return {c["field"]: c["message"] for c in structural.validate(root, obj, old)}


def test_defaults_fill_absent_and_null_fields_and_drop_other_nulls(root):
    obj = {"spec": {"minReplicas": None, "email": None, "when": None}}
    structural.default(root, obj)
    assert obj == {"spec": {"replicas": 1, "minReplicas": 0, "name": "w", "tags": [], "when": None}}


def test_values_get_kube_apiserver_messages(root):
    obj = {"spec": {"replicas": 10, "ratio": 0.7, "name": "x", "email": "nope", "port": True,
                    "tags": ["a", "b", "c", "d"], "labels": {"k": 1}, "tmpl": {"spec": {}}}}
    assert causes(root, obj) == {
        "spec.replicas": "Invalid value: 10: spec.replicas in body should be less than 10",
        "spec.ratio": "Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5",
        "spec.name": 'Invalid value: "x": spec.name in body should be at least 2 chars long',
        "spec.email": 'Invalid value: "nope": spec.email in body must be of type email: "nope"',
        "spec.port": 'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
        "spec.tags": "Too many: 4: must have at most 3 items",
        "spec.labels.k": 'Invalid value: "integer": spec.labels.k in body must be of type string: "integer"',
        "spec.tmpl.apiVersion": "Required value: must not be empty",
        "spec.tmpl.kind": "Required value: must not be empty",
        "<nil>": "Invalid value: null: some validation rules were not checked because the object was "
                 "invalid; correct the existing errors to complete validation",
    }


def test_cel_rules_with_field_paths_reasons_and_transition_rules(root):
    obj = {"spec": {"replicas": 1, "minReplicas": 2, "name": "wx", "tags": []}}
    assert causes(root, obj) == {"spec.replicas": 'Invalid value: "object": replicas below minReplicas'}
    shrunk = {"spec": {"replicas": 2, "minReplicas": 0, "name": "wx", "tags": []}}
    found = structural.validate(root, shrunk, {"spec": {"replicas": 5}})
    assert found == [{"reason": "FieldValueForbidden", "field": "spec", "message": "Forbidden: may not shrink below 5"}]
    assert causes(root, {"spec": {"replicas": 1, "minReplicas": 0, "name": "Zed", "tags": []}}) == {
        "spec": "Invalid value: \"object\": failed rule: self.name.lowerAscii().startsWith('w') && "
                "size(self.tags) <= 3"}


def test_unknown_fields_are_found_and_pruned_but_preserved_where_asked(root):
    obj = {"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a", "bogus": 1},
           "spec": {"extra": 1, "tmpl": {"apiVersion": "v1", "kind": "Pod", "metadata": {"x": 1}, "any": 2}},
           "other": 3}
    assert structural.unknown(root, obj, frozenset({"name"})) == ["metadata.bogus", "spec.extra",
                                                                  "spec.tmpl.metadata.x", "other"]
    structural.prune(root, obj, frozenset({"name"}))
    assert obj == {"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
                   "spec": {"tmpl": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "any": 2}}}


@pytest.mark.parametrize("rule, refused", [
    ("quantity(self.q).isGreaterThan(quantity('1'))", "undeclared reference to 'quantity'"),
    ("self.url.matches('x') && url(self.url).getHost() == 'a'", "undeclared reference to 'url'"),
    ("self.?x.orValue(1) == 1", "unsupported syntax '.?'"),
    ("self.nmae == 'a'", "undefined field 'nmae'"),
    ("other > 1", "undeclared reference to 'other'"),
    ("self.name.format([1])", "undeclared reference to 'format'"),
])
def test_cel_that_cannot_run_here_is_refused_when_compiled(rule, refused):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "url": {"type": "string"},
                                                "q": {"type": "string"}},
              "x-kubernetes-validations": [{"rule": rule}]}
    with pytest.raises(CompileError) as err:
        structural.compile_schema(schema)
    assert refused in err.value.detail and err.value.field == "x-kubernetes-validations[0].rule"


def test_old_self_is_refused_where_nothing_correlates():
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"a": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.a >= oldSelf.a"}]}}}}
    with pytest.raises(CompileError) as err:
        structural.compile_schema(schema)
    assert "oldSelf cannot be used on the uncorrelatable portion of the schema" in err.value.detail


def crd(name: str, group: str, plural: str, kind: str, short=(), created="2026-01-01T00:00:00Z",
        accepted=None) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"group": group, "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                                               "listKind": kind + "List", "shortNames": list(short)}},
            "status": {"acceptedNames": accepted or {}}}


def test_names_in_use_are_refused_oldest_first_and_against_built_in_resources():
    a = crd("as.x.io", "x.io", "as", "A", ["q"], created="2026-01-01T00:00:01Z")
    b = crd("bs.x.io", "x.io", "bs", "B", ["q"], created="2026-01-01T00:00:02Z")
    verdicts = decide_all([b, a], resources())
    assert verdicts["as.x.io"].accepted and verdicts["as.x.io"].names["shortNames"] == ["q"]
    assert (verdicts["bs.x.io"].accepted, verdicts["bs.x.io"].reason, verdicts["bs.x.io"].message) == \
        (False, "ShortNamesConflict", '"q" is already in use')
    assert verdicts["bs.x.io"].names["plural"] == "bs"  # the rest is still accepted
    # A name already held stays its holder's, whoever is older.
    b_holds = crd("bs.x.io", "x.io", "bs", "B", ["q"], created="2026-01-01T00:00:02Z",
                  accepted={"plural": "bs", "kind": "B", "shortNames": ["q"]})
    assert not decide_all([a, b_holds], resources())["as.x.io"].accepted
    builtin = crd("leases.coordination.k8s.io", "coordination.k8s.io", "leases", "Lease")
    verdict = decide_all([builtin], resources())["leases.coordination.k8s.io"]
    # As kube's naming controller: every conflict is found, the last one checked is reported.
    assert (verdict.accepted, verdict.reason, verdict.message) == (False, "ListKindConflict",
                                                                   '"LeaseList" is already in use')


def test_a_crd_that_is_not_structural_is_refused_with_paths():
    bad = {"metadata": {"name": "ws.x.io"}, "spec": {
        "group": "x.io", "scope": "Namespaced",
        "names": {"plural": "ws", "singular": "w", "kind": "W", "listKind": "WList"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {
                "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
                "spec": {"type": "object", "properties": {
                    "a": {"type": "array"},
                    "b": {"type": "string", "uniqueItems": True},
                    "c": {"$ref": "#/definitions/x"},
                    "d": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}},
                    "e": {"type": "integer", "default": "x"},
                }}}}}}]}}
    at = "spec.versions[0].schema.openAPIV3Schema"
    found = {c["field"]: c["message"] for c in crd_causes(bad)}
    assert found == {
        f"{at}.properties[metadata]": "Forbidden: must not specify anything other than name and "
                                      "generateName, but metadata is implicitly specified",
        f"{at}.properties[spec].properties[a].items": "Required value: must be specified",
        f"{at}.properties[spec].properties[b].uniqueItems": "Forbidden: uniqueItems cannot be set to true "
                                                            "since the runtime complexity becomes quadratic",
        f"{at}.properties[spec].properties[c].$ref": "Forbidden: $ref is not supported",
        f"{at}.properties[spec].properties[c].type": "Required value: must not be empty for specified object fields",
        f"{at}.properties[spec].properties[d].x-kubernetes-list-map-keys": "Required value: must not be empty if "
                                                                           "x-kubernetes-list-type is map",
    }
    del bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["metadata"]
    spec = bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    for k in ("a", "b", "c", "d"):
        del spec[k]
    assert {c["field"]: c["message"] for c in crd_causes(bad)} == {
        f"{at}.properties[spec].properties[e].default": 'Invalid value: "string": spec.e in body must be of '
                                                        'type integer: "string"'}
