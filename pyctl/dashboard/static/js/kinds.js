// The kinds the dashboard knows, as data. Each is shown only when the API server serves it
// (discovery), so a kind that lands on the server appears here with nothing else to change.
//
//   page       where its table goes ("workloads", "services"); null: used by other views only
//   columns    [title, obj => text] for its table, after NAME and NAMESPACE
//   progress   obj => {want, done, ready, label, complete}: the rollout bar of a workload
//   actions    the actions.py names a row offers (scale, restart, undo, delete)
//   history    the kind whose objects are this one's revisions (Deployment: ReplicaSet)
//
// To add a kind: one entry below. To add a page: a view module and an entry in main.js.

import { ApiError } from "./api.js";
import { age, condition, formatLabels } from "./format.js";

const n = (v) => Number(v || 0);

function deploymentProgress(d) {
  const spec = d.spec || {}, st = d.status || {};
  const want = spec.replicas ?? 1;
  const updated = n(st.updatedReplicas), available = n(st.availableReplicas), total = n(st.replicas);
  const stale = n(d.metadata.generation) > n(st.observedGeneration);
  const timedOut = condition(d, "Progressing")?.reason === "ProgressDeadlineExceeded";
  let label;
  if (stale) label = "waiting for the spec update to be observed";
  else if (timedOut) label = "exceeded its progress deadline";
  else if (updated < want) label = `${updated} of ${want} new replicas updated`;
  else if (total > updated) label = `${total - updated} old replicas pending termination`;
  else if (available < updated) label = `${available} of ${updated} updated replicas available`;
  else label = "rolled out";
  return { want, updated, available, label, failed: timedOut,
           complete: !stale && !timedOut && updated >= want && total <= updated && available >= updated };
}

function statefulSetProgress(s) {
  const want = (s.spec || {}).replicas ?? 1, st = s.status || {};
  const updated = n(st.updatedReplicas), available = n(st.availableReplicas ?? st.readyReplicas);
  return { want, updated, available, label: `${available} of ${want} available, ${updated} updated`,
           complete: updated >= want && available >= want && n(st.replicas) <= want };
}

function daemonSetProgress(s) {
  const st = s.status || {};
  const want = n(st.desiredNumberScheduled), updated = n(st.updatedNumberScheduled), available = n(st.numberAvailable);
  return { want, updated, available, label: `${available} of ${want} nodes available, ${updated} updated`,
           complete: updated >= want && available >= want };
}

function jobProgress(j) {
  const want = (j.spec || {}).completions ?? 1, st = j.status || {};
  const done = n(st.succeeded);
  const failed = condition(j, "Failed")?.status === "True";
  return { want, updated: done + n(st.active), available: done, failed,
           label: failed ? `failed: ${condition(j, "Failed").reason || ""}` : `${done} of ${want} completions, ${n(st.active)} active`,
           complete: condition(j, "Complete")?.status === "True" };
}

const images = (o) => ((o.spec?.template?.spec?.containers) || []).map((c) => c.image).join(", ");
const ready = (o) => `${n(o.status?.readyReplicas)}/${o.spec?.replicas ?? 1}`;

export const KINDS = [
  { kind: "Namespace", group: "", versions: ["v1"], resource: "namespaces", namespaced: false },
  { kind: "Node", group: "", versions: ["v1"], resource: "nodes", namespaced: false },
  { kind: "Pod", group: "", versions: ["v1"], resource: "pods", namespaced: true, actions: ["delete"] },
  { kind: "Event", group: "", versions: ["v1"], resource: "events", namespaced: true },
  { kind: "Deployment", group: "apps", versions: ["v1"], resource: "deployments", namespaced: true,
    page: "workloads", progress: deploymentProgress, actions: ["scale", "restart", "undo"], history: "ReplicaSet",
    columns: [["READY", ready], ["UP-TO-DATE", (o) => n(o.status?.updatedReplicas)],
              ["AVAILABLE", (o) => n(o.status?.availableReplicas)], ["IMAGES", images]] },
  { kind: "StatefulSet", group: "apps", versions: ["v1"], resource: "statefulsets", namespaced: true,
    page: "workloads", progress: statefulSetProgress, actions: ["scale", "restart"],
    columns: [["READY", ready], ["IMAGES", images]] },
  { kind: "DaemonSet", group: "apps", versions: ["v1"], resource: "daemonsets", namespaced: true,
    page: "workloads", progress: daemonSetProgress, actions: ["restart"],
    columns: [["DESIRED", (o) => n(o.status?.desiredNumberScheduled)], ["READY", (o) => n(o.status?.numberReady)],
              ["AVAILABLE", (o) => n(o.status?.numberAvailable)], ["IMAGES", images]] },
  { kind: "ReplicaSet", group: "apps", versions: ["v1"], resource: "replicasets", namespaced: true },
  { kind: "Job", group: "batch", versions: ["v1"], resource: "jobs", namespaced: true,
    page: "workloads", progress: jobProgress, actions: [],
    columns: [["COMPLETIONS", (o) => `${n(o.status?.succeeded)}/${o.spec?.completions ?? 1}`], ["IMAGES", images]] },
  { kind: "CronJob", group: "batch", versions: ["v1"], resource: "cronjobs", namespaced: true,
    page: "workloads", actions: [],
    columns: [["SCHEDULE", (o) => o.spec?.schedule], ["SUSPEND", (o) => String(!!o.spec?.suspend)],
              ["ACTIVE", (o) => (o.status?.active || []).length],
              ["LAST SCHEDULE", (o) => (o.status?.lastScheduleTime ? age(o.status.lastScheduleTime) : "<none>")]] },
  { kind: "HorizontalPodAutoscaler", group: "autoscaling", versions: ["v2", "v1"], resource: "horizontalpodautoscalers",
    namespaced: true, page: "workloads",
    columns: [["REFERENCE", (o) => `${o.spec?.scaleTargetRef?.kind}/${o.spec?.scaleTargetRef?.name}`],
              ["MINPODS", (o) => o.spec?.minReplicas ?? 1], ["MAXPODS", (o) => o.spec?.maxReplicas],
              ["REPLICAS", (o) => n(o.status?.currentReplicas)]] },
  { kind: "Service", group: "", versions: ["v1"], resource: "services", namespaced: true },
  { kind: "Endpoints", group: "", versions: ["v1"], resource: "endpoints", namespaced: true },
  { kind: "Ingress", group: "networking.k8s.io", versions: ["v1"], resource: "ingresses", namespaced: true,
    page: "services",
    columns: [["CLASS", (o) => o.spec?.ingressClassName || "<none>"],
              ["HOSTS", (o) => (o.spec?.rules || []).map((r) => r.host || "*").join(",") || "*"],
              ["ADDRESS", (o) => (o.status?.loadBalancer?.ingress || []).map((i) => i.ip || i.hostname).join(",")]] },
  { kind: "PersistentVolumeClaim", group: "", versions: ["v1"], resource: "persistentvolumeclaims", namespaced: true,
    page: "services",
    columns: [["STATUS", (o) => o.status?.phase], ["VOLUME", (o) => o.spec?.volumeName || ""],
              ["CAPACITY", (o) => o.status?.capacity?.storage || ""], ["LABELS", (o) => formatLabels(o.metadata.labels)]] },
  // Usage: metrics.k8s.io has no watch, so it is listed on a timer (see store.js).
  { kind: "NodeMetrics", group: "metrics.k8s.io", versions: ["v1beta1"], resource: "nodes", namespaced: false, metrics: true },
  { kind: "PodMetrics", group: "metrics.k8s.io", versions: ["v1beta1"], resource: "pods", namespaced: true, metrics: true },
];

// Which entries of KINDS the server serves, and at which version and verbs; asks only for
// the group versions named above. Unserved ones (404 in discovery) are simply absent.
export async function discover(get) {
  const wanted = new Map();
  for (const k of KINDS) for (const v of k.versions) wanted.set(k.group ? `/apis/${k.group}/${v}` : `/api/${v}`, true);
  const served = new Map();
  let groups = null;
  try {
    groups = new Set(((await get("/apis")).groups || []).flatMap((g) => (g.versions || []).map((v) => v.groupVersion)));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    groups = new Set();
  }
  await Promise.all([...wanted.keys()].map(async (path) => {
    const gv = path.replace(/^\/apis?\//, "");
    if (path.startsWith("/apis/") && !groups.has(gv)) return;
    try {
      served.set(path, (await get(path)).resources || []);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e; // not an answer: no reason to think it is not served
    }
  }));
  const out = new Map();
  for (const k of KINDS) {
    for (const v of k.versions) {
      const base = k.group ? `/apis/${k.group}/${v}` : `/api/${v}`;
      const res = (served.get(base) || []).find((r) => r.name === k.resource);
      if (res) {
        out.set(k.kind, { ...k, version: v, base, verbs: res.verbs || [] });
        break;
      }
    }
  }
  return out;
}

export function collectionPath(kind, namespace) {
  return kind.namespaced && namespace ? `${kind.base}/namespaces/${namespace}/${kind.resource}` : `${kind.base}/${kind.resource}`;
}
