"""etcd access: the only package that talks to etcd."""

from .errors import Compacted, KeyExists, KeyNotFound, RevisionMismatch, StoreError, Timeout, Unavailable
from .etcd import KV, Store, WatchEvent

__all__ = [
    "KV", "Store", "WatchEvent", "StoreError", "KeyExists", "KeyNotFound",
    "RevisionMismatch", "Compacted", "Unavailable", "Timeout",
]
