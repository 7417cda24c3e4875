"""A small PNG line-chart writer (zlib + a 5x7 pixel font), since matplotlib is not a dependency.

Enough for the benchmark's figure: panels with log-log axes, one coloured line per target, a legend.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from dataclasses import dataclass, field

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (30, 30, 30)
GREY: Color = (215, 215, 215)
PALETTE: list[Color] = [
    (214, 39, 40),
    (31, 119, 180),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
]

# 5x7 glyphs, one 5-bit row per entry, top row first (upper case only: text is upper-cased).
_FONT: dict[str, tuple[int, ...]] = {
    "0": (14, 17, 19, 21, 25, 17, 14), "1": (4, 12, 4, 4, 4, 4, 14), "2": (14, 17, 1, 2, 4, 8, 31),
    "3": (31, 2, 4, 2, 1, 17, 14), "4": (2, 6, 10, 18, 31, 2, 2), "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14), "7": (31, 1, 2, 4, 8, 8, 8), "8": (14, 17, 17, 14, 17, 17, 14),
    "9": (14, 17, 17, 15, 1, 2, 12), "A": (14, 17, 17, 17, 31, 17, 17), "B": (30, 17, 17, 30, 17, 17, 30),
    "C": (14, 17, 16, 16, 16, 17, 14), "D": (28, 18, 17, 17, 17, 18, 28), "E": (31, 16, 16, 30, 16, 16, 31),
    "F": (31, 16, 16, 30, 16, 16, 16), "G": (14, 17, 16, 23, 17, 17, 15), "H": (17, 17, 17, 31, 17, 17, 17),
    "I": (14, 4, 4, 4, 4, 4, 14), "J": (7, 2, 2, 2, 2, 18, 12), "K": (17, 18, 20, 24, 20, 18, 17),
    "L": (16, 16, 16, 16, 16, 16, 31), "M": (17, 27, 21, 21, 17, 17, 17), "N": (17, 17, 25, 21, 19, 17, 17),
    "O": (14, 17, 17, 17, 17, 17, 14), "P": (30, 17, 17, 30, 16, 16, 16), "Q": (14, 17, 17, 17, 21, 18, 13),
    "R": (30, 17, 17, 30, 20, 18, 17), "S": (15, 16, 16, 14, 1, 1, 30), "T": (31, 4, 4, 4, 4, 4, 4),
    "U": (17, 17, 17, 17, 17, 17, 14), "V": (17, 17, 17, 17, 17, 10, 4), "W": (17, 17, 17, 21, 21, 21, 10),
    "X": (17, 17, 10, 4, 10, 17, 17), "Y": (17, 17, 17, 10, 4, 4, 4), "Z": (31, 1, 2, 4, 8, 16, 31),
    " ": (0,) * 7, ".": (0, 0, 0, 0, 0, 12, 12), "-": (0, 0, 0, 31, 0, 0, 0), "/": (0, 1, 2, 4, 8, 16, 0),
    "(": (2, 4, 8, 8, 8, 4, 2), ")": (8, 4, 2, 2, 2, 4, 8), ":": (0, 12, 12, 0, 12, 12, 0),
    "=": (0, 0, 31, 0, 31, 0, 0), "%": (24, 25, 2, 4, 8, 19, 3), "+": (0, 4, 4, 31, 4, 4, 0),
    ",": (0, 0, 0, 0, 12, 4, 8), "_": (0, 0, 0, 0, 0, 0, 31),
}  # fmt: skip


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(WHITE * (width * height))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = 3 * (y * self.width + x)
            self.pixels[offset : offset + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        for y in range(max(y0, 0), min(y1, self.height)):
            for x in range(max(x0, 0), min(x1, self.width)):
                self.dot(x, y, color)

    def line(
        self, x0: float, y0: float, x1: float, y1: float, color: Color, width: int = 1, dash: int = 0
    ) -> None:
        steps = max(int(max(abs(x1 - x0), abs(y1 - y0))), 1)
        half = width // 2
        for step in range(steps + 1):
            if dash and (step // dash) % 2:
                continue
            x = round(x0 + (x1 - x0) * step / steps)
            y = round(y0 + (y1 - y0) * step / steps)
            for dx in range(-half, width - half):
                for dy in range(-half, width - half):
                    self.dot(x + dx, y + dy, color)

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> int:
        """Draws `text` with its top-left at (x, y); returns the x after it."""
        for char in text.upper():
            rows = _FONT.get(char, _FONT[" "])
            for row, bits in enumerate(rows):
                for column in range(5):
                    if bits & (16 >> column):
                        self.rect(
                            x + column * scale,
                            y + row * scale,
                            x + (column + 1) * scale,
                            y + (row + 1) * scale,
                            color,
                        )
            x += 6 * scale
        return x

    @staticmethod
    def text_width(text: str, scale: int = 2) -> int:
        return 6 * scale * len(text)

    def png(self) -> bytes:
        rows = b"".join(
            b"\x00" + bytes(self.pixels[3 * y * self.width : 3 * (y + 1) * self.width])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b"")
        )


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    color: Color
    dash: int = 0


@dataclass
class Panel:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if low <= value <= high:
                ticks.append(value)
    return ticks


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}K"
    return f"{value:g}"


def draw_panel(canvas: Canvas, panel: Panel, x0: int, y0: int, width: int, height: int) -> None:
    points = [p for s in panel.series for p in s.points if p[0] > 0 and p[1] > 0]
    canvas.text(x0 + 10, y0 + 8, panel.title)
    left, top, right, bottom = x0 + 80, y0 + 60, x0 + width - 20, y0 + height - 50
    if not points:
        canvas.text(left + 20, top + 40, "NO DATA")
        return
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_low, x_high = min(xs) / 1.3, max(xs) * 1.3
    y_low, y_high = min(ys) / 1.6, max(ys) * 1.6

    def px(x: float) -> float:
        return left + (math.log10(x) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low)) * (
            right - left
        )

    def py(y: float) -> float:
        return bottom - (math.log10(y) - math.log10(y_low)) / (math.log10(y_high) - math.log10(y_low)) * (
            bottom - top
        )

    for tick in _log_ticks(y_low, y_high):
        y = round(py(tick))
        canvas.line(left, y, right, y, GREY)
        label = _fmt(tick)
        canvas.text(left - 8 - canvas.text_width(label), y - 7, label)
    for tick in sorted(set(xs)):
        x = round(px(tick))
        canvas.line(x, top, x, bottom, GREY)
        label = _fmt(tick)
        canvas.text(x - canvas.text_width(label) // 2, bottom + 8, label)
    canvas.line(left, bottom, right, bottom, BLACK, 2)
    canvas.line(left, top, left, bottom, BLACK, 2)
    canvas.text(
        left + (right - left) // 2 - canvas.text_width(panel.x_label) // 2, bottom + 28, panel.x_label
    )
    canvas.text(x0 + 10, y0 + 32, panel.y_label, (90, 90, 90))
    for series in panel.series:
        shown = sorted((x, y) for x, y in series.points if x > 0 and y > 0)
        for (xa, ya), (xb, yb) in itertools.pairwise(shown):
            canvas.line(px(xa), py(ya), px(xb), py(yb), series.color, 3, series.dash)
        for x, y in shown:
            canvas.rect(round(px(x)) - 4, round(py(y)) - 4, round(px(x)) + 5, round(py(y)) + 5, series.color)


def figure(panels: list[Panel], legend: list[tuple[str, Color, int]], columns: int = 2) -> bytes:
    panel_width, panel_height = 640, 440
    rows = math.ceil(len(panels) / columns)
    legend_height = 40 + 28 * math.ceil(len(legend) / 3)
    canvas = Canvas(panel_width * columns, panel_height * rows + legend_height)
    for index, panel in enumerate(panels):
        draw_panel(
            canvas,
            panel,
            (index % columns) * panel_width,
            (index // columns) * panel_height,
            panel_width,
            panel_height,
        )
    y = panel_height * rows + 16
    for index, (label, color, dash) in enumerate(legend):
        x = 30 + (index % 3) * 420
        row_y = y + 28 * (index // 3)
        canvas.line(x, row_y + 7, x + 50, row_y + 7, color, 3, dash)
        canvas.text(x + 62, row_y, label)
    return canvas.png()
