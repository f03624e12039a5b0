"""The report's plots, written as PNG by a tiny encoder (zlib + struct, no plotting library):
the project installs no plotting package, and a latency CDF or a rate over time needs only
lines on a grid."""

from __future__ import annotations

import math
import struct
import zlib

W, H, MARGIN = 900, 420, 30
LOW, HIGH = -4, 3  # x axis: 10^-4 s (0.1 ms) .. 10^3 s, log scale
PALETTE = [("red", (220, 40, 40)), ("blue", (40, 80, 220)), ("green", (30, 160, 60)),
           ("orange", (240, 150, 20)), ("purple", (140, 60, 180)), ("black", (0, 0, 0)),
           ("cyan", (20, 180, 200)), ("brown", (140, 90, 40)), ("magenta", (220, 40, 200)),
           ("olive", (120, 130, 20)), ("pink", (250, 140, 170)), ("navy", (20, 30, 110))]


# A 3×5 pixel font for the axis labels: only the characters they use.
GLYPHS = {"0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
          "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
          "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "/": "001001010100100",
          "m": "000000111111101", "s": "000111110011111", "p": "000111101111100", "o": "000000111101111",
          "d": "001001111101111"}
DECADES = {-4: "0.1ms", -3: "1ms", -2: "10ms", -1: "100ms", 0: "1s", 1: "10s", 2: "100s", 3: "1000s"}


class Canvas:
    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x: int, y: int, rgb: tuple[int, int, int]) -> None:
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(rgb)

    def line(self, x0: int, y0: int, x1: int, y1: int, rgb: tuple[int, int, int]) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in range(steps + 1):
            x, y = x0 + (x1 - x0) * s // steps, y0 + (y1 - y0) * s // steps
            self.dot(x, y, rgb)
            self.dot(x, y + 1, rgb)  # two pixels thick: readable when scaled down

    def text(self, x: int, y: int, label: str, scale: int = 2) -> None:
        """`label` with its top-left corner at (x, y), in grey."""
        for i, ch in enumerate(label):
            bits = GLYPHS[ch]
            for b, on in enumerate(bits):
                if on == "1":
                    for dx in range(scale):
                        for dy in range(scale):
                            self.dot(x + (i * 4 + b % 3) * scale + dx, y + b // 3 * scale + dy, (90, 90, 90))

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        stride = self.w * 3
        raw = b"".join(b"\0" + bytes(self.px[y * stride:(y + 1) * stride]) for y in range(self.h))
        header = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def cdf_png(series: dict[str, list[float]]) -> tuple[bytes, list[tuple[str, str]]]:
    """The PNG and its legend: (label, colour name) per series, in drawing order."""
    c = Canvas(W, H)
    left, right, top, bottom = MARGIN, W - MARGIN, MARGIN, H - MARGIN

    def x_of(seconds: float) -> int:
        v = min(max(math.log10(max(seconds, 1e-9)), LOW), HIGH)
        return left + round((v - LOW) / (HIGH - LOW) * (right - left))

    def y_of(frac: float) -> int:
        return bottom - round(frac * (bottom - top))

    for decade in range(LOW, HIGH + 1):
        x = x_of(10.0 ** decade)
        c.line(x, top, x, bottom, (200, 200, 200))
        label = DECADES[decade]
        c.text(x - len(label) * 4, bottom + 8, label)
    for frac, label in ((0.5, "0.5"), (0.99, "0.99")):
        c.line(left, y_of(frac), right, y_of(frac), (230, 230, 230))
        c.text(left + 4, y_of(frac) + 4, label)
    c.line(left, bottom, right, bottom, (0, 0, 0))
    c.line(left, top, left, bottom, (0, 0, 0))
    legend = []
    for (label, values), (name, rgb) in zip(series.items(), PALETTE):
        if not values:
            continue
        ordered = sorted(values)
        prev = (x_of(ordered[0]), y_of(0))
        for i, v in enumerate(ordered, 1):
            point = (x_of(v), y_of(i / len(ordered)))
            c.line(*prev, *point, rgb)
            prev = point
        legend.append((label, name))
    return c.png(), legend


def nice_step(top: float, ticks: int = 5) -> float:
    """A round grid step (1, 2 or 5 × 10^k) giving about `ticks` lines up to `top`."""
    raw = max(top, 1e-9) / ticks
    base = 10.0 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw)


def timeline_png(series: dict[str, list[tuple[float, float]]], unit: str = "pods/s"
                 ) -> tuple[bytes, list[tuple[str, str]]]:
    """A rate over time (x: seconds since the start, y: `unit`, both linear from 0) as a PNG
    and its legend: (label, colour name) per series, in drawing order."""
    c = Canvas(W, H)
    left, right, top, bottom = MARGIN + 30, W - MARGIN, MARGIN, H - MARGIN
    points = [p for values in series.values() for p in values]
    x_max = max((x for x, _ in points), default=1.0) or 1.0
    y_max = max((y for _, y in points), default=1.0) or 1.0
    x_step, y_step = nice_step(x_max, 10), nice_step(y_max)
    x_max = math.ceil(x_max / x_step) * x_step
    y_max = math.ceil(y_max / y_step) * y_step

    def at(x: float, y: float) -> tuple[int, int]:
        return left + round(x / x_max * (right - left)), bottom - round(y / y_max * (bottom - top))

    for i in range(round(x_max / x_step) + 1):
        x, _ = at(i * x_step, 0)
        c.line(x, top, x, bottom, (225, 225, 225))
        label = f"{i * x_step:g}s"
        c.text(x - len(label) * 4, bottom + 8, label)
    for i in range(1, round(y_max / y_step) + 1):
        _, y = at(0, i * y_step)
        c.line(left, y, right, y, (225, 225, 225))
        label = f"{i * y_step:g}"
        c.text(left - 4 - len(label) * 8, y - 5, label)
    c.text(left + 6, top - 14, unit)
    c.line(left, bottom, right, bottom, (0, 0, 0))
    c.line(left, top, left, bottom, (0, 0, 0))
    legend = []
    for (label, values), (name, rgb) in zip(series.items(), PALETTE):
        if not values:
            continue
        prev = at(0, 0)
        for x, y in values:  # a step per bin: the rate held over the interval it was counted in
            point = at(x, y)
            c.line(*prev, prev[0], point[1], rgb)
            c.line(prev[0], point[1], *point, rgb)
            prev = point
        legend.append((label, name))
    return c.png(), legend
