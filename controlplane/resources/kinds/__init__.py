"""The built-in kinds, one module per kind or small family; BUILTIN is the registry's list.

Adding a kind: write its module (a `Kind` with its ResourceInfo, defaults, rules, columns and
any strategy hooks) and add it below. Discovery, routing, OpenAPI, validation, Tables and the
storage layer all find it through the registry.
"""

from __future__ import annotations

from ..kind import Kind
from .autoscaling import HPA_V1, HPA_V2
from .config import CONFIG_MAP, SECRET
from .controllerrevision import CONTROLLER_REVISION
from .crd import CUSTOM_RESOURCE_DEFINITION
from .cronjob import CRON_JOB
from .daemonset import DAEMON_SET
from .endpoints import ENDPOINT_SLICE, ENDPOINTS
from .event import EVENT
from .ingress import INGRESS, INGRESS_CLASS
from .job import JOB
from .lease import LEASE
from .metrics import NODE_METRICS, POD_METRICS
from .namespace import NAMESPACE
from .networkpolicy import NETWORK_POLICY
from .node import NODE
from .persistentvolume import PERSISTENT_VOLUME
from .persistentvolumeclaim import PERSISTENT_VOLUME_CLAIM
from .plan import PLAN
from .pod import BINDING, POD
from .poddisruptionbudget import POD_DISRUPTION_BUDGET
from .rbac import CLUSTER_ROLE, CLUSTER_ROLE_BINDING, ROLE, ROLE_BINDING
from .replicationcontroller import REPLICATION_CONTROLLER
from .reviews import SELF_SUBJECT_ACCESS_REVIEW, SELF_SUBJECT_REVIEW, SELF_SUBJECT_RULES_REVIEW, TOKEN_REVIEW
from .service import SERVICE
from .serviceaccount import SERVICE_ACCOUNT, TOKEN_REQUEST
from .statefulset import STATEFUL_SET
from .storageclass import STORAGE_CLASS
from .workloads import DEPLOYMENT, REPLICA_SET, SCALE_BODY

# The order is discovery's: core first, as kube-apiserver lists them.
BUILTIN: tuple[Kind, ...] = (
    NAMESPACE, NODE, POD, REPLICATION_CONTROLLER, SERVICE, ENDPOINTS, EVENT, CONFIG_MAP, SECRET, SERVICE_ACCOUNT,
    PERSISTENT_VOLUME_CLAIM, PERSISTENT_VOLUME,
    CONTROLLER_REVISION, DAEMON_SET, DEPLOYMENT, REPLICA_SET, STATEFUL_SET,
    HPA_V2, HPA_V1,
    CRON_JOB, JOB,
    POD_DISRUPTION_BUDGET,
    ENDPOINT_SLICE,
    INGRESS, INGRESS_CLASS, NETWORK_POLICY,
    LEASE,
    ROLE, ROLE_BINDING, CLUSTER_ROLE, CLUSTER_ROLE_BINDING,
    STORAGE_CLASS,
    CUSTOM_RESOURCE_DEFINITION,
    SELF_SUBJECT_ACCESS_REVIEW, SELF_SUBJECT_RULES_REVIEW, SELF_SUBJECT_REVIEW, TOKEN_REVIEW,
    PLAN,
    NODE_METRICS, POD_METRICS,
)

# Bodies of subresources, validated but not served as resources of their own.
BODIES: tuple[Kind, ...] = (BINDING, SCALE_BODY, TOKEN_REQUEST)
