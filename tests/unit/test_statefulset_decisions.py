"""The StatefulSet controller's pure parts: ordinals and identities, the pods it makes, status,
history truncation, claim ownership by retention policy; and ControllerRevision data as
Kubernetes encodes it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from controlplane.controllers.statefulset import (counts, final_status, history_to_delete, identity_matches,
                                                  max_unavailable, new_pod, parent_and_ordinal, storage_matches)
from controlplane.controllers.volumeclaims import new_claim, owners_up_to_date, wanted_owners
from controlplane.machinery import history, jsonio

NOW = dt.datetime(2026, 11, 26, 22, 0, 0, tzinfo=dt.timezone.utc)
CLAIM = {"metadata": {"name": "www", "labels": {"tier": "disk"}},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
         "status": {"phase": "Pending"}}


def sts(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid", "generation": 2},
            "spec": {"replicas": replicas, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}],
                                           "volumes": [{"name": "www", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]}},
                     **spec}}


def pod(name: str, revision: str = "web-1", phase: str = "Running", ready: bool = True,
        deleting: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                          "labels": {history.REVISION_HASH: revision}}
    if deleting:
        md["deletionTimestamp"] = "2026-11-26T21:00:00Z"
    return {"metadata": md, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2026-11-26T20:00:00Z"}]}}


@pytest.mark.parametrize("name, want", [("web-0", ("web", 0)), ("my-web-12", ("my-web", 12)),
                                        ("web", ("", -1)), ("web-x", ("", -1)), ("web-99999999999", ("", -1))])
def test_parent_and_ordinal(name: str, want: tuple[str, int]) -> None:
    assert parent_and_ordinal({"metadata": {"name": name}}) == want


def test_new_pod_identity_storage_and_revision() -> None:
    s = sts(volumeClaimTemplates=[CLAIM])
    p = new_pod(s, s["spec"]["template"], 4, "web-5d8f")
    md, spec = p["metadata"], p["spec"]
    assert md["name"] == "web-4" and md["namespace"] == "ns"
    assert md["labels"] == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-4",
                            "apps.kubernetes.io/pod-index": "4", history.REVISION_HASH: "web-5d8f"}
    assert md["annotations"] == {"a": "b"} and md["ownerReferences"][0]["uid"] == "sts-uid"
    assert (spec["hostname"], spec["subdomain"]) == ("web-4", "web")
    # The claim's volume replaces the template's volume of the same name.
    assert spec["volumes"] == [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-4"}},
                               {"name": "tmp", "emptyDir": {}}]
    assert identity_matches(s, p) and storage_matches(s, p)
    p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = "other"
    assert not identity_matches(s, p)
    assert not storage_matches(s, {"metadata": {"name": "web-4"}, "spec": {}})


def test_counts_and_completed_rolling_update() -> None:
    pods = [pod("web-0", "new"), pod("web-1", "old"), pod("web-2", "new", ready=False),
            pod("web-3", "new", deleting=True), {"metadata": {"name": "web-4", "labels": {}}, "status": {}}]
    tally = counts(pods, 0, "old", "new", NOW)
    assert tally == {"replicas": 4, "readyReplicas": 3, "availableReplicas": 3, "currentReplicas": 1,
                     "updatedReplicas": 2}
    base = {"observedGeneration": 2, "currentRevision": "old", "updateRevision": "new", "collisionCount": 0}
    st = final_status(sts(3), base, counts([pod("web-0", "new"), pod("web-1", "new"), pod("web-2", "new")], 0,
                                           "old", "new", NOW))
    assert (st["currentRevision"], st["currentReplicas"], st["updatedReplicas"]) == ("new", 3, 3)
    st = final_status(sts(3), base, counts([pod("web-0", "new"), pod("web-1", "old", ready=False)], 0, "old", "new",
                                           NOW))
    assert st["currentRevision"] == "old" and st["replicas"] == 2 and st["availableReplicas"] == 1


def test_max_unavailable_is_at_least_one() -> None:
    def with_mu(value: Any) -> dict:
        return sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": value}})
    assert max_unavailable(with_mu(2), 5) == 2
    assert max_unavailable(with_mu("50%"), 5) == 2  # rounded down
    assert max_unavailable(with_mu("10%"), 5) == 1  # but never 0
    assert max_unavailable(sts(), 5) == 1


def test_history_keeps_live_revisions_and_the_newest_beyond_the_limit() -> None:
    revs = [{"metadata": {"name": f"r{i}"}, "revision": i} for i in range(1, 7)]
    doomed = history_to_delete(revs, {"r6", "r2"}, 2)  # idle: r1 r3 r4 r5, keep 2 newest of them
    assert [r["metadata"]["name"] for r in doomed] == ["r1", "r3"]
    assert history_to_delete(revs, set(), 10) == []


# -- claims ----------------------------------------------------------------------------------

def test_new_claim() -> None:
    c = new_claim(sts(), CLAIM, 2)
    assert c["metadata"] == {"name": "www-web-2", "namespace": "ns", "labels": {"tier": "disk", "app": "web"}}
    assert (c["apiVersion"], c["kind"], "status" in c) == ("v1", "PersistentVolumeClaim", False)


@pytest.mark.parametrize("when_deleted, when_scaled, in_range, owners", [
    ("Retain", "Retain", True, []), ("Retain", "Retain", False, []),
    ("Delete", "Retain", True, ["sts-uid"]), ("Delete", "Retain", False, ["sts-uid"]),
    ("Retain", "Delete", True, []), ("Retain", "Delete", False, ["uid-web-5"]),
    ("Delete", "Delete", True, ["sts-uid"]), ("Delete", "Delete", False, ["uid-web-5"]),
])
def test_claim_owners_follow_the_retention_policy(when_deleted: str, when_scaled: str, in_range: bool,
                                                  owners: list[str]) -> None:
    s = sts(persistentVolumeClaimRetentionPolicy={"whenDeleted": when_deleted, "whenScaled": when_scaled})
    claim = new_claim(s, CLAIM, 5)
    claim["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Thing", "name": "t", "uid": "other"}]
    wanted = wanted_owners(claim, s, pod("web-5"), in_range)
    assert wanted is not None and [r["uid"] for r in wanted] == ["other", *owners]
    assert all(r["controller"] for r in wanted[1:])
    claim["metadata"]["ownerReferences"] = wanted
    assert owners_up_to_date(claim, s, pod("web-5"), in_range)


def test_claims_of_another_controller_or_an_earlier_pod_are_left_alone() -> None:
    s = sts(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Delete"})
    claim = new_claim(s, CLAIM, 5)
    claim["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "web-5", "uid": "older"}]
    assert wanted_owners(claim, s, pod("web-5"), False) is None  # stale: the GC takes it
    claim["metadata"]["ownerReferences"] = [{"apiVersion": "x/v1", "kind": "Other", "name": "o", "uid": "o",
                                             "controller": True}]
    assert [r["uid"] for r in wanted_owners(claim, s, pod("web-5"), True) or []] == ["o"]


# -- revision data ---------------------------------------------------------------------------

def test_revision_data_is_encoded_as_kubernetes_does() -> None:
    """Byte for byte the data of kube's statefulset compatibility fixture (1.34), so kubectl,
    which compares its own encoding with these bytes, finds the revision a set runs."""
    template = {"metadata": {"labels": {"app": "foo"}, "annotations": {"test": "value"}},
                "spec": {"terminationGracePeriodSeconds": 30, "restartPolicy": "Always",
                         "containers": [{"name": "test", "image": "test", "imagePullPolicy": "Always",
                                         "terminationMessagePolicy": "File", "resources": {},
                                         "terminationMessagePath": "/dev/termination-log"}],
                         "dnsPolicy": "ClusterFirst", "securityContext": {}, "schedulerName": "default-scheduler"}}
    fixture = ('{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"labels":'
               '{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test",'
               '"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],'
               '"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",'
               '"securityContext":{},"terminationGracePeriodSeconds":30}}}}')
    data = history.revision_data(template)
    assert jsonio.dumps(data).decode() == fixture
    rev = {"data": data}
    assert history.template_of(rev) == template and history.matches(template, rev)
    # Revisions written before 1.34 carry creationTimestamp: null; they still match.
    old = json.loads(fixture)
    old["spec"]["template"]["metadata"]["creationTimestamp"] = None
    assert history.matches(template, {"data": old})
    assert not history.matches({**template, "metadata": {"labels": {"app": "bar"}}}, rev)


def test_rollback_target() -> None:
    revs = [{"metadata": {"name": n}, "revision": r} for n, r in (("a", 1), ("c", 3), ("b", 2))]
    assert history.rollback_target(revs)["metadata"]["name"] == "b"
    assert history.rollback_target(revs, 1)["metadata"]["name"] == "a"
    for bad, message in (([revs[0]], "no last revision to roll back to"),
                         (revs, "unable to find specified revision 7 in history")):
        with pytest.raises(history.RollbackError, match=message):
            history.rollback_target(bad, 7 if len(bad) > 1 else 0)
