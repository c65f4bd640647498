"""A drawn or photographed digit -> a 28x28 uint8 image shaped like MNIST's.

MNIST's own recipe: white ink on black, the digit's bounding box scaled so its
longer side is 20 px (antialiased, aspect ratio kept), then placed in a 28x28
field so that its centre of mass sits at the centre. Everything before that
step is about turning a real image (canvas RGBA, a phone photo of dark ink on
uneven paper, JPEG noise) into clean white-on-black ink.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from scipy import ndimage

WORK_SIDE = 256     # images are reduced to at most this before cleaning: plenty for a 20 px digit
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000   # a 12 MP phone photo is 12 million; more is a decompression bomb
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP")
BOX = 20            # MNIST: the digit's longer side
FIELD = 28          # MNIST: the image side


def _to_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
        elif image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        return np.asarray(image)
    return np.asarray(image)


def _ink_map(arr: np.ndarray) -> np.ndarray:
    """Float (H, W) in [0, 1], ink bright on dark, from grayscale, RGB or RGBA (any dtype)."""
    arr = arr.astype(np.float32)
    if arr.max(initial=0) > 1.0:
        arr = arr / 255.0
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    alpha = None
    if arr.ndim == 3:
        if arr.shape[2] in (2, 4):
            alpha = arr[..., -1]
            arr = arr[..., :-1]
        gray = arr[..., 0] if arr.shape[2] == 1 else arr @ np.array([0.299, 0.587, 0.114], np.float32)
    else:
        gray = arr
    if alpha is not None and alpha.min() < 0.99:
        # Strokes on a transparent canvas: what was drawn is what is opaque, whatever its colour.
        return alpha
    # Polarity: the paper is what fills the border; dark paper means the ink is already bright.
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 1.0 - gray if np.median(border) > 0.5 else gray


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=128, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m = np.cumsum(p * centers)
    mt = m[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m) ** 2 / (w0 * (1 - w0))
    between = np.nan_to_num(between)
    return float(centers[int(np.argmax(between))])


class ImageError(ValueError):
    """An upload that is not a usable image; the message says why, for the user."""


def open_image(data: bytes) -> Image.Image:
    """Decode an uploaded PNG, JPEG or WebP safely: size, format and pixel count checked before decoding."""
    if not data:
        raise ImageError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"the file is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        image = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
    except UnidentifiedImageError:
        raise ImageError("not a PNG, JPEG or WebP image") from None
    except Image.DecompressionBombError:
        raise ImageError(f"too many pixels (limit {MAX_PIXELS // 10**6} million)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's parsers raise these on broken headers
        raise ImageError(f"the image could not be read ({exc.__class__.__name__})") from None
    w, h = image.size
    if w * h > MAX_PIXELS:
        raise ImageError(f"{w}x{h} pixels is too large (limit {MAX_PIXELS // 10**6} million pixels)")
    try:
        image.load()
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise ImageError(f"the image could not be read ({exc.__class__.__name__}: it may be truncated)") from None
    return ImageOps.exif_transpose(image)  # phone photos: upright as the camera held them


def _reduce(ink: np.ndarray, side: int) -> np.ndarray:
    h, w = ink.shape
    if max(h, w) > side:
        scale = side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        ink = np.asarray(Image.fromarray(ink, mode="F").resize(size, Image.BOX))
    return ink


def clean_ink(image, work_side: int = WORK_SIDE) -> np.ndarray | None:
    """Float (H, W) in [0, 1]: bright ink, background 0, at most ``work_side`` px; None when nothing is drawn."""
    ink = _ink_map(_to_array(image))
    if ink.ndim != 2 or ink.size == 0:
        raise ValueError(f"expected an image, got an array of shape {ink.shape}")
    ink = _reduce(ink.astype(np.float32), work_side)
    if ink.max() - ink.min() < 0.08:
        return None  # a blank canvas or an empty page
    # Uneven paper: subtract the background, estimated by a grey opening wider than any stroke.
    k = max(3, (min(ink.shape) // 3) | 1)
    ink = ink - ndimage.grey_opening(ndimage.median_filter(ink, 3), size=(k, k))
    ink = np.clip(ink, 0, None)
    top = np.percentile(ink, 99.5)
    if top < 0.08:
        return None
    ink = np.clip(ink / top, 0, 1)
    t = _otsu(ink)
    bg = ink[ink < t]
    lo = (bg.mean() if bg.size else 0.0) * 0.5 + t * 0.5
    ink = np.clip((ink - lo) / max(1e-6, 1 - lo), 0, 1)
    # Specks: keep connected pieces of ink with at least 5% of the largest piece's mass.
    labels, count = ndimage.label(ink > 0)
    if count == 0:
        return None
    mass = ndimage.sum(ink, labels, index=np.arange(1, count + 1))
    keep = np.zeros(count + 1, bool)
    keep[1:] = mass >= 0.05 * mass.max()
    return np.where(keep[labels], ink, 0.0).astype(np.float32)


def fit_to_mnist(ink: np.ndarray) -> np.ndarray | None:
    """Clean bright ink (H, W) -> MNIST-shaped uint8 (28, 28): 20 px box, centre of mass centred."""
    rows, cols = np.nonzero(ink > 0)
    if rows.size == 0:
        return None
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.LANCZOS))
    small = np.clip(small, 0, 1)
    if small.sum() <= 0:
        return None
    cy, cx = ndimage.center_of_mass(small)
    # MNIST's digits have their centre of mass at pixel (14, 14) (measured: 13.99, 14.01)
    top = int(np.clip(round(FIELD / 2 - cy), 0, FIELD - small.shape[0]))
    left = int(np.clip(round(FIELD / 2 - cx), 0, FIELD - small.shape[1]))
    out = np.zeros((FIELD, FIELD), np.float32)
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    out = out / max(out.max(), 1e-6)
    return np.round(out * 255).astype(np.uint8)


def to_mnist(image) -> np.ndarray | None:
    """Any drawn or photographed digit (PIL image or array: RGBA canvas, grayscale, colour)
    -> uint8 (28, 28) shaped like MNIST (white on black, 20 px box, centred by mass);
    ``None`` when nothing is drawn."""
    ink = clean_ink(image)
    return None if ink is None else fit_to_mnist(ink)


def split_digits(image, work_side: int = 4 * WORK_SIDE) -> list[np.ndarray]:
    """The digits of a written number, left to right, each MNIST-shaped (28, 28) uint8.

    Connected pieces of ink are grouped into digits when their horizontal
    extents overlap (a "5" or a "4" written in two strokes stays one digit).
    """
    ink = clean_ink(image, work_side=work_side)
    if ink is None:
        return []
    labels, count = ndimage.label(ink > 0)
    boxes = ndimage.find_objects(labels)
    pieces = sorted(range(count), key=lambda i: boxes[i][1].start)
    groups: list[list[int]] = []
    for i in pieces:
        cols = boxes[i][1]
        if groups:
            last = groups[-1]
            right = max(boxes[j][1].stop for j in last)
            left = min(boxes[j][1].start for j in last)
            overlap = min(right, cols.stop) - max(left, cols.start)
            if overlap > 0.5 * min(cols.stop - cols.start, right - left):
                last.append(i)
                continue
        groups.append([i])
    digits = []
    for group in groups:
        mask = np.isin(labels, [i + 1 for i in group])
        digit = fit_to_mnist(np.where(mask, ink, 0.0))
        if digit is not None:
            digits.append(digit)
    return digits


def photo_like(digit28: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit made to look photographed, to measure :func:`to_mnist` on:
    dark ink on light tinted paper, scaled 5-12x, off-centre on a larger canvas,
    uneven light, sensor noise, blur and JPEG compression."""
    scale = int(rng.integers(5, 13))
    side = 28 * scale
    ink = np.asarray(Image.fromarray(digit28).resize((side, side), Image.BICUBIC), dtype=np.float32) / 255
    pad_x, pad_y = int(rng.integers(side // 2, 2 * side)), int(rng.integers(side // 2, 2 * side))
    page = np.zeros((side + pad_y, side + pad_x), np.float32)
    top, left = int(rng.integers(0, pad_y)), int(rng.integers(0, pad_x))
    page[top:top + side, left:left + side] = np.clip(ink, 0, 1)
    paper, darkness = rng.uniform(200, 245), rng.uniform(0.6, 0.9)   # grey paper, ink not quite black
    light = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.9, 1.05), page.shape[1], dtype=np.float32)
    arr = paper * (1 - darkness * page) * light[None, :] + rng.normal(0, 6, page.shape).astype(np.float32)
    tint = rng.uniform(0.85, 1.0, 3).astype(np.float32)
    rgb = np.clip(arr[..., None] * tint, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0))).save(
        buf, "JPEG", quality=int(rng.integers(50, 90)))
    return Image.open(buf)
