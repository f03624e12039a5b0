"""`pyctl rollout status|history|undo|restart|pause|resume`, as kubectl does them.

Deployments, DaemonSets and StatefulSets (pause and resume: Deployments only). `status` reads
exactly what kubectl's status viewer of the kind reads and follows a watch until done, an
error, or --timeout. `history` and `undo` are client-side: a Deployment's revisions are its
ReplicaSets, whose template `undo` patches into it (controlplane/machinery/rollout.py); a
DaemonSet's or StatefulSet's are its ControllerRevisions, whose data `undo` sends as a
strategic merge patch (controlplane/machinery/history.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

from controlplane.machinery import history
from controlplane.machinery import rollout as rollback

from .. import humanize
from ..describe.containers import pod_template
from ..errors import ApiError, CommandError, PyctlError, UsageError
from ..session import Session
from ..tabwriter import align
from . import Command, add_subcommand, duration, register
from ._targets import Target, add_filename_flags, from_arguments, from_manifests, typed
from controlplane.machinery.meta import LAST_APPLIED

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
VERBS = ("status", "history", "undo", "restart", "pause", "resume")

EXAMPLES = """\
# Watch the rollout of a deployment until it is done
pyctl rollout status deployment/myapp

# Roll back to the previous revision, or to revision 3
pyctl rollout undo deployment/myapp
pyctl rollout undo deployment/myapp --to-revision=3

# See the revisions, and the template of one of them
pyctl rollout history deployment/myapp --revision=2

# Restart every pod of a deployment (a rolling update with the same template)
pyctl rollout restart deployment/myapp

# DaemonSets and StatefulSets too
pyctl rollout status ds/node-agent
pyctl rollout undo sts/db --to-revision=2
"""


class _RawWriter:
    """The describe Writer's interface without column alignment: kubectl prints a
    revision's template with its tabs as they are."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, level: int, text: str) -> None:
        self._parts.append("  " * level + text)

    def line(self, text: str = "") -> None:
        self._parts.append(text + "\n")

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "".join(self._parts)


def _bool_or_word(text: str) -> bool | str:
    """`--watch=false` is a bool; in `--watch deployment/x` argparse hands us the next word,
    which `run` puts back among the targets (a Go bool flag never takes a separate value)."""
    value = text.strip().lower()
    if value in ("true", "1", "t"):
        return True
    if value in ("false", "0", "f"):
        return False
    return text


def _targets_flags(p: argparse.ArgumentParser, purpose: str) -> None:
    p.add_argument("words", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    add_filename_flags(p, purpose)


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="rollout_verb", metavar="SUBCOMMAND", prog=p.prog)
    st = add_subcommand(sub, "status", summary="Show the status of the rollout",
                        examples_text="pyctl rollout status deployment/myapp")
    _targets_flags(st, "identifying the resource to get the status of")
    st.add_argument("-w", "--watch", type=_bool_or_word, nargs="?", const=True, default=True,
                    help="watch until the rollout is done (default true; --watch=false: look once)")
    st.add_argument("--timeout", type=duration, default=0.0, metavar="DURATION",
                    help="how long to wait before giving up; 0 waits forever")
    st.add_argument("--revision", type=int, default=0, help="pin to a revision (0: the latest)")
    hist = add_subcommand(sub, "history", summary="View rollout history",
                          examples_text="pyctl rollout history deployment/myapp --revision=2")
    _targets_flags(hist, "identifying the resource to get the history of")
    hist.add_argument("--revision", type=int, default=0, help="show the pod template of this revision")
    undo = add_subcommand(sub, "undo", summary="Undo a previous rollout",
                          examples_text="pyctl rollout undo deployment/myapp --to-revision=3")
    _targets_flags(undo, "identifying the resource to roll back")
    undo.add_argument("--to-revision", type=int, default=0, help="the revision to go back to (0: the previous)")
    for verb, summary in (("restart", "Restart a resource"), ("pause", "Mark the provided resource as paused"),
                          ("resume", "Resume a paused resource")):
        _targets_flags(add_subcommand(sub, verb, summary=summary,
                                      examples_text=f"pyctl rollout {verb} deployment/myapp"),
                       f"identifying the resource to {verb}")


def _targets(s: Session, a: argparse.Namespace, verb: str) -> list[Target]:
    if a.filename:
        return from_manifests(s, a, f"rollout {verb}")
    targets = from_arguments(s, a.words, f"rollout {verb}")
    if not targets:
        raise UsageError("required resource not specified", f"rollout {verb}")
    for t in targets:
        if t.name is None:
            raise CommandError("resource(s) were provided, but no name was specified")
    return targets


ROLLED = ("Deployment", "DaemonSet", "StatefulSet")


def _kind(t: Target) -> str:
    """Deployment, DaemonSet or StatefulSet (apps/v1); "" for anything else."""
    return t.resource.kind if t.resource.group == "apps" and t.resource.kind in ROLLED else ""


def _is_deployment(t: Target) -> bool:
    return _kind(t) == "Deployment"


def _get(s: Session, t: Target) -> dict[str, Any]:
    return typed(s.client.get(t.resource.path(t.namespace, t.name)), t.resource)


# -- status --------------------------------------------------------------------------------------

def status_message(d: dict[str, Any], revision: int = 0) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: (message, done); a PyctlError when it failed."""
    name = d["metadata"]["name"]
    if revision > 0:
        current = rollback.revision(d)
        if current != revision:
            raise CommandError(f"desired revision ({revision}) is different from the running revision ({current})")
    st = d.get("status") or {}
    if int(d["metadata"].get("generation") or 0) > int(st.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False
    cond = rollback.get_condition(st, "Progressing")
    if cond is not None and cond.get("reason") == rollback.TIMED_OUT:
        raise CommandError(f'deployment "{name}" exceeded its progress deadline')
    want = (d.get("spec") or {}).get("replicas")
    updated, replicas = int(st.get("updatedReplicas") or 0), int(st.get("replicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    prefix = f'Waiting for deployment "{name}" rollout to finish: '
    if want is not None and updated < want:
        return f"{prefix}{updated} out of {want} new replicas have been updated...", False
    if replicas > updated:
        return f"{prefix}{replicas - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{prefix}{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', True


def _rolling_only(obj: dict[str, Any]) -> None:
    if ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type") != "RollingUpdate":
        raise CommandError("rollout status is only available for RollingUpdate strategy type")


def daemonset_status(ds: dict[str, Any]) -> tuple[str, bool]:
    """kubectl's DaemonSetStatusViewer: (message, done); a PyctlError when it cannot tell."""
    _rolling_only(ds)
    name, st = ds["metadata"]["name"], ds.get("status") or {}
    if int(ds["metadata"].get("generation") or 0) > int(st.get("observedGeneration") or 0):
        return "Waiting for daemon set spec update to be observed...", False
    desired, updated = int(st.get("desiredNumberScheduled") or 0), int(st.get("updatedNumberScheduled") or 0)
    available = int(st.get("numberAvailable") or 0)
    prefix = f'Waiting for daemon set "{name}" rollout to finish: '
    if updated < desired:
        return f"{prefix}{updated} out of {desired} new pods have been updated...", False
    if available < desired:
        return f"{prefix}{available} of {desired} updated pods are available...", False
    return f'daemon set "{name}" successfully rolled out', True


def statefulset_status(sts: dict[str, Any]) -> tuple[str, bool]:
    """kubectl's StatefulSetStatusViewer: (message, done); a PyctlError when it cannot tell."""
    _rolling_only(sts)
    spec, st = sts.get("spec") or {}, sts.get("status") or {}
    observed = int(st.get("observedGeneration") or 0)
    if not observed or int(sts["metadata"].get("generation") or 0) > observed:
        return "Waiting for statefulset spec update to be observed...", False
    want = spec.get("replicas")
    ready, updated = int(st.get("readyReplicas") or 0), int(st.get("updatedReplicas") or 0)
    if want is not None and ready < want:
        return f"Waiting for {want - ready} pods to be ready...", False
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate")
    if isinstance(rolling, dict):
        part = rolling.get("partition")
        if want is not None and part is not None and updated < want - part:
            return (f"Waiting for partitioned roll out to finish: {updated} out of {want - part} new pods have "
                    "been updated..."), False
        return f"partitioned roll out complete: {updated} new pods have been updated...", True
    if st.get("updateRevision") != st.get("currentRevision"):
        return (f"waiting for statefulset rolling update to complete {updated} pods at revision "
                f"{st.get('updateRevision', '')}..."), False
    return (f"statefulset rolling update complete {int(st.get('currentReplicas') or 0)} pods at revision "
            f"{st.get('currentRevision', '')}..."), True


def _status(s: Session, a: argparse.Namespace, t: Target) -> int:
    d = _get(s, t)
    kind = _kind(t)
    if not kind:
        raise CommandError(f"no status viewer has been implemented for {t.resource.kind}.{t.resource.group}")
    viewer = {"Deployment": lambda obj: status_message(obj, a.revision), "DaemonSet": daemonset_status,
              "StatefulSet": statefulset_status}[kind]
    last = ""

    def show(obj: dict[str, Any]) -> bool:
        nonlocal last
        message, done = viewer(obj)
        if message != last:
            s.print(message)
            last = message
        return done

    if show(d) or not a.watch:
        return 0
    deadline = time.monotonic() + a.timeout if a.timeout > 0 else None
    rv = d["metadata"].get("resourceVersion", "")
    while True:
        query: dict[str, Any] = {"watch": "1", "fieldSelector": f"metadata.name={t.name}", "resourceVersion": rv}
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandError("timed out waiting for the condition")
            query["timeoutSeconds"] = max(1, int(left + 0.999))
        for ev in s.client.stream(t.resource.path(t.namespace), query):
            obj = ev.get("object") or {}
            if ev.get("type") == "ERROR":
                rv = ""  # expired: start again from the current state
                break
            rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
            if ev.get("type") == "BOOKMARK":
                continue
            if ev.get("type") == "DELETED":
                raise CommandError(f'{kind.lower()} "{t.name}" was deleted')
            if show(obj):
                return 0
        if not rv:
            d = _get(s, t)
            rv = d["metadata"].get("resourceVersion", "")
            if show(d):
                return 0


# -- history and undo --------------------------------------------------------------------------

def _replicasets(s: Session, t: Target, d: dict[str, Any]) -> list[dict[str, Any]]:
    rs_path = f"/apis/apps/v1/namespaces/{t.namespace}/replicasets"
    items = s.client.get(rs_path).get("items") or []
    return rollback.owned_by(d, items)


def _revisions(s: Session, t: Target, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The ControllerRevisions a DaemonSet or StatefulSet controls, oldest first."""
    selector = humanize.format_selector((obj.get("spec") or {}).get("selector"), "")
    path = f"/apis/apps/v1/namespaces/{t.namespace}/controllerrevisions"
    items = s.client.get(path, {"labelSelector": selector} if selector else None).get("items") or []
    return history.by_number(history.owned_by(obj, items))


def _template_text(template: dict[str, Any] | None) -> str:
    w = _RawWriter()
    pod_template(w, template)  # type: ignore[arg-type]
    return w.text()


def _show_history(s: Session, a: argparse.Namespace, t: Target,
                  revisions: list[tuple[int, str, dict[str, Any] | None]], none_found: str) -> None:
    """kubectl's history viewers: (revision, change cause, pod template), oldest first."""
    if a.revision > 0:
        found = next((tpl for rev, _, tpl in revisions if rev == a.revision), None)
        if found is None:
            raise CommandError("unable to find the specified revision")
        s.write(f"{t.ref} with revision #{a.revision}\n{_template_text(found)}\n")
        return
    if not revisions:
        s.write(none_found)
        return
    rows = "REVISION\tCHANGE-CAUSE\n" + "".join(f"{rev}\t{cause or '<none>'}\n" for rev, cause, _ in revisions)
    s.write(f"{t.ref} \n{align(rows, padding=2)}\n")


def _history(s: Session, a: argparse.Namespace, t: Target) -> None:
    d = _get(s, t)
    if not _kind(t):
        raise CommandError(f"no history viewer has been implemented for {t.resource.kind}.{t.resource.group}")
    if _is_deployment(t):
        _show_history(s, a, t, [(rev, rollback.change_cause(rs), rs["spec"].get("template"))
                                for rev, rs in rollback.history(_replicasets(s, t, d))],
                      f"No rollout history found in {t.ref}\n")
        return
    _show_history(s, a, t, [(history.number(r), history.change_cause(r), history.template_of(r))
                            for r in _revisions(s, t, d)], f"{t.ref} \nNo rollout history found.\n")


def _undo_revision(s: Session, a: argparse.Namespace, t: Target, obj: dict[str, Any]) -> str:
    """kubectl's DaemonSetRollbacker and StatefulSetRollbacker."""
    try:
        target = history.rollback_target(_revisions(s, t, obj), a.to_revision)
    except history.RollbackError as exc:
        raise CommandError(str(exc)) from None
    if history.matches((obj.get("spec") or {}).get("template"), target):
        return f"skipped rollback (current template already matches revision {a.to_revision})"
    s.client.request("PATCH", t.resource.path(t.namespace, t.name), body=target.get("data"),
                     content_type=STRATEGIC)
    return "rolled back"


def _undo(s: Session, a: argparse.Namespace, t: Target) -> str:
    d = _get(s, t)
    if not _kind(t):
        raise CommandError(f"no rollbacker has been implemented for {t.resource.kind}.{t.resource.group}")
    if LAST_APPLIED in (d["metadata"].get("annotations") or {}):
        s.warn(f"resource {t.resource.name}/{t.name} was previously managed with 'pyctl apply'. Rolling back "
               f"will not update the {LAST_APPLIED} annotation, which may cause unexpected behavior on "
               "future 'pyctl apply' operations. Consider using 'pyctl apply' with your previous "
               "configuration file instead.")
    if not _is_deployment(t):
        return _undo_revision(s, a, t, d)
    if (d.get("spec") or {}).get("paused"):
        raise CommandError("you cannot rollback a paused deployment; resume it first with 'kubectl rollout "
                           "resume' and try again")
    try:
        rev, rs = rollback.rollback_target(t.name or "", _replicasets(s, t, d), a.to_revision)
    except rollback.RollbackError as exc:
        raise CommandError(str(exc)) from None
    if rollback.equal_ignore_hash(rs["spec"].get("template"), d["spec"].get("template")):
        return f"skipped rollback (current template already matches revision {rev})"
    patch = rollback.rollback_patch(d, rs)
    s.client.request("PATCH", t.resource.path(t.namespace, t.name), body=patch, content_type=JSON_PATCH)
    return "rolled back"


# -- restart, pause, resume ----------------------------------------------------------------------

def _restart(s: Session, t: Target) -> str:
    d = _get(s, t)
    if not _kind(t):
        raise CommandError("restarting is not supported")
    if (d.get("spec") or {}).get("paused"):
        raise CommandError(f'{t.resource.group_resource} "{t.name}" can\'t restart paused deployment '
                           "(run rollout resume first)")
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds").replace("+00:00", "Z")  # Go's RFC3339
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}}
    s.client.request("PATCH", t.resource.path(t.namespace, t.name), body=patch, content_type=STRATEGIC)
    return "restarted"


def _pause(s: Session, t: Target, paused: bool) -> str:
    word = "paused" if paused else "resumed"
    d = _get(s, t)
    if not _is_deployment(t):
        raise CommandError(f"{'pausing' if paused else 'resuming'} is not supported")
    if bool((d.get("spec") or {}).get("paused")) == paused:
        state = "already paused" if paused else "not paused"
        raise CommandError(f'{t.resource.group_resource} "{t.name}" is {state}')
    patch = {"spec": {"paused": True if paused else None}}
    s.client.request("PATCH", t.resource.path(t.namespace, t.name), body=patch, content_type=MERGE)
    return word


def run(s: Session, a: argparse.Namespace) -> int:
    verb = a.rollout_verb
    if verb is None:
        raise UsageError(f"a sub-command is required: {', '.join(VERBS)}", "rollout")
    if isinstance(getattr(a, "watch", None), str):
        a.words, a.watch = [a.watch, *a.words], True
    errors: list[PyctlError] = []
    code = 0
    for t in _targets(s, a, verb):
        try:
            if verb == "status":
                code = max(code, _status(s, a, t))
            elif verb == "history":
                _history(s, a, t)
            else:
                done = (_undo(s, a, t) if verb == "undo" else _restart(s, t) if verb == "restart"
                        else _pause(s, t, verb == "pause"))
                s.print(f"{t.ref} {done}")
        except ApiError as exc:
            errors.append(exc)
        except CommandError as exc:
            errors.append(exc)
    for problem in errors:
        s.error(problem.render())
    return 1 if errors else code


register(Command("rollout", "Manage the rollout of a resource", configure, run, EXAMPLES,
                 group="Deploy Commands",
                 description="Manage the rollout of deployments, daemon sets and stateful sets: watch it, see "
                             "its history, undo it, restart it; pause and resume a deployment's.",
                 usage="pyctl rollout SUBCOMMAND (TYPE NAME | TYPE/NAME | -f FILENAME) [flags]"))
