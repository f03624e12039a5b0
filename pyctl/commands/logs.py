"""`pyctl logs`: print a container's log, proxied by the API server from the pod's node agent.

The requests are kubectl's: GET the pod (or the workload, then its pods, picking one as
kubectl does), then GET `.../pods/NAME/log?container=...` and copy the text/plain body
to stdout as it arrives (`-f` keeps it open until the container ends or Ctrl-C).
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
from typing import Any

from ..errors import ApiError, CommandError, UsageError
from ..humanize import format_selector
from ..session import Session
from . import Command, duration, register
from ._targets import Target, fetch, from_arguments, list_objects

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"

EXAMPLES = """\
# The log of pod web (its only container, or the one named by its default-container annotation)
pyctl logs web

# Follow the last 10 lines of container app, with timestamps
pyctl logs -f --tail 10 --timestamps web -c app

# The last hour of the previous run (after a restart)
pyctl logs --previous --since 1h web

# One pod of a deployment
pyctl logs deployment/myapp
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="POD | TYPE/NAME")
    p.add_argument("container_arg", nargs="?", metavar="CONTAINER", help=argparse.SUPPRESS)
    p.add_argument("-c", "--container", default="", help="the container to print (default: the only one, "
                                                         "or the pod's default-container annotation)")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming the log")
    p.add_argument("--tail", type=int, default=-1, metavar="N",
                   help="only the last N lines (default -1: all)")
    p.add_argument("--since", type=duration, default=None, metavar="DURATION",
                   help="only lines newer than this, e.g. 10s, 5m, 1h")
    p.add_argument("--since-time", default="", metavar="RFC3339",
                   help="only lines at or after this time, e.g. 2026-11-27T12:00:00Z")
    p.add_argument("--timestamps", action="store_true", help="prefix each line with its RFC 3339 timestamp")
    p.add_argument("-p", "--previous", action="store_true", help="the previous run of the container")
    p.add_argument("--limit-bytes", type=int, default=0, metavar="N", help="stop after N bytes")


def _pod_of(s: Session, target: Target) -> dict[str, Any]:
    """The pod itself, or the pod kubectl would pick among a workload's pods."""
    obj = fetch(s, target)
    if target.resource.kind == "Pod":
        return obj
    selector = (obj.get("spec") or {}).get("selector")
    if isinstance(selector, dict) and "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}  # Service, ReplicationController: a plain map
    text = format_selector(selector, empty="")
    if not text:
        raise CommandError(f"cannot get the logs of {target.ref}: it selects no pods")
    pods_res = s.discovery.resolve("pods")[0]
    pods, _ = list_objects(s, Target(pods_res, target.namespace), {"labelSelector": text})
    if not pods:
        raise CommandError(f"timed out waiting for the condition: no pods match {text}")
    pods.sort(key=_logging_order)
    if len(pods) > 1:
        s.error(f"Found {len(pods)} pods, using pod/{pods[0]['metadata']['name']}")
    return pods[0]


def _logging_order(pod: dict[str, Any]) -> tuple:
    """kubectl's podutils.ByLogging: scheduled, running, ready, fewer restarts, then oldest first."""
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return (not (pod.get("spec") or {}).get("nodeName"), status.get("phase") != "Running", not ready,
            restarts, (pod.get("metadata") or {}).get("creationTimestamp", ""))


def _container(s: Session, pod: dict[str, Any], asked: str) -> str:
    if asked:
        return asked
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER, "")
    if default in names:
        return default
    if len(names) > 1:
        s.error(f'Defaulted container "{names[0]}" out of: {", ".join(names)}')
    return names[0] if names else ""


def _query(a: argparse.Namespace, container: str) -> dict[str, Any]:
    query: dict[str, Any] = {"container": container}
    if a.follow:
        query["follow"] = "true"
    if a.tail >= 0:
        query["tailLines"] = a.tail
    if a.since is not None and a.since_time:
        raise UsageError("at most one of --since-time or --since may be specified", "logs")
    if a.since is not None:
        query["sinceSeconds"] = max(1, int(a.since + 0.999))
    if a.since_time:
        try:
            dt.datetime.fromisoformat(a.since_time.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since-time must be RFC 3339, e.g. 2026-11-27T12:00:00Z: {a.since_time!r}",
                             "logs") from None
        query["sinceTime"] = a.since_time
    if a.timestamps:
        query["timestamps"] = "true"
    if a.previous:
        query["previous"] = "true"
    if a.limit_bytes > 0:
        query["limitBytes"] = a.limit_bytes
    return query


def _copy(s: Session, path: str, query: dict[str, Any]) -> None:
    """Stream the text/plain body to stdout as it arrives (not a JSON watch: ApiClient.stream
    decodes lines as JSON, so this reads the raw response)."""
    client = s.client
    conn = client._new_connection(None)  # a followed log may stay quiet for minutes
    try:
        try:
            conn.request("GET", client.url(path, query), headers=client._headers("application/json, */*", None))
            raw = conn.getresponse()
        except OSError as exc:
            raise client._unreachable(exc) from None
        if raw.status >= 400:
            raise ApiError.from_response(raw.status, raw.read())
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                data = raw.read1(64 * 1024)
            except OSError:
                data = b""
            if not data:
                break
            s.write(decoder.decode(data))
        s.write(decoder.decode(b"", final=True))
    finally:
        conn.close()


def run(s: Session, a: argparse.Namespace) -> int:
    if a.container and a.container_arg:
        raise UsageError("only one of -c or an inline [CONTAINER] arg is allowed", "logs")
    word = a.target if "/" in a.target else f"pods/{a.target}"
    targets = from_arguments(s, [word], "logs")
    if not targets:
        raise UsageError("expected POD or TYPE/NAME", "logs")
    pod = _pod_of(s, targets[0])
    md = pod["metadata"]
    container = _container(s, pod, a.container or a.container_arg or "")
    path = s.discovery.resolve("pods")[0].path(md.get("namespace"), md["name"], "log")
    try:
        _copy(s, path, _query(a, container))
    except KeyboardInterrupt:
        return 130
    return 0


register(Command("logs", "Print the logs for a container in a pod", configure, run, EXAMPLES,
                 group="Troubleshooting and Debugging Commands",
                 description="Print the logs for a container in a pod or specified resource. If the "
                             "pod has only one container, the container name is optional.",
                 usage="pyctl logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]"))
