"""What `kubectl get` shows: the Table the server prints, cell by cell."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from controlplane.resources import registry
from controlplane.resources.tables import GENERIC, Printer, age, human_duration, table as render

NOW = dt.datetime(2026, 11, 26, 22, 0, 0, tzinfo=dt.timezone.utc)


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def printer(resource: str) -> Printer:
    """The columns the server serves for a plural name (Name and Age for kinds it does not know)."""
    info = registry.lookup("", "v1", resource) or registry.by_resource_name(resource)
    return registry.kind_of(info).printer if info is not None else GENERIC


def table(resource: str, objects: list, **kwargs) -> dict:
    return render(printer(resource), objects, **kwargs)


def row(resource: str, obj: dict) -> dict:
    return table(resource, [obj], now=NOW)["rows"][0]


def cells(resource: str, obj: dict) -> dict:
    """Cells keyed by column name, as -o wide would show them."""
    return dict(zip((c.name for c in printer(resource).columns), row(resource, obj)["cells"]))


# --- objects ----------------------------------------------------------------------------------

def running(ready=True, restarts=0, last_exit_ago=None, name="web"):
    status = {"name": name, "ready": ready, "restartCount": restarts, "started": True,
              "state": {"running": {"startedAt": ago(60)}}}
    if last_exit_ago is not None:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(last_exit_ago)}}
    return status


def waiting(reason, restarts=0, last_exit_ago=None, name="web"):
    status = {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}
    if last_exit_ago is not None:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(last_exit_ago)}}
    return status


def terminated(name="web", **state):
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": state}}


def make_pod(*statuses, phase="Running", containers=("web",), init=(), init_statuses=(), conditions=(),
             node="node-1", ip="10.244.1.5", created=300, **extra_status):
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d9f8-abcde", "namespace": "default", "uid": "0d3f", "resourceVersion": "42",
                     "creationTimestamp": ago(created), "labels": {"app": "web"}},
        "spec": {"containers": [{"name": c, "image": f"registry.local/{c}:1"} for c in containers],
                 "initContainers": list(init), "nodeName": node},
        "status": {"phase": phase, "conditions": list(conditions), "containerStatuses": list(statuses),
                   "initContainerStatuses": list(init_statuses), **extra_status},
    }
    if ip:
        pod["status"].update(podIP=ip, podIPs=[{"ip": ip}])
    return pod


READY = {"type": "Ready", "status": "True"}
INITIALIZED = {"type": "Initialized", "status": "True"}


# --- the Table envelope ------------------------------------------------------------------------

def test_table_envelope_and_partial_object_metadata_rows():
    pod = make_pod(running())
    out = table("pods", [pod], now=NOW, resource_version="123")
    assert out["kind"] == "Table" and out["apiVersion"] == "meta.k8s.io/v1"
    assert out["metadata"] == {"resourceVersion": "123"}
    # -A, --show-labels and -L read namespace and labels from the row object.
    assert out["rows"][0]["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                        "metadata": pod["metadata"]}
    assert set(out["columnDefinitions"][0]) == {"name", "type", "format", "description", "priority"}
    assert out["columnDefinitions"][0]["format"] == "name"


def test_include_object_modes():
    pod = make_pod(running())
    assert table("pods", [pod], now=NOW, include_object="Object")["rows"][0]["object"] is pod
    assert "object" not in table("pods", [pod], now=NOW, include_object="None")["rows"][0]
    assert table("pods", [pod], now=NOW, include_object="")["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    with pytest.raises(ValueError, match="includeObject"):
        table("pods", [pod], now=NOW, include_object="Everything")


def test_watch_events_after_the_first_may_omit_the_header():
    out = table("pods", [make_pod(running())], now=NOW, with_header=False)
    assert out["columnDefinitions"] == [] and len(out["rows"][0]["cells"]) == 9
    assert out["metadata"] == {}


def test_v1beta1_tables_label_rows_with_the_same_version():
    out = table("pods", [make_pod(running())], now=NOW, api_version="meta.k8s.io/v1beta1")
    assert out["apiVersion"] == out["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


@pytest.mark.parametrize("resource, columns", [
    ("pods", [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1),
              ("Nominated Node", 1), ("Readiness Gates", 1)]),
    ("deployments", [("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0),
                     ("Containers", 1), ("Images", 1), ("Selector", 1)]),
    ("replicasets", [("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Age", 0), ("Containers", 1),
                     ("Images", 1), ("Selector", 1)]),
    ("services", [("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("External-IP", 0), ("Port(s)", 0), ("Age", 0),
                  ("Selector", 1)]),
    ("endpoints", [("Name", 0), ("Endpoints", 0), ("Age", 0)]),
    ("nodes", [("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0), ("Internal-IP", 1),
               ("External-IP", 1), ("OS-Image", 1), ("Kernel-Version", 1), ("Container-Runtime", 1)]),
    ("namespaces", [("Name", 0), ("Status", 0), ("Age", 0)]),
    ("events", [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
                ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)]),
    ("secrets", [("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)]),
    ("configmaps", [("Name", 0), ("Data", 0), ("Age", 0)]),
    ("leases", [("Name", 0), ("Holder", 0), ("Age", 0)]),
    ("widgets", [("Name", 0), ("Age", 0)]),
])
def test_column_definitions_match_upstream(resource, columns):
    defs = table(resource, [], now=NOW)["columnDefinitions"]
    assert [(d["name"], d["priority"]) for d in defs] == columns
    assert all(d["description"] for d in defs)


def test_replicaset_counts_are_integer_columns():
    types = {d["name"]: d["type"] for d in table("replicasets", [], now=NOW)["columnDefinitions"]}
    assert types["Desired"] == types["Current"] == types["Ready"] == "integer"


# --- pods -------------------------------------------------------------------------------------

def test_running_pod_with_a_restart_two_minutes_ago():
    pod = make_pod(running(restarts=1, last_exit_ago=120), conditions=[READY])
    assert row("pods", pod)["cells"] == ["web-7d9f8-abcde", "1/1", "Running", "1 (2m ago)", "5m",
                                         "10.244.1.5", "node-1", "<none>", "<none>"]
    assert "conditions" not in row("pods", pod)


def test_crash_looping_pod():
    pod = make_pod(waiting("CrashLoopBackOff", restarts=5, last_exit_ago=30))
    c = cells("pods", pod)
    assert (c["Ready"], c["Status"], c["Restarts"]) == ("0/1", "CrashLoopBackOff", "5 (30s ago)")


def test_unscheduled_pending_pod():
    pod = make_pod(phase="Pending", node="", ip="", created=10,
                   conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}])
    assert row("pods", pod)["cells"] == ["web-7d9f8-abcde", "0/1", "Pending", "0", "10s",
                                         "<none>", "<none>", "<none>", "<none>"]


def test_pending_pod_shows_what_its_container_waits_for():
    assert cells("pods", make_pod(waiting("ContainerCreating"), phase="Pending"))["Status"] == "ContainerCreating"
    assert cells("pods", make_pod(waiting("ImagePullBackOff"), phase="Pending"))["Status"] == "ImagePullBackOff"


def test_first_failing_container_wins():
    pod = make_pod(waiting("ErrImagePull", name="a"), waiting("CrashLoopBackOff", name="b"), containers=("a", "b"))
    assert cells("pods", pod)["Status"] == "ErrImagePull"


def test_terminating_pod():
    pod = make_pod(running(), conditions=[READY])
    pod["metadata"]["deletionTimestamp"] = ago(5)
    assert cells("pods", pod)["Status"] == "Terminating"


def test_pod_on_a_lost_node_is_unknown():
    pod = make_pod(running(), reason="NodeLost")
    pod["metadata"]["deletionTimestamp"] = ago(5)
    assert cells("pods", pod)["Status"] == "Unknown"


def test_finished_pod_being_deleted_is_not_terminating():
    pod = make_pod(terminated(exitCode=0, reason="Completed"), phase="Succeeded")
    pod["metadata"]["deletionTimestamp"] = ago(5)
    assert cells("pods", pod)["Status"] == "Completed"


def test_succeeded_and_failed_pods_carry_the_completed_row_condition():
    done = row("pods", make_pod(terminated(exitCode=0, reason="Completed"), phase="Succeeded"))
    assert done["cells"][1:3] == ["0/1", "Completed"]
    assert done["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                   "message": "The pod has completed successfully."}]
    failed = row("pods", make_pod(terminated(exitCode=2, reason="Error"), phase="Failed"))
    assert failed["cells"][2] == "Error" and failed["conditions"][0]["reason"] == "Failed"


@pytest.mark.parametrize("state, shown", [
    ({"exitCode": 137, "reason": "OOMKilled"}, "OOMKilled"),
    ({"exitCode": 137}, "ExitCode:137"),
    ({"exitCode": 137, "signal": 9}, "Signal:9"),
])
def test_terminated_container_reason(state, shown):
    assert cells("pods", make_pod(terminated(**state)))["Status"] == shown


@pytest.mark.parametrize("has_ready_condition, shown", [(True, "Running"), (False, "NotReady")])
def test_completed_container_beside_a_running_one(has_ready_condition, shown):
    pod = make_pod(terminated(name="job", exitCode=0, reason="Completed"), running(name="web"),
                   containers=("job", "web"), conditions=[READY] if has_ready_condition else [])
    c = cells("pods", pod)
    assert (c["Ready"], c["Status"]) == ("1/2", shown)


INIT = [{"name": "migrate", "image": "registry.local/migrate:1"}, {"name": "warm", "image": "registry.local/warm:1"}]


@pytest.mark.parametrize("init_statuses, shown", [
    ([terminated("migrate", exitCode=0, reason="Completed"),
      {"name": "warm", "restartCount": 0, "state": {"running": {}}}], "Init:1/2"),
    ([{"name": "migrate", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}},
      {"name": "warm", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}], "Init:0/2"),
    ([waiting("CrashLoopBackOff", name="migrate", restarts=3)], "Init:CrashLoopBackOff"),
    ([terminated("migrate", exitCode=1)], "Init:ExitCode:1"),
    ([terminated("migrate", exitCode=137, signal=9)], "Init:Signal:9"),
    ([terminated("migrate", exitCode=1, reason="Error")], "Init:Error"),
])
def test_initializing_pod(init_statuses, shown):
    pod = make_pod(waiting("PodInitializing"), phase="Pending", init=INIT, init_statuses=init_statuses)
    c = cells("pods", pod)
    assert (c["Ready"], c["Status"]) == ("0/1", shown)


def test_init_container_restarts_count_while_initializing():
    pod = make_pod(waiting("PodInitializing"), phase="Pending", init=INIT,
                   init_statuses=[waiting("CrashLoopBackOff", name="migrate", restarts=3, last_exit_ago=20)])
    assert cells("pods", pod)["Restarts"] == "3 (20s ago)"


def test_once_initialized_only_app_and_sidecar_restarts_count():
    done = {**terminated("migrate", exitCode=0, reason="Completed"), "restartCount": 2}
    pod = make_pod(running(restarts=1, last_exit_ago=45), init=INIT[:1], init_statuses=[done],
                   conditions=[INITIALIZED, READY])
    assert cells("pods", pod)["Restarts"] == "1 (45s ago)"


def test_native_sidecar_counts_as_a_container():
    init = [{"name": "proxy", "image": "registry.local/proxy:1", "restartPolicy": "Always"}]
    sidecar = {**running(name="proxy", restarts=2, last_exit_ago=3600), "started": True}
    pod = make_pod(running(), init=init, init_statuses=[sidecar], conditions=[INITIALIZED, READY])
    c = cells("pods", pod)
    assert (c["Ready"], c["Status"], c["Restarts"]) == ("2/2", "Running", "2 (60m ago)")


def test_scheduling_gated_pod():
    pod = make_pod(phase="Pending", node="", ip="",
                   conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}])
    assert cells("pods", pod)["Status"] == "SchedulingGated"


def test_restarts_without_a_recorded_exit_time_show_the_count_only():
    status = running(restarts=3)
    assert cells("pods", make_pod(status))["Restarts"] == "3"


def test_readiness_gates_and_nominated_node():
    pod = make_pod(running(), nominatedNodeName="node-2",
                   conditions=[READY, {"type": "example.com/lb", "status": "True"},
                               {"type": "example.com/dns", "status": "False"}])
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]
    c = cells("pods", pod)
    assert (c["Readiness Gates"], c["Nominated Node"]) == ("1/2", "node-2")


def test_pod_without_creation_timestamp_has_unknown_age():
    pod = make_pod(running())
    del pod["metadata"]["creationTimestamp"]
    assert cells("pods", pod)["Age"] == "<unknown>"


def test_printing_does_not_modify_the_object():
    pod = make_pod(waiting("CrashLoopBackOff", restarts=5, last_exit_ago=30))
    before = copy.deepcopy(pod)
    table("pods", [pod], now=NOW)
    assert pod == before


# --- workloads --------------------------------------------------------------------------------

def deployment(replicas=3, ready=2, updated=3, available=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(2 * 86400 + 3 * 3600)},
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {"app": "web"},
                                  "matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}]},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "registry.local/web:2"},
                                                          {"name": "log", "image": "registry.local/log:1"}]}}},
            "status": {"replicas": 3, "readyReplicas": ready, "updatedReplicas": updated,
                       "availableReplicas": available}}


def test_deployment_row():
    assert row("deployments", deployment())["cells"] == [
        "web", "2/3", 3, 2, "2d3h", "web,log", "registry.local/web:2,registry.local/log:1",
        "app=web,track notin (canary)"]


def test_new_deployment_without_status():
    d = deployment()
    del d["status"]
    c = cells("deployments", d)
    assert (c["Ready"], c["Up-to-date"], c["Available"]) == ("0/3", 0, 0)


def test_replicaset_row():
    rs = deployment()
    rs.update(kind="ReplicaSet", metadata={"name": "web-7d9f8", "namespace": "default",
                                           "creationTimestamp": ago(45)})
    rs["spec"]["selector"] = {"matchLabels": {"app": "web", "pod-template-hash": "7d9f8"}}
    assert row("replicasets", rs)["cells"] == [
        "web-7d9f8", 3, 3, 2, "45s", "web,log", "registry.local/web:2,registry.local/log:1",
        "app=web,pod-template-hash=7d9f8"]


def test_scaled_to_zero_replicaset():
    rs = deployment(replicas=0)
    rs["status"] = {"replicas": 0}
    c = cells("replicasets", rs)
    assert (c["Desired"], c["Current"], c["Ready"]) == (0, 0, 0)


# --- services and endpoints ---------------------------------------------------------------------

def service(type_="ClusterIP", ports=({"port": 80, "protocol": "TCP", "targetPort": 8080},), **spec):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(600)},
            "spec": {"type": type_, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                     "ports": list(ports), "selector": {"tier": "frontend", "app": "web"}, **spec}}


def test_cluster_ip_service_row():
    svc = service(ports=[{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])
    assert row("services", svc)["cells"] == ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "10m",
                                             "app=web,tier=frontend"]


def test_node_port_service_shows_both_ports():
    svc = service("NodePort", ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"}])
    c = cells("services", svc)
    assert (c["Type"], c["Port(s)"], c["External-IP"]) == ("NodePort", "80:30080/TCP", "<none>")


@pytest.mark.parametrize("status, external_ips, shown", [
    ({}, [], "<pending>"),
    ({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}]}}, [],
     "203.0.113.9,lb.example.com"),
    ({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}, ["198.51.100.1"], "203.0.113.9,198.51.100.1"),
])
def test_load_balancer_external_ip(status, external_ips, shown):
    svc = service("LoadBalancer", externalIPs=external_ips)
    svc["status"] = status
    assert cells("services", svc)["External-IP"] == shown


def test_headless_external_name_and_portless_services():
    headless = service(clusterIP="None", clusterIPs=["None"], ports=[])
    assert (cells("services", headless)["Cluster-IP"], cells("services", headless)["Port(s)"]) == ("None", "<none>")
    external = service("ExternalName", externalName="db.example.com", clusterIP="", clusterIPs=[], selector={})
    c = cells("services", external)
    assert (c["Cluster-IP"], c["External-IP"], c["Selector"]) == ("<none>", "db.example.com", "<none>")


def endpoints(*subsets):
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(600)},
            "subsets": list(subsets)}


def addrs(*ips):
    return [{"ip": ip} for ip in ips]


@pytest.mark.parametrize("subsets, shown", [
    ([{"addresses": addrs("10.0.0.2", "10.0.0.3"), "ports": [{"port": 80}]}], "10.0.0.2:80,10.0.0.3:80"),
    ([{"addresses": addrs(*(f"10.0.0.{i}" for i in range(2, 7))), "ports": [{"port": 80}]}],
     "10.0.0.2:80,10.0.0.3:80,10.0.0.4:80 + 2 more..."),
    ([{"addresses": addrs("10.0.0.2", "10.0.0.3"), "ports": [{"port": 80}, {"port": 443}]}],
     "10.0.0.2:80,10.0.0.3:80,10.0.0.2:443 + 1 more..."),
    ([{"addresses": addrs("10.0.0.2")}], "10.0.0.2"),  # headless, no ports
    ([{"addresses": addrs("fd00::2"), "ports": [{"port": 80}]}], "[fd00::2]:80"),
    ([{"notReadyAddresses": addrs("10.0.0.2"), "ports": [{"port": 80}]}], ""),
    ([], "<none>"),
])
def test_endpoints_cell(subsets, shown):
    assert row("endpoints", endpoints(*subsets))["cells"] == ["web", shown, "10m"]


def test_endpointslice_row():
    eps = {"metadata": {"name": "web-abc", "creationTimestamp": ago(600)}, "addressType": "IPv4",
           "ports": [{"name": "http", "port": 80}], "endpoints": [{"addresses": ["10.0.0.2"]}]}
    assert row("endpointslices", eps)["cells"] == ["web-abc", "IPv4", "80", "10.0.0.2", "10m"]
    assert row("endpointslices", {**eps, "ports": [], "endpoints": []})["cells"][2:4] == ["<unset>", "<unset>"]


# --- nodes and namespaces ----------------------------------------------------------------------

def node(name="node-1", ready="True", labels=None, unschedulable=False, conditions=None):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "creationTimestamp": ago(40 * 86400), "labels": labels or {}},
            "spec": {"unschedulable": unschedulable} if unschedulable else {},
            "status": {"conditions": conditions if conditions is not None else [
                           {"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": ready}],
                       "addresses": [{"type": "InternalIP", "address": "172.20.0.11"},
                                     {"type": "Hostname", "address": name}],
                       "nodeInfo": {"kubeletVersion": "v1.37.1-pyctl", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "runc://1.1.5"}}}


def test_ready_control_plane_node_row():
    n = node(labels={"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"})
    assert row("nodes", n)["cells"] == ["node-1", "Ready", "control-plane", "40d", "v1.37.1-pyctl", "172.20.0.11",
                                        "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "runc://1.1.5"]


@pytest.mark.parametrize("kwargs, status", [
    ({"ready": "False", "unschedulable": True}, "NotReady,SchedulingDisabled"),
    ({"ready": "Unknown"}, "NotReady"),           # heartbeats stopped: still "NotReady"
    ({"conditions": []}, "Unknown"),             # never reported
    ({"conditions": [], "unschedulable": True}, "Unknown,SchedulingDisabled"),
    ({"unschedulable": True}, "Ready,SchedulingDisabled"),
])
def test_node_status(kwargs, status):
    assert cells("nodes", node(**kwargs))["Status"] == status


def test_node_roles_and_missing_system_info():
    n = node(labels={"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/infra": "true",
                     "kubernetes.io/role": "edge"})
    n["status"]["nodeInfo"] = {}
    c = cells("nodes", n)
    assert (c["Roles"], c["Version"], c["OS-Image"], c["Container-Runtime"]) == \
        ("edge,infra,worker", "", "<unknown>", "<unknown>")
    assert cells("nodes", node())["Roles"] == "<none>"


def test_namespace_rows():
    ns = {"metadata": {"name": "default", "creationTimestamp": ago(9 * 86400)}, "status": {"phase": "Active"}}
    assert row("namespaces", ns)["cells"] == ["default", "Active", "9d"]


# --- events -----------------------------------------------------------------------------------

def test_core_event_row():
    ev = {"apiVersion": "v1", "kind": "Event",
          "metadata": {"name": "web-7d9f8-abcde.17f3a", "namespace": "default"},
          "involvedObject": {"kind": "Pod", "name": "web-7d9f8-abcde", "namespace": "default",
                             "fieldPath": "spec.containers{web}"},
          "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container web\n",
          "source": {"component": "kubelet", "host": "node-1"},
          "firstTimestamp": ago(3600), "lastTimestamp": ago(30), "count": 12}
    assert row("events", ev)["cells"] == [
        "30s", "Warning", "BackOff", "pod/web-7d9f8-abcde", "spec.containers{web}", "kubelet, node-1",
        "Back-off restarting failed container web", "60m", 12, "web-7d9f8-abcde.17f3a"]


def test_event_series_and_new_style_events():
    base = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet", "type": "Normal", "reportingComponent": "deployment-controller",
            "eventTime": "2026-11-26T21:50:00.000000Z"}
    single = cells("events", base)
    assert (single["Last Seen"], single["First Seen"], single["Count"], single["Object"], single["Source"]) == \
        ("10m", "10m", 1, "deployment/web", "deployment-controller")
    repeated = cells("events", {**base, "series": {"count": 7, "lastObservedTime": ago(20)}})
    assert (repeated["Last Seen"], repeated["Count"]) == ("20s", 7)


def test_event_about_a_kind_without_a_name():
    ev = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}, "firstTimestamp": ago(5)}
    c = cells("events", ev)
    assert (c["Object"], c["Last Seen"]) == ("node", "5s")


# --- generic resources -------------------------------------------------------------------------

def test_secret_configmap_and_lease_rows():
    created = ago(3 * 3600 + 25 * 60)
    secret = {"metadata": {"name": "creds", "creationTimestamp": created}, "type": "Opaque",
              "data": {"user": "YQ==", "pass": "Yg=="}}
    assert row("secrets", secret)["cells"] == ["creds", "Opaque", 2, "3h25m"]
    cm = {"metadata": {"name": "cfg", "creationTimestamp": created}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}
    assert row("configmaps", cm)["cells"] == ["cfg", 2, "3h25m"]
    lease = {"metadata": {"name": "pyctl-scheduler", "creationTimestamp": created},
             "spec": {"holderIdentity": "cp-1_5f2c"}}
    assert row("leases", lease)["cells"] == ["pyctl-scheduler", "cp-1_5f2c", "3h25m"]


def test_unknown_resources_get_name_and_age():
    assert row("widgets", {"metadata": {"name": "w", "creationTimestamp": ago(90)}})["cells"] == ["w", "90s"]


# --- durations --------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, shown", [
    (0, "0s"), (59.9, "59s"), (119, "119s"), (120, "2m"), (150, "2m30s"), (599, "9m59s"), (600, "10m"),
    (179 * 60 + 59, "179m"), (3 * 3600, "3h"), (3 * 3600 + 5 * 60, "3h5m"), (8 * 3600 + 59 * 60, "8h"),
    (47 * 3600, "47h"), (48 * 3600, "2d"), (51 * 3600, "2d3h"), (8 * 86400 - 1, "7d23h"), (8 * 86400, "8d"),
    (729 * 86400, "729d"), (730 * 86400, "2y"), (740 * 86400, "2y10d"), (8 * 365 * 86400, "8y"),
    (-1.5, "0s"), (-2, "<invalid>"),  # a second of clock skew reads as "now"
])
def test_human_duration(seconds, shown):
    assert human_duration(seconds) == shown


def test_age():
    assert age(ago(300), NOW) == "5m"
    assert age("2026-11-26T21:55:00.123456Z", NOW) == "4m59s"
    assert age("2026-11-26T21:55:00+00:00", NOW.replace(tzinfo=None)) == "5m"  # naive now is UTC
    assert age(None, NOW) == age("", NOW) == age("yesterday", NOW) == "<unknown>"
