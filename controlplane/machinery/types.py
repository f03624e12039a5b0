"""The one name for a Kubernetes object as the code handles it: decoded JSON."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
"""A Kubernetes object (or any part of one) as decoded from JSON: apiVersion, kind, metadata, ..."""
