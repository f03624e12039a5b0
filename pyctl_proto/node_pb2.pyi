from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PodTokenRequest(_message.Message):
    __slots__ = ("namespace", "pod", "uid", "audience", "expiration_seconds", "node_name")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    pod: str
    uid: str
    audience: str
    expiration_seconds: int
    node_name: str
    def __init__(self, namespace: _Optional[str] = ..., pod: _Optional[str] = ..., uid: _Optional[str] = ..., audience: _Optional[str] = ..., expiration_seconds: _Optional[int] = ..., node_name: _Optional[str] = ...) -> None: ...

class IssuedToken(_message.Message):
    __slots__ = ("token", "expiration_unix")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_UNIX_FIELD_NUMBER: _ClassVar[int]
    token: str
    expiration_unix: int
    def __init__(self, token: _Optional[str] = ..., expiration_unix: _Optional[int] = ...) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("token", "node_name", "csr_pem")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    token: str
    node_name: str
    csr_pem: bytes
    def __init__(self, token: _Optional[str] = ..., node_name: _Optional[str] = ..., csr_pem: _Optional[bytes] = ...) -> None: ...

class RenewRequest(_message.Message):
    __slots__ = ("csr_pem",)
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    csr_pem: bytes
    def __init__(self, csr_pem: _Optional[bytes] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("cert_pem", "ca_pem")
    CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    cert_pem: bytes
    ca_pem: bytes
    def __init__(self, cert_pem: _Optional[bytes] = ..., ca_pem: _Optional[bytes] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("register", "heartbeat", "pod_status", "pod_deleted", "resync", "events", "volumes", "metrics")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    POD_STATUS_FIELD_NUMBER: _ClassVar[int]
    POD_DELETED_FIELD_NUMBER: _ClassVar[int]
    RESYNC_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    register: Register
    heartbeat: Heartbeat
    pod_status: PodStatusBatch
    pod_deleted: PodDeleted
    resync: Resync
    events: EventBatch
    volumes: VolumeReport
    metrics: NodeMetrics
    def __init__(self, register: _Optional[_Union[Register, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., pod_status: _Optional[_Union[PodStatusBatch, _Mapping]] = ..., pod_deleted: _Optional[_Union[PodDeleted, _Mapping]] = ..., resync: _Optional[_Union[Resync, _Mapping]] = ..., events: _Optional[_Union[EventBatch, _Mapping]] = ..., volumes: _Optional[_Union[VolumeReport, _Mapping]] = ..., metrics: _Optional[_Union[NodeMetrics, _Mapping]] = ...) -> None: ...

class NodeAddress(_message.Message):
    __slots__ = ("type", "address")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    type: str
    address: str
    def __init__(self, type: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("machine_id", "system_uuid", "boot_id", "kernel_version", "os_image", "container_runtime_version", "kubelet_version", "kube_proxy_version", "operating_system", "architecture")
    MACHINE_ID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_UUID_FIELD_NUMBER: _ClassVar[int]
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    KERNEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_RUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    KUBELET_VERSION_FIELD_NUMBER: _ClassVar[int]
    KUBE_PROXY_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPERATING_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    machine_id: str
    system_uuid: str
    boot_id: str
    kernel_version: str
    os_image: str
    container_runtime_version: str
    kubelet_version: str
    kube_proxy_version: str
    operating_system: str
    architecture: str
    def __init__(self, machine_id: _Optional[str] = ..., system_uuid: _Optional[str] = ..., boot_id: _Optional[str] = ..., kernel_version: _Optional[str] = ..., os_image: _Optional[str] = ..., container_runtime_version: _Optional[str] = ..., kubelet_version: _Optional[str] = ..., kube_proxy_version: _Optional[str] = ..., operating_system: _Optional[str] = ..., architecture: _Optional[str] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("node_name", "addresses", "capacity", "allocatable", "node_info", "labels", "agent_port", "pod_cidr", "local_storage")
    class CapacityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AllocatableEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ALLOCATABLE_FIELD_NUMBER: _ClassVar[int]
    NODE_INFO_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    AGENT_PORT_FIELD_NUMBER: _ClassVar[int]
    POD_CIDR_FIELD_NUMBER: _ClassVar[int]
    LOCAL_STORAGE_FIELD_NUMBER: _ClassVar[int]
    node_name: str
    addresses: _containers.RepeatedCompositeFieldContainer[NodeAddress]
    capacity: _containers.ScalarMap[str, str]
    allocatable: _containers.ScalarMap[str, str]
    node_info: NodeInfo
    labels: _containers.ScalarMap[str, str]
    agent_port: int
    pod_cidr: str
    local_storage: LocalStorage
    def __init__(self, node_name: _Optional[str] = ..., addresses: _Optional[_Iterable[_Union[NodeAddress, _Mapping]]] = ..., capacity: _Optional[_Mapping[str, str]] = ..., allocatable: _Optional[_Mapping[str, str]] = ..., node_info: _Optional[_Union[NodeInfo, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., agent_port: _Optional[int] = ..., pod_cidr: _Optional[str] = ..., local_storage: _Optional[_Union[LocalStorage, _Mapping]] = ...) -> None: ...

class LocalStorage(_message.Message):
    __slots__ = ("path", "capacity_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    capacity_bytes: int
    def __init__(self, path: _Optional[str] = ..., capacity_bytes: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class PodStatusUpdate(_message.Message):
    __slots__ = ("namespace", "name", "uid", "status_json")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    STATUS_JSON_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    uid: str
    status_json: str
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., uid: _Optional[str] = ..., status_json: _Optional[str] = ...) -> None: ...

class PodStatusBatch(_message.Message):
    __slots__ = ("updates",)
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[PodStatusUpdate]
    def __init__(self, updates: _Optional[_Iterable[_Union[PodStatusUpdate, _Mapping]]] = ...) -> None: ...

class PodDeleted(_message.Message):
    __slots__ = ("namespace", "name", "uid")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    uid: str
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., uid: _Optional[str] = ...) -> None: ...

class NodeEvent(_message.Message):
    __slots__ = ("namespace", "name", "uid", "field_path", "type", "reason", "message", "count", "time_unix_micro")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    FIELD_PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MICRO_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    uid: str
    field_path: str
    type: str
    reason: str
    message: str
    count: int
    time_unix_micro: int
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., uid: _Optional[str] = ..., field_path: _Optional[str] = ..., type: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., count: _Optional[int] = ..., time_unix_micro: _Optional[int] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[NodeEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[NodeEvent, _Mapping]]] = ...) -> None: ...

class VolumeReport(_message.Message):
    __slots__ = ("volumes",)
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[VolumeState]
    def __init__(self, volumes: _Optional[_Iterable[_Union[VolumeState, _Mapping]]] = ...) -> None: ...

class VolumeState(_message.Message):
    __slots__ = ("name", "phase", "message")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        READY: _ClassVar[VolumeState.Phase]
        DELETED: _ClassVar[VolumeState.Phase]
        FAILED: _ClassVar[VolumeState.Phase]
    READY: VolumeState.Phase
    DELETED: VolumeState.Phase
    FAILED: VolumeState.Phase
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    phase: VolumeState.Phase
    message: str
    def __init__(self, name: _Optional[str] = ..., phase: _Optional[_Union[VolumeState.Phase, str]] = ..., message: _Optional[str] = ...) -> None: ...

class NodeMetrics(_message.Message):
    __slots__ = ("node", "timestamp_unix_ms", "window_ms", "usage", "pods")
    NODE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    PODS_FIELD_NUMBER: _ClassVar[int]
    node: str
    timestamp_unix_ms: int
    window_ms: int
    usage: ResourceUsage
    pods: _containers.RepeatedCompositeFieldContainer[PodUsage]
    def __init__(self, node: _Optional[str] = ..., timestamp_unix_ms: _Optional[int] = ..., window_ms: _Optional[int] = ..., usage: _Optional[_Union[ResourceUsage, _Mapping]] = ..., pods: _Optional[_Iterable[_Union[PodUsage, _Mapping]]] = ...) -> None: ...

class ResourceUsage(_message.Message):
    __slots__ = ("cpu_nanocores", "memory_working_set_bytes")
    CPU_NANOCORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_WORKING_SET_BYTES_FIELD_NUMBER: _ClassVar[int]
    cpu_nanocores: int
    memory_working_set_bytes: int
    def __init__(self, cpu_nanocores: _Optional[int] = ..., memory_working_set_bytes: _Optional[int] = ...) -> None: ...

class PodUsage(_message.Message):
    __slots__ = ("namespace", "name", "uid", "containers")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    uid: str
    containers: _containers.RepeatedCompositeFieldContainer[ContainerUsage]
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., uid: _Optional[str] = ..., containers: _Optional[_Iterable[_Union[ContainerUsage, _Mapping]]] = ...) -> None: ...

class ContainerUsage(_message.Message):
    __slots__ = ("name", "usage")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    usage: ResourceUsage
    def __init__(self, name: _Optional[str] = ..., usage: _Optional[_Union[ResourceUsage, _Mapping]] = ...) -> None: ...

class NodeMetricsBatch(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeMetrics]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeMetrics, _Mapping]]] = ...) -> None: ...

class Resync(_message.Message):
    __slots__ = ("last_seq",)
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    last_seq: int
    def __init__(self, last_seq: _Optional[int] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("registered", "heartbeat_ack", "assignments", "error", "node_routes", "services", "volumes", "policies", "ingress")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_ACK_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    NODE_ROUTES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    INGRESS_FIELD_NUMBER: _ClassVar[int]
    registered: Registered
    heartbeat_ack: HeartbeatAck
    assignments: Assignments
    error: Error
    node_routes: NodeRoutes
    services: ServiceTable
    volumes: NodeVolumes
    policies: PolicyTable
    ingress: IngressTable
    def __init__(self, registered: _Optional[_Union[Registered, _Mapping]] = ..., heartbeat_ack: _Optional[_Union[HeartbeatAck, _Mapping]] = ..., assignments: _Optional[_Union[Assignments, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., node_routes: _Optional[_Union[NodeRoutes, _Mapping]] = ..., services: _Optional[_Union[ServiceTable, _Mapping]] = ..., volumes: _Optional[_Union[NodeVolumes, _Mapping]] = ..., policies: _Optional[_Union[PolicyTable, _Mapping]] = ..., ingress: _Optional[_Union[IngressTable, _Mapping]] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("heartbeat_period_ms", "session_id", "metrics_period_ms")
    HEARTBEAT_PERIOD_MS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    METRICS_PERIOD_MS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_period_ms: int
    session_id: str
    metrics_period_ms: int
    def __init__(self, heartbeat_period_ms: _Optional[int] = ..., session_id: _Optional[str] = ..., metrics_period_ms: _Optional[int] = ...) -> None: ...

class HeartbeatAck(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class PodAssignment(_message.Message):
    __slots__ = ("action", "pod_json", "config_objects", "claim_volumes")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UPSERT: _ClassVar[PodAssignment.Action]
        REMOVE: _ClassVar[PodAssignment.Action]
    UPSERT: PodAssignment.Action
    REMOVE: PodAssignment.Action
    ACTION_FIELD_NUMBER: _ClassVar[int]
    POD_JSON_FIELD_NUMBER: _ClassVar[int]
    CONFIG_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    CLAIM_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    action: PodAssignment.Action
    pod_json: str
    config_objects: _containers.RepeatedCompositeFieldContainer[ConfigObject]
    claim_volumes: _containers.RepeatedCompositeFieldContainer[ClaimVolume]
    def __init__(self, action: _Optional[_Union[PodAssignment.Action, str]] = ..., pod_json: _Optional[str] = ..., config_objects: _Optional[_Iterable[_Union[ConfigObject, _Mapping]]] = ..., claim_volumes: _Optional[_Iterable[_Union[ClaimVolume, _Mapping]]] = ...) -> None: ...

class ClaimVolume(_message.Message):
    __slots__ = ("volume", "claim", "error", "persistent_volume", "kind", "path", "host_path_type", "read_only", "provisioned")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_VOLUME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    HOST_PATH_TYPE_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    PROVISIONED_FIELD_NUMBER: _ClassVar[int]
    volume: str
    claim: str
    error: str
    persistent_volume: str
    kind: str
    path: str
    host_path_type: str
    read_only: bool
    provisioned: bool
    def __init__(self, volume: _Optional[str] = ..., claim: _Optional[str] = ..., error: _Optional[str] = ..., persistent_volume: _Optional[str] = ..., kind: _Optional[str] = ..., path: _Optional[str] = ..., host_path_type: _Optional[str] = ..., read_only: _Optional[bool] = ..., provisioned: _Optional[bool] = ...) -> None: ...

class ConfigObject(_message.Message):
    __slots__ = ("kind", "namespace", "name", "object_json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECT_JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    namespace: str
    name: str
    object_json: str
    def __init__(self, kind: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., object_json: _Optional[str] = ...) -> None: ...

class Assignments(_message.Message):
    __slots__ = ("type", "seq", "prev_seq", "changes")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        COMPLETE: _ClassVar[Assignments.Type]
        INCREMENTAL: _ClassVar[Assignments.Type]
    COMPLETE: Assignments.Type
    INCREMENTAL: Assignments.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_SEQ_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    type: Assignments.Type
    seq: int
    prev_seq: int
    changes: _containers.RepeatedCompositeFieldContainer[PodAssignment]
    def __init__(self, type: _Optional[_Union[Assignments.Type, str]] = ..., seq: _Optional[int] = ..., prev_seq: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[PodAssignment, _Mapping]]] = ...) -> None: ...

class NodeRoutes(_message.Message):
    __slots__ = ("pod_cidr", "cluster_cidr", "routes")
    POD_CIDR_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_CIDR_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    pod_cidr: str
    cluster_cidr: str
    routes: _containers.RepeatedCompositeFieldContainer[NodeRoute]
    def __init__(self, pod_cidr: _Optional[str] = ..., cluster_cidr: _Optional[str] = ..., routes: _Optional[_Iterable[_Union[NodeRoute, _Mapping]]] = ...) -> None: ...

class NodeRoute(_message.Message):
    __slots__ = ("node", "pod_cidr", "node_ip")
    NODE_FIELD_NUMBER: _ClassVar[int]
    POD_CIDR_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    node: str
    pod_cidr: str
    node_ip: str
    def __init__(self, node: _Optional[str] = ..., pod_cidr: _Optional[str] = ..., node_ip: _Optional[str] = ...) -> None: ...

class ServiceTable(_message.Message):
    __slots__ = ("service_cidr", "services")
    SERVICE_CIDR_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    service_cidr: str
    services: _containers.RepeatedCompositeFieldContainer[ServiceEntry]
    def __init__(self, service_cidr: _Optional[str] = ..., services: _Optional[_Iterable[_Union[ServiceEntry, _Mapping]]] = ...) -> None: ...

class ServiceEntry(_message.Message):
    __slots__ = ("namespace", "name", "cluster_ip", "ports", "addresses", "type", "external_local", "external_ips", "load_balancer_ips", "health_check_node_port")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_IP_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_LOCAL_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_IPS_FIELD_NUMBER: _ClassVar[int]
    LOAD_BALANCER_IPS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_CHECK_NODE_PORT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    cluster_ip: str
    ports: _containers.RepeatedCompositeFieldContainer[ServicePortEntry]
    addresses: _containers.RepeatedCompositeFieldContainer[ServiceAddress]
    type: str
    external_local: bool
    external_ips: _containers.RepeatedScalarFieldContainer[str]
    load_balancer_ips: _containers.RepeatedScalarFieldContainer[str]
    health_check_node_port: int
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., cluster_ip: _Optional[str] = ..., ports: _Optional[_Iterable[_Union[ServicePortEntry, _Mapping]]] = ..., addresses: _Optional[_Iterable[_Union[ServiceAddress, _Mapping]]] = ..., type: _Optional[str] = ..., external_local: _Optional[bool] = ..., external_ips: _Optional[_Iterable[str]] = ..., load_balancer_ips: _Optional[_Iterable[str]] = ..., health_check_node_port: _Optional[int] = ...) -> None: ...

class ServiceAddress(_message.Message):
    __slots__ = ("ip", "hostname")
    IP_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ip: str
    hostname: str
    def __init__(self, ip: _Optional[str] = ..., hostname: _Optional[str] = ...) -> None: ...

class ServicePortEntry(_message.Message):
    __slots__ = ("name", "protocol", "port", "backends", "node_port")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    NODE_PORT_FIELD_NUMBER: _ClassVar[int]
    name: str
    protocol: str
    port: int
    backends: _containers.RepeatedCompositeFieldContainer[ServiceBackend]
    node_port: int
    def __init__(self, name: _Optional[str] = ..., protocol: _Optional[str] = ..., port: _Optional[int] = ..., backends: _Optional[_Iterable[_Union[ServiceBackend, _Mapping]]] = ..., node_port: _Optional[int] = ...) -> None: ...

class ServiceBackend(_message.Message):
    __slots__ = ("ip", "port", "node")
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ip: str
    port: int
    node: str
    def __init__(self, ip: _Optional[str] = ..., port: _Optional[int] = ..., node: _Optional[str] = ...) -> None: ...

class IngressTable(_message.Message):
    __slots__ = ("hosts", "default_backend", "backends", "certificates")
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_BACKEND_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[IngressHost]
    default_backend: str
    backends: _containers.RepeatedCompositeFieldContainer[IngressBackend]
    certificates: _containers.RepeatedCompositeFieldContainer[IngressCertificate]
    def __init__(self, hosts: _Optional[_Iterable[_Union[IngressHost, _Mapping]]] = ..., default_backend: _Optional[str] = ..., backends: _Optional[_Iterable[_Union[IngressBackend, _Mapping]]] = ..., certificates: _Optional[_Iterable[_Union[IngressCertificate, _Mapping]]] = ...) -> None: ...

class IngressHost(_message.Message):
    __slots__ = ("host", "paths", "default_backend")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_BACKEND_FIELD_NUMBER: _ClassVar[int]
    host: str
    paths: _containers.RepeatedCompositeFieldContainer[IngressPath]
    default_backend: str
    def __init__(self, host: _Optional[str] = ..., paths: _Optional[_Iterable[_Union[IngressPath, _Mapping]]] = ..., default_backend: _Optional[str] = ...) -> None: ...

class IngressPath(_message.Message):
    __slots__ = ("path", "path_type", "backend")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PATH_TYPE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    path: str
    path_type: str
    backend: str
    def __init__(self, path: _Optional[str] = ..., path_type: _Optional[str] = ..., backend: _Optional[str] = ...) -> None: ...

class IngressBackend(_message.Message):
    __slots__ = ("name", "endpoints")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    endpoints: _containers.RepeatedCompositeFieldContainer[ServiceBackend]
    def __init__(self, name: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[ServiceBackend, _Mapping]]] = ...) -> None: ...

class IngressCertificate(_message.Message):
    __slots__ = ("name", "hosts", "cert_pem", "key_pem")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    name: str
    hosts: _containers.RepeatedScalarFieldContainer[str]
    cert_pem: bytes
    key_pem: bytes
    def __init__(self, name: _Optional[str] = ..., hosts: _Optional[_Iterable[str]] = ..., cert_pem: _Optional[bytes] = ..., key_pem: _Optional[bytes] = ...) -> None: ...

class NodeVolumes(_message.Message):
    __slots__ = ("volumes",)
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[LocalVolume]
    def __init__(self, volumes: _Optional[_Iterable[_Union[LocalVolume, _Mapping]]] = ...) -> None: ...

class LocalVolume(_message.Message):
    __slots__ = ("name", "path", "capacity_bytes", "action", "claim")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KEEP: _ClassVar[LocalVolume.Action]
        DELETE: _ClassVar[LocalVolume.Action]
    KEEP: LocalVolume.Action
    DELETE: LocalVolume.Action
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    capacity_bytes: int
    action: LocalVolume.Action
    claim: str
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., action: _Optional[_Union[LocalVolume.Action, str]] = ..., claim: _Optional[str] = ...) -> None: ...

class PolicyTable(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[NetworkPolicyEntry]
    def __init__(self, policies: _Optional[_Iterable[_Union[NetworkPolicyEntry, _Mapping]]] = ...) -> None: ...

class NetworkPolicyEntry(_message.Message):
    __slots__ = ("namespace", "name", "ingress", "egress", "pods", "ingress_rules", "egress_rules")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INGRESS_FIELD_NUMBER: _ClassVar[int]
    EGRESS_FIELD_NUMBER: _ClassVar[int]
    PODS_FIELD_NUMBER: _ClassVar[int]
    INGRESS_RULES_FIELD_NUMBER: _ClassVar[int]
    EGRESS_RULES_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    ingress: bool
    egress: bool
    pods: _containers.RepeatedCompositeFieldContainer[PolicyPod]
    ingress_rules: _containers.RepeatedCompositeFieldContainer[PolicyRule]
    egress_rules: _containers.RepeatedCompositeFieldContainer[PolicyRule]
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., ingress: _Optional[bool] = ..., egress: _Optional[bool] = ..., pods: _Optional[_Iterable[_Union[PolicyPod, _Mapping]]] = ..., ingress_rules: _Optional[_Iterable[_Union[PolicyRule, _Mapping]]] = ..., egress_rules: _Optional[_Iterable[_Union[PolicyRule, _Mapping]]] = ...) -> None: ...

class PolicyPod(_message.Message):
    __slots__ = ("ip", "node", "ports")
    IP_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ip: str
    node: str
    ports: _containers.RepeatedCompositeFieldContainer[NamedPort]
    def __init__(self, ip: _Optional[str] = ..., node: _Optional[str] = ..., ports: _Optional[_Iterable[_Union[NamedPort, _Mapping]]] = ...) -> None: ...

class NamedPort(_message.Message):
    __slots__ = ("name", "protocol", "port")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    name: str
    protocol: str
    port: int
    def __init__(self, name: _Optional[str] = ..., protocol: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class PolicyRule(_message.Message):
    __slots__ = ("any_peer", "peers", "ports")
    ANY_PEER_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    any_peer: bool
    peers: _containers.RepeatedCompositeFieldContainer[PolicyPeer]
    ports: _containers.RepeatedCompositeFieldContainer[PolicyPort]
    def __init__(self, any_peer: _Optional[bool] = ..., peers: _Optional[_Iterable[_Union[PolicyPeer, _Mapping]]] = ..., ports: _Optional[_Iterable[_Union[PolicyPort, _Mapping]]] = ...) -> None: ...

class PolicyPeer(_message.Message):
    __slots__ = ("cidr", "except_cidrs", "pod", "ports")
    CIDR_FIELD_NUMBER: _ClassVar[int]
    EXCEPT_CIDRS_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    cidr: str
    except_cidrs: _containers.RepeatedScalarFieldContainer[str]
    pod: bool
    ports: _containers.RepeatedCompositeFieldContainer[NamedPort]
    def __init__(self, cidr: _Optional[str] = ..., except_cidrs: _Optional[_Iterable[str]] = ..., pod: _Optional[bool] = ..., ports: _Optional[_Iterable[_Union[NamedPort, _Mapping]]] = ...) -> None: ...

class PolicyPort(_message.Message):
    __slots__ = ("protocol", "port", "end_port", "name")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    END_PORT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    protocol: str
    port: int
    end_port: int
    name: str
    def __init__(self, protocol: _Optional[str] = ..., port: _Optional[int] = ..., end_port: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("message", "namespace", "name")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    message: str
    namespace: str
    name: str
    def __init__(self, message: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ("namespace", "pod", "container", "follow", "previous", "timestamps", "tail_lines", "since_seconds", "limit_bytes")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    SINCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    pod: str
    container: str
    follow: bool
    previous: bool
    timestamps: bool
    tail_lines: int
    since_seconds: int
    limit_bytes: int
    def __init__(self, namespace: _Optional[str] = ..., pod: _Optional[str] = ..., container: _Optional[str] = ..., follow: _Optional[bool] = ..., previous: _Optional[bool] = ..., timestamps: _Optional[bool] = ..., tail_lines: _Optional[int] = ..., since_seconds: _Optional[int] = ..., limit_bytes: _Optional[int] = ...) -> None: ...

class LogChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class ExecStart(_message.Message):
    __slots__ = ("namespace", "pod", "container", "command", "stdin", "tty")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    pod: str
    container: str
    command: _containers.RepeatedScalarFieldContainer[str]
    stdin: bool
    tty: bool
    def __init__(self, namespace: _Optional[str] = ..., pod: _Optional[str] = ..., container: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., stdin: _Optional[bool] = ..., tty: _Optional[bool] = ...) -> None: ...

class TerminalSize(_message.Message):
    __slots__ = ("width", "height")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ExecInput(_message.Message):
    __slots__ = ("start", "stdin", "resize", "close_stdin")
    START_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_STDIN_FIELD_NUMBER: _ClassVar[int]
    start: ExecStart
    stdin: bytes
    resize: TerminalSize
    close_stdin: bool
    def __init__(self, start: _Optional[_Union[ExecStart, _Mapping]] = ..., stdin: _Optional[bytes] = ..., resize: _Optional[_Union[TerminalSize, _Mapping]] = ..., close_stdin: _Optional[bool] = ...) -> None: ...

class ExecOutput(_message.Message):
    __slots__ = ("stdout", "stderr", "exit_code", "error")
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    stdout: bytes
    stderr: bytes
    exit_code: int
    error: str
    def __init__(self, stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., exit_code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class PortForwardStart(_message.Message):
    __slots__ = ("namespace", "pod", "uid", "port")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    pod: str
    uid: str
    port: int
    def __init__(self, namespace: _Optional[str] = ..., pod: _Optional[str] = ..., uid: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class PortForwardInput(_message.Message):
    __slots__ = ("start", "data", "close_write")
    START_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CLOSE_WRITE_FIELD_NUMBER: _ClassVar[int]
    start: PortForwardStart
    data: bytes
    close_write: bool
    def __init__(self, start: _Optional[_Union[PortForwardStart, _Mapping]] = ..., data: _Optional[bytes] = ..., close_write: _Optional[bool] = ...) -> None: ...

class PortForwardOutput(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...
