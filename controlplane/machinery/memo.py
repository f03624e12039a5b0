"""Remembered answers of pure functions of JSON data, for the API server's hot paths.

Objects of one template (a Deployment's pods, a benchmark's creates) differ in their metadata
and repeat their spec byte for byte: what is a function of the spec alone (its rules, its pod
security verdict) is answered once per distinct spec. The key is the spec's JSON encoding
(`jsonio.dumps`, a microsecond for a pod's), which is exact: values with one encoding are equal,
so they get one answer; equal values encoded differently (keys in another order) only miss.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A bounded map of answers, emptied whole when full: no bookkeeping per hit (an LRU's
    reordering costs as much as some of the answers), and the working set refills at once."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._answers: dict[K, V] = {}

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The answer remembered for `key`, else `compute()`'s (never None), remembered."""
        answers = self._answers
        found = answers.get(key)
        if found is None:
            if len(answers) >= self.size:
                answers.clear()
            found = answers[_kept(key)] = _kept(compute())
        return found

    def clear(self) -> None:
        self._answers.clear()

    def __len__(self) -> int:
        return len(self._answers)


def _kept(value: Any) -> Any:
    """`value` with its bytes (in tuples too) copied to buffers of their own size: orjson's
    output holds an over-allocated one (4 KB for a 0.5 KB pod spec, however small it looks to
    sys.getsizeof), which a thousand remembered keys would keep."""
    if isinstance(value, bytes):
        return bytes(memoryview(value))
    if isinstance(value, tuple):
        return tuple(_kept(v) for v in value)
    return value
