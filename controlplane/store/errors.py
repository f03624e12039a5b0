"""Errors the store raises; the API layer maps each to one metav1.Status."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store error."""


class KeyExists(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class KeyNotFound(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class RevisionMismatch(StoreError):
    """A compare-and-swap found another mod_revision than the caller expected."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"{key}: expected revision {expected}, found {actual}")
        self.key, self.expected, self.actual = key, expected, actual


class Compacted(StoreError):
    """The requested revision is older than etcd's compaction point."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} is compacted (oldest available {compacted})")
        self.requested, self.compacted = requested, compacted


class Unavailable(StoreError):
    """etcd could not be reached (503: nothing was done, try again)."""


class Timeout(Unavailable):
    """etcd did not answer in time (504): a write may or may not have been applied."""
