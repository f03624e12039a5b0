"""A kind served in a second version, converted to and from the version it is stored in.

HorizontalPodAutoscaler is stored as autoscaling/v2 and also served as autoscaling/v1, as
kube-apiserver serves one object through every version of its group. A `ConvertedKind` names
the stored kind and two pure functions; the API server converts at its edges (storage.py on
writes, the handlers and watch on reads), so every verb, patch type and subresource works on
the served version's representation while etcd holds one version only. Conversion must be
lossless both ways (kube keeps what the older version has no field for in annotations).
"""

from __future__ import annotations

from typing import Callable

from ..machinery.types import Obj
from .info import ResourceInfo
from .kind import Kind

Convert = Callable[[Obj], Obj]


class ConvertedKind(Kind):
    def __init__(self, info: ResourceInfo, storage: Kind, *, to_storage: Convert, from_storage: Convert) -> None:
        super().__init__(info, printer=storage.printer)
        self.storage = storage
        self._to, self._from = to_storage, from_storage

    @property
    def storage_version(self) -> str:
        return self.storage.info.api_version

    def to_storage(self, obj: Obj) -> Obj:
        """The served version's object as the stored version (a new object)."""
        return {"kind": self.storage.info.kind, "apiVersion": self.storage.info.api_version, **self._to(obj)}

    def from_storage(self, obj: Obj) -> Obj:
        """The stored object as the served version (a new object; `obj` is not changed)."""
        return {"kind": self.info.kind, "apiVersion": self.info.api_version, **self._from(obj)}

    def schema(self) -> None:
        return None  # objects are checked as the stored version, after conversion


def converted(kind: Kind) -> ConvertedKind | None:
    return kind if isinstance(kind, ConvertedKind) else None
