"""The compiled schema check says "clean" exactly when jsonschema finds nothing.

A write whose object the compiled check calls clean skips jsonschema altogether, so a wrong
"clean" would store an object kube-apiserver rejects, or keep a field it drops. The objects
checked: every manifest, every object written in the tests (dict literals and YAML), the
bootstrap RBAC policy, each also defaulted; then mutations of them (wrong types, unknown
fields at every depth, missing fields, bad enum values, nulls, 1.0 for 1, True for 1, values
wrapped in lists) and objects generated from the schemas themselves.
"""

from __future__ import annotations

import ast
import copy
import random
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from controlplane.auth import bootstrap
from controlplane.resources import schema as validation
from controlplane.resources.checks import apply_defaults, check_write, unknown_fields, validate
from controlplane.resources.schema import schema_validator
from controlplane.resources.schema_compiled import DRAFT_2020_12, compile_schema

ROOT = Path(__file__).resolve().parents[2]
WRONG_VALUES: list[Any] = [None, True, False, 0, 1, 1.0, 1.5, -1, "", "x", "NotAnEnumValue",
                           [], [None], [[1]], {}, {"zzUnknown": 1}]


# --- the objects -----------------------------------------------------------------------------

def _literal_objects(path: Path) -> Iterator[dict[str, Any]]:
    """Dict literals with apiVersion and kind, and YAML documents in string constants."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if {"apiVersion", "kind"} <= keys:
                try:
                    yield ast.literal_eval(node)
                except ValueError:
                    pass  # built from variables: not a literal
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "apiVersion:" in node.value:
            try:
                yield from (d for d in yaml.safe_load_all(node.value) if isinstance(d, dict))
            except yaml.YAMLError:
                pass


def _crd() -> dict[str, Any]:
    """JSONSchemaProps refers to itself: nested properties exercise the recursive $ref."""
    leaf = {"type": "string", "enum": ["a", "b"]}
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer", "minimum": 1}, "tags": {"type": "array", "items": leaf},
        "nested": {"type": "object", "additionalProperties": {"type": "object", "properties": {"x": leaf}}}}}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema}}]}}


def _seeds() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [_crd()]
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    for path in sorted((ROOT / "tests").rglob("*.py")):
        found += list(_literal_objects(path))
    found += [obj for _, obj in bootstrap.policy()]
    seeds = []
    for obj in found:
        if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
            continue
        if schema_validator(obj["apiVersion"], obj["kind"]) is None:
            continue
        defaulted = copy.deepcopy(obj)
        apply_defaults(defaulted)
        seeds += [obj, defaulted] if defaulted != obj else [obj]
    return seeds


SEEDS = _seeds()


def _places(obj: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, container, key) of every value in obj, depth first."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        here = f"{path}/{key}"
        yield here, obj, key
        yield from _places(value, here)


def _mutations(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every single-point change of obj this test knows, each on a fresh copy."""
    places = [("", None, None)] + list(_places(obj))
    for i, (path, _, _) in enumerate(places):
        def changed(change: Any, i: int = i) -> dict[str, Any]:
            copied = copy.deepcopy(obj)
            _, container, key = ([("", None, None)] + list(_places(copied)))[i]
            change(copied if container is None else container, key)
            return copied

        target = obj if i == 0 else places[i][1][places[i][2]]
        if isinstance(target, dict):
            yield f"{path}+zzUnknown", changed(lambda c, k: (c if k is None else c[k]).update(zzUnknown="x"))
        if isinstance(target, list):
            yield f"{path}+null", changed(lambda c, k: c[k].append(None))
            yield f"{path}+{{}}", changed(lambda c, k: c[k].append({}))
        if i == 0:
            continue
        container = places[i][1]
        if isinstance(container, dict):
            yield f"{path}-", changed(lambda c, k: c.pop(k))
        for wrong in WRONG_VALUES:
            yield f"{path}={wrong!r}", changed(lambda c, k, w=wrong: c.__setitem__(k, copy.deepcopy(w)))
        yield f"{path}=[v]", changed(lambda c, k: c.__setitem__(k, [c[k]]))
        if isinstance(target, int) and not isinstance(target, bool):
            yield f"{path}=float", changed(lambda c, k: c.__setitem__(k, float(c[k])))
            yield f"{path}=bool", changed(lambda c, k: c.__setitem__(k, bool(c[k])))


def _sample(items: list[Any], n: int, rng: random.Random) -> list[Any]:
    return items if len(items) <= n else rng.sample(items, n)


# --- the comparison --------------------------------------------------------------------------

def _compiled(obj: dict[str, Any]) -> bool:
    check = validation._clean_check(obj["apiVersion"], obj["kind"])
    assert check is not None
    return check(obj)


def _disagreements(objs: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[str], int]:
    """(unsound: compiled said clean but jsonschema objects, needless: the other way, clean count)."""
    unsound, needless, clean = [], [], 0
    for name, obj in objs:
        if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str) or \
                not isinstance(obj.get("apiVersion"), str) or \
                schema_validator(obj["apiVersion"], obj["kind"]) is None:
            continue
        errors = list(schema_validator(obj["apiVersion"], obj["kind"]).iter_errors(obj))
        fast = _compiled(obj)
        clean += fast
        if fast and errors:
            unsound.append(f"{obj['kind']} {name}: {[e.message for e in errors][:3]}")
        elif not fast and not errors:
            needless.append(f"{obj['kind']} {name}")
    return unsound, needless, clean


def _assert_agree(objs: list[tuple[str, dict[str, Any]]]) -> int:
    unsound, needless, clean = _disagreements(objs)
    assert not unsound, "compiled check said clean where jsonschema found problems:\n" + "\n".join(unsound[:10])
    assert not needless, "compiled check said not clean where jsonschema found nothing:\n" + "\n".join(needless[:10])
    return clean


def test_every_object_in_the_tests_and_manifests_gets_jsonschemas_answer() -> None:
    assert len(SEEDS) > 100
    clean = _assert_agree([(f"seed {i}", obj) for i, obj in enumerate(SEEDS)])
    assert clean > 100  # most of them are valid objects: the fast path answers for them


KINDS_MUTATED_IN_FULL = [("apps/v1", "Deployment"), ("v1", "Pod"), ("v1", "Service"),
                         ("coordination.k8s.io/v1", "Lease"), ("v1", "Node"), ("v1", "ConfigMap"),
                         ("apiextensions.k8s.io/v1", "CustomResourceDefinition")]


@pytest.mark.parametrize("api_version,kind", KINDS_MUTATED_IN_FULL)
def test_every_single_change_of_a_defaulted_object_gets_jsonschemas_answer(api_version: str, kind: str) -> None:
    seed = max((s for s in SEEDS if (s["apiVersion"], s["kind"]) == (api_version, kind)),
               key=lambda s: len(list(_places(s))))
    mutated = list(_mutations(seed))
    assert len(mutated) > 50
    _assert_agree(mutated)


def test_changes_of_every_other_object_get_jsonschemas_answer() -> None:
    rng = random.Random(8)
    sampled = [(f"seed {i} {name}", m) for i, seed in enumerate(SEEDS)
               for name, m in _sample(list(_mutations(seed)), 15, rng)]
    _assert_agree(sampled)


# --- objects generated from the schemas ------------------------------------------------------

class _Generator:
    """Random instances of a kind's schema: mostly valid, with one planted fault in some."""

    def __init__(self, api_version: str, kind: str, rng: random.Random) -> None:
        schema, registry = validation._kind_schema(api_version, kind)  # type: ignore[misc]
        self.root = registry.resolver_with_root(DRAFT202012.create_resource(schema))
        self.schema, self.rng = schema, rng

    def value(self, schema: Any, resolver: Any, depth: int) -> Any:
        rng = self.rng
        while isinstance(schema, dict) and "$ref" in schema:
            resolved = resolver.lookup(schema["$ref"])
            schema, resolver = resolved.contents, resolved.resolver
        if not isinstance(schema, dict):
            return rng.choice(WRONG_VALUES)
        if "enum" in schema:
            return rng.choice(schema["enum"] + [None] * ("null" in schema.get("type", [])))
        types = schema.get("type", ["string"])
        types = [types] if isinstance(types, str) else types
        kind = rng.choice(types)
        if kind == "object" and depth > 0:
            props = schema.get("properties", {})
            chosen = set(rng.sample(sorted(props), min(len(props), rng.randint(0, 4))))
            chosen |= set(schema.get("required", []))
            out = {k: self.value(props[k], resolver, depth - 1) for k in sorted(chosen) if k in props}
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and not props:
                out.update({f"k{i}": self.value(extra, resolver, depth - 1) for i in range(rng.randint(0, 2))})
            return out
        if kind == "array" and depth > 0:
            return [self.value(schema.get("items", {}), resolver, depth - 1) for _ in range(rng.randint(0, 2))]
        return {"object": {}, "array": [], "null": None, "boolean": rng.choice([True, False]),
                "integer": rng.choice([0, 3, 2.0, -1]), "number": rng.choice([0, 1.5, 7]),
                "string": rng.choice(["", "a", "10Mi"])}[kind]

    def instance(self) -> dict[str, Any]:
        return self.value(self.schema, self.root, 7)


@pytest.mark.parametrize("api_version,kind", KINDS_MUTATED_IN_FULL + [("rbac.authorization.k8s.io/v1", "Role"),
                                                                      ("discovery.k8s.io/v1", "EndpointSlice")])
def test_objects_generated_from_the_schema_get_jsonschemas_answer(api_version: str, kind: str) -> None:
    rng = random.Random(kind)
    gen = _Generator(api_version, kind, rng)
    objs = []
    for i in range(60):
        obj = gen.instance()
        obj["apiVersion"], obj["kind"] = api_version, kind
        objs.append((f"generated {i}", obj))
        objs += [(f"generated {i} {name}", m) for name, m in _sample(list(_mutations(obj)), 3, rng)]
    unsound, needless, clean = _disagreements(objs)
    assert not unsound, "compiled check said clean where jsonschema found problems:\n" + "\n".join(unsound[:10])
    assert not needless, "\n".join(needless[:10])
    assert 0 < clean < len(objs)  # both answers were exercised


# --- JSON schema's fine print, keyword by keyword --------------------------------------------

CASES: list[tuple[dict[str, Any], Any, bool]] = [
    ({"type": "integer"}, 1, True),
    ({"type": "integer"}, 1.0, True),  # an integer-valued float is an integer (draft 6 on)
    ({"type": "integer"}, 1.5, False),
    ({"type": "integer"}, True, False),  # bool is not an integer, though Python says so
    ({"type": "integer"}, "1", False),
    ({"type": "integer"}, float("inf"), False),
    ({"type": "number"}, 3, True),
    ({"type": "number"}, 2.5, True),
    ({"type": "number"}, False, False),
    ({"type": ["string", "null"]}, None, True),
    ({"type": ["string", "null"]}, "", True),
    ({"type": ["string", "null"]}, 0, False),
    ({"type": "string"}, None, False),
    ({"type": ["integer", "string", "null"]}, "80%", True),
    ({"type": ["integer", "string", "null"]}, [], False),
    ({"type": ["boolean", "null"]}, 1, False),
    ({"type": ["object", "null"]}, [], False),
    ({"type": ["array", "null"]}, {}, False),
    ({"type": []}, None, False),
    ({"type": ["string", "null"], "enum": ["v1"]}, None, False),  # null passes type, not the enum
    ({"enum": ["1"]}, 1, False),
    ({"enum": ["TCP", "UDP"]}, "TCP", True),
    ({"enum": ["TCP", "UDP"]}, "tcp", False),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}, {"a": 1}, True),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}, {"b": 1}, False),
    ({"type": "object", "properties": {"a": {"type": "integer"}}}, {"b": "anything"}, True),
    ({"properties": {"a": {"type": "integer"}}, "required": ["a"]}, "not an object", True),
    ({"type": "object", "required": ["a"]}, {}, False),
    ({"type": "object", "additionalProperties": {"type": "string"}}, {"x": "1", "y": "2"}, True),
    ({"type": "object", "additionalProperties": {"type": "string"}}, {"x": 1}, False),
    ({"type": "object", "additionalProperties": {}}, {"x": 1}, True),
    ({"type": "array", "items": {"type": "integer"}}, [1, 2.0], True),
    ({"type": "array", "items": {"type": "integer"}}, [1, [2]], False),
    ({"type": "array", "items": False}, [], True),
    ({"type": "array", "items": False}, [1], False),
    ({"type": "array", "items": {"type": "array", "items": {"type": "string"}}}, [["a"], []], True),
    ({"type": "array", "items": {"type": "array", "items": {"type": "string"}}}, [["a", 1]], False),
    ({"type": "string", "format": "date-time"}, "not a date", True),  # format only annotates
    ({"$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}},
                         "additionalProperties": False}}, "$ref": "#/$defs/node"},
     {"child": {"child": {"child": {}}}}, True),
    ({"$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}},
                         "additionalProperties": False}}, "$ref": "#/$defs/node"},
     {"child": {"child": {"child": {"x": 1}}}}, False),
    ({"$ref": "#/$defs/s", "description": "ref with siblings", "$defs": {"s": {"type": "string"}}}, 1, False),
]


@pytest.mark.parametrize("schema,value,valid", CASES)
def test_the_compiled_check_follows_draft_2020_12(schema: dict[str, Any], value: Any, valid: bool) -> None:
    schema = {"$schema": DRAFT_2020_12, **schema}
    assert jsonschema.Draft202012Validator(schema).is_valid(value) is valid  # the case is right
    assert compile_schema(schema, Registry())(value) is valid


@pytest.mark.parametrize("schema,value", [
    ({"type": "integer", "minimum": 0}, 5),  # a keyword it does not compile
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "x"),
    ({"type": "object", "properties": {"a": {"type": "integer", "maximum": 3}}}, {"a": 1}),
    ({"enum": [1, 2]}, 1),  # jsonschema's 1 == 1.0 / True != 1 equality is not redone here
    ({"$ref": "#/$defs/missing"}, 1),
])
def test_a_keyword_it_does_not_know_is_never_clean(schema: dict[str, Any], value: Any) -> None:
    schema = {"$schema": DRAFT_2020_12, **schema}
    assert compile_schema(schema, Registry())(value) is False


def test_formats_count_when_the_validator_checks_them() -> None:
    schema = {"$schema": DRAFT_2020_12, "type": "string", "format": "date-time"}
    assert compile_schema(schema, Registry())("x") is True
    assert compile_schema(schema, Registry(), formats_asserted=True)("x") is False


def test_another_dialect_is_never_clean() -> None:
    assert compile_schema({"$schema": "http://json-schema.org/draft-04/schema#", "type": "string"},
                          Registry())("x") is False


# --- the API's answers do not change -----------------------------------------------------------

def _answers(obj: dict[str, Any]) -> tuple[Any, Any, Any]:
    return unknown_fields(obj), validate(obj), check_write(obj)


def test_causes_and_unknown_fields_are_the_same_with_and_without_the_fast_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    objs = list(SEEDS) + [m for seed in SEEDS[:60] for _, m in _sample(list(_mutations(seed)), 10, rng)]
    fast = [_answers(copy.deepcopy(o)) for o in objs]
    with monkeypatch.context() as patched:  # schemas built without their compiled check
        patched.setattr(validation, "_clean_check", lambda api_version, kind: None)
        validation.builtin.cache_clear()
        slow = [_answers(copy.deepcopy(o)) for o in objs]
    validation.builtin.cache_clear()
    assert fast == slow
    for (unknown, causes, write), _ in zip(fast, objs):
        assert write == ((unknown, []) if unknown else ([], causes))


def test_a_clean_write_skips_the_jsonschema_walk_and_a_faulty_one_gets_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    walks = []
    real = validation._schema_check
    monkeypatch.setattr(validation, "_schema_check", lambda v, obj: walks.append(obj) or real(v, obj))
    good = next(s for s in SEEDS if s["kind"] == "Deployment" and not validate(s) and not unknown_fields(s))
    assert check_write(copy.deepcopy(good)) == ([], [])
    assert walks == []
    bad = copy.deepcopy(good)
    bad["spec"]["replicas"] = "three"
    unknown, causes = check_write(bad)
    assert len(walks) == 1
    assert unknown == [] and [c["field"] for c in causes] == ["spec.replicas"]
