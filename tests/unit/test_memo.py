"""Answers remembered by the JSON of what they depend on (machinery/memo.py): the pod spec's
rules and the Pod Security verdicts give, remembered, exactly what computing them gives."""

from __future__ import annotations

import copy
import random

from controlplane.api.admission import checks
from controlplane.machinery.memo import Memo
from controlplane.resources.kinds import podspec

from .test_schema_compiled import SEEDS, _mutations

APPARMOR = "container.apparmor.security.beta.kubernetes.io/web"


def test_a_memo_computes_each_key_once_and_empties_itself_when_full():
    calls: list[str] = []
    memo: Memo[str, str] = Memo(3)

    def answer(key: str):
        return memo.get(key, lambda: calls.append(key) or key.upper())

    assert [answer(k) for k in ("a", "b", "a", "c", "b")] == ["A", "B", "A", "C", "B"]
    assert calls == ["a", "b", "c"] and len(memo) == 3
    assert answer("d") == "D" and len(memo) == 1  # full: emptied, then "d" remembered
    assert answer("a") == "A" and calls == ["a", "b", "c", "d", "a"]


def _spec(obj: dict) -> dict | None:
    steps = {"Pod": ("spec",), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}.get(
        obj.get("kind", ""), ("spec", "template", "spec"))
    node: object = obj
    for step in steps:
        node = node.get(step) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _templates() -> list[dict]:
    """The pod specs of every Pod and workload written in the tests and manifests (the schema
    test's corpus), and a sample of single-point changes of each (wrong types, nulls, unknown
    fields, missing fields: many break a rule)."""
    rng = random.Random(7)
    specs = []
    for seed in SEEDS:
        spec = _spec(seed)
        if spec is None or not spec.get("containers"):
            continue
        specs.append(spec)
        changes = list(_mutations(spec))
        specs += [changed for _, changed in rng.sample(changes, min(25, len(changes)))]
    assert len(specs) > 500, "the corpus should hold pod specs"
    return specs


def test_pod_spec_rules_remembered_are_the_rules_computed_at_each_path():
    specs, with_problems = _templates(), 0
    for spec in specs + specs:  # the second pass is remembered (unless emptied meanwhile)
        for path in ("spec", "spec.template.spec"):
            expected = podspec._pod_spec(copy.deepcopy(spec), path)
            got = podspec.pod_spec(spec, path)
            assert got == expected, (path, spec)
            with_problems += bool(got)
            if got:  # a caller may change what it got: what is remembered stays as it was
                got[0]["field"] = "changed"
                assert podspec.pod_spec(spec, path) == expected
    assert with_problems > 100


def test_pod_security_verdicts_remembered_follow_level_annotations_and_spec():
    failed = 0
    for spec in _templates():
        for annotations in ({}, {APPARMOR: "runtime/default"}, {APPARMOR: "unconfined"}):
            md = {"name": "p", "annotations": annotations}
            for level in ("privileged", "baseline", "restricted", "baseline"):
                try:
                    expected = checks._violations(level, md, spec)
                except (AttributeError, TypeError):
                    continue  # mistyped: admission sees only objects that passed validation
                got = checks.violations(level, md, spec)
                assert got == expected, (level, annotations, spec)
                failed += bool(got)
    assert failed > 100
    md = {"annotations": {APPARMOR: "unconfined"}}
    spec = {"containers": [{"name": "web", "image": "nginx"}]}
    assert checks.violations("baseline", {}, spec) == []
    assert [r for r, _ in checks.violations("baseline", md, spec)] == ["forbidden AppArmor profile"]
