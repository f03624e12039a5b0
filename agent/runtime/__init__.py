"""Container runtimes behind one Protocol: `hollow` (simulated) now, `runc` later."""

from .base import ContainerState, Runtime, RuntimePod

__all__ = ["ContainerState", "Runtime", "RuntimePod"]
