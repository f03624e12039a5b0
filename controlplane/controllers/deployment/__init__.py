"""The Deployment controller: ReplicaSets per pod template, rolled out by strategy.

    controller = DeploymentController(api_client)
    await controller.start()
    ...
    await controller.stop()

Modules: controller.py (informers, queue, ownership), sync.py (the writes), rolling.py and
recreate.py (the strategies), progress.py (status and conditions), rollback.py (revision
history, shared with `pyctl rollout`), util.py (pure helpers).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DeploymentController"]


def __getattr__(name: str) -> Any:
    # Lazy: the ReplicaSet controller imports util.py from here without the whole controller.
    if name == "DeploymentController":
        from .controller import DeploymentController
        return DeploymentController
    raise AttributeError(name)
