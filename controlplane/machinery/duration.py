"""Durations as Kubernetes prints them (apimachinery `duration.HumanDuration`)."""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """2-3 significant figures, as kubectl's AGE column: 45s, 3m20s, 2h5m, 6d3h, 2y30d."""
    s = int(seconds)  # Go truncates toward zero; up to 1s of clock skew still reads as "0s"
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    days = hours // 24
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"
