// Why a pod is Pending, from what the API has: the scheduler's PodScheduled=False condition
// ("0/3 nodes are available: 3 Insufficient memory."), its FailedScheduling events, and for
// a scheduled pod the reasons its containers wait (image pulls, back-off).

const WAITING_OK = new Set(["ContainerCreating", "PodInitializing"]);

export function pendingReason(pod, events) {
  if ((pod.status || {}).phase !== "Pending" || pod.metadata.deletionTimestamp) return null;
  const scheduled = ((pod.status || {}).conditions || []).find((c) => c.type === "PodScheduled");
  const failed = events.filter((e) => e.reason === "FailedScheduling" && e.involvedObject?.uid === pod.metadata.uid);
  if (!pod.spec?.nodeName) {
    const message = scheduled && scheduled.status === "False" ? scheduled.message || "" : "";
    return {
      stage: "scheduling",
      reason: (scheduled && scheduled.reason) || "Unscheduled",
      message: message || (failed[0] && failed[0].message) || "Waiting for the scheduler.",
      events: failed,
      perNode: perNodeReasons(pod),
    };
  }
  const statuses = [...(pod.status.initContainerStatuses || []), ...(pod.status.containerStatuses || [])];
  const waiting = statuses.map((cs) => ({ name: cs.name, ...(cs.state?.waiting || {}) }))
    .filter((w) => w.reason && !WAITING_OK.has(w.reason));
  if (waiting.length) {
    return { stage: "starting", reason: waiting[0].reason, message: waiting.map((w) => `${w.name}: ${w.reason}${w.message ? ` — ${w.message}` : ""}`).join("\n"),
             events: [], perNode: null };
  }
  return { stage: "starting", reason: "ContainerCreating", message: `Scheduled on ${pod.spec.nodeName}; its containers are starting.`, events: [], perNode: null };
}

// HOOK: the scheduler computes a reason per node but today publishes only their histogram
// (the condition message). When the API serves the breakdown, return it here as
// [{node, reasons: [text, ...]}]; the pod page then lists it under "Per node" with no other change.
export function perNodeReasons(_pod) {
  return null;
}
