"""Scripted handwriting: digits as mouse strokes on the page's 280x280 canvas, in distinct "hands".

A hand sets the slant, size, stroke doubling (a bolder pen) and a few letter
shapes (a 1 with a flag and a base, a crossed 7, an open 4); each example gets
its own small random jitter, as a person's digits do. Used by the browser
tests and by benchmarks/bench_handwriting.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _arc(cx, cy, rx, ry, start, end, n=14):
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


# Strokes in a unit box: x right 0..1, y down 0..1.
PLAIN = {
    0: [_arc(0.5, 0.5, 0.32, 0.45, -90, 270, 24)],
    1: [[(0.52, 0.05), (0.5, 0.95)]],
    2: [_arc(0.5, 0.3, 0.3, 0.25, 200, 380, 12) + [(0.2, 0.95), (0.85, 0.95)]],
    3: [_arc(0.48, 0.28, 0.28, 0.23, 200, 450, 12), _arc(0.48, 0.72, 0.3, 0.23, -90, 160, 12)],
    4: [[(0.65, 0.05), (0.15, 0.65), (0.85, 0.65)], [(0.65, 0.3), (0.65, 0.95)]],
    5: [[(0.8, 0.05), (0.28, 0.05), (0.24, 0.45)] + _arc(0.48, 0.67, 0.3, 0.28, -140, 150, 12)],
    6: [[(0.7, 0.05), (0.35, 0.35)] + _arc(0.5, 0.7, 0.28, 0.26, 200, 560, 18)],
    7: [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
    8: [_arc(0.5, 0.27, 0.24, 0.22, 90, 450, 16), _arc(0.5, 0.72, 0.3, 0.24, -90, 270, 18)],
    9: [_arc(0.5, 0.3, 0.28, 0.25, 0, 360, 16) + [(0.78, 0.3), (0.72, 0.95)]],
}
CONTINENTAL = {
    **PLAIN,
    1: [[(0.3, 0.25), (0.55, 0.05), (0.55, 0.95)], [(0.3, 0.95), (0.8, 0.95)]],
    7: [[(0.15, 0.12), (0.85, 0.05), (0.45, 0.95)], [(0.35, 0.5), (0.8, 0.5)]],
    4: [[(0.35, 0.05), (0.2, 0.6), (0.85, 0.6)], [(0.7, 0.3), (0.7, 0.95)]],
}


@dataclass(frozen=True)
class Hand:
    name: str
    shapes: dict
    slant: float        # shear: x moves by slant * (0.5 - y)
    size: float         # of the canvas side
    bold: bool          # each stroke drawn twice, a little apart
    jitter: float       # per-point noise, in unit-box units
    width: float = 0.8  # of the height

    def strokes(self, digit: int, rng: np.random.Generator, side: int = 280) -> list[list[tuple[float, float]]]:
        """The digit as canvas-pixel strokes, with this example's own jitter, size and position."""
        size = self.size * side * rng.uniform(0.9, 1.1)
        ox = (side - size * self.width) / 2 + rng.uniform(-0.06, 0.06) * side
        oy = (side - size) / 2 + rng.uniform(-0.06, 0.06) * side
        out = []
        for stroke in self.shapes[digit]:
            pts = []
            for x, y in stroke:
                x, y = x + rng.normal(0, self.jitter), y + rng.normal(0, self.jitter)
                x += self.slant * (0.5 - y)
                pts.append((ox + x * size * self.width, oy + y * size))
            out.append(pts)
            if self.bold:
                out.append([(x + 9, y + 5) for x, y in pts])
        return [[(min(max(x, 2), side - 2), min(max(y, 2), side - 2)) for x, y in s] for s in out]


HANDS = {
    "upright": Hand("upright", PLAIN, slant=0.0, size=0.8, bold=False, jitter=0.015),
    "slanted-bold": Hand("slanted-bold", CONTINENTAL, slant=0.9, size=0.5, bold=True, jitter=0.03),
    "wide-round": Hand("wide-round", CONTINENTAL, slant=-0.3, size=0.55, bold=True, jitter=0.03, width=1.3),
}


def render(strokes, side: int = 280, width: int = 18) -> np.ndarray:
    """Strokes drawn as the page's canvas draws them (white, round, ``width`` px on black): RGBA (side, side, 4)."""
    from PIL import Image, ImageDraw
    image = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        pen.line(stroke, fill=(255, 255, 255, 255), width=width, joint="curve")
        for x, y in stroke:
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=(255, 255, 255, 255))
    return np.array(image)


def examples(hand: Hand, per_digit: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_digit`` rounds of 0-9 in ``hand``, through the page's preprocessing (to_mnist)."""
    from mnist_core import to_mnist
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(10), per_digit)
    return np.stack([to_mnist(render(hand.strokes(int(d), rng))) for d in labels]), labels
