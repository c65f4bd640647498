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

from .i18n import N_, Translatable

WORK_SIDE = 256     # images are reduced to at most this before cleaning: plenty for a 20 px digit
NUMBER_SIDE = 4 * WORK_SIDE   # a written number is cleaned at this size; an upload is decoded to at most this
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000   # a 12 MP phone photo is 12 million; more is a decompression bomb
DECODE_BUDGET = 64 * 2**20  # bytes one upload may take while it is decoded and reduced to NUMBER_SIDE
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP")
BOX = 20            # MNIST: the digit's longer side
FIELD = 28          # MNIST: the image side
NOISE_AGREEMENT = 0.4  # ink whose pixels agree less with their neighbours is noise (see clean_ink)

# Bytes per pixel that decoding a PNG takes, and converting it to a mode that can be resized (a palette
# to RGB(A), 16-bit grey kept); RGBA and LA are also copied premultiplied while they are resized.
_PNG_BYTES = {"1": 2, "L": 1, "P": 5, "I;16": 2, "I;16B": 2, "I": 4, "RGB": 4, "LA": 8, "RGBA": 8}
_WEBP_BYTES = 16    # measured: Pillow's WebP decoder holds about four RGBA copies at full size


def _plain_mode(image: Image.Image) -> Image.Image:
    """The image in a mode that numpy and resizing take as it is: L, LA, RGB, RGBA, 16-bit grey, I or F.
    Palettes, bilevel, CMYK, YCbCr and premultiplied modes are converted; a transparency entry becomes alpha."""
    mode = image.mode
    if mode in ("LA", "RGBA", "I", "F") or mode.startswith("I;16"):
        return image
    if mode in ("L", "RGB") and "transparency" not in image.info:
        return image
    if mode == "1":
        return image.convert("L")
    alpha = "A" in mode or "a" in mode or "transparency" in image.info
    return image.convert("RGBA" if alpha else "RGB")


def _unit(arr: np.ndarray) -> np.ndarray:
    """Pixel values as float32 in [0, 1], scaled by their bit depth: 8-bit by 255, 16-bit by 65535.
    Integers wider than 16 bits and floats are scaled by the range their values use (0-1, 0-255, 0-65535)."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    values = np.clip(arr.astype(np.float32), 0, None)
    top = float(values.max(initial=0))
    if arr.dtype.kind in "ui" and arr.dtype.itemsize == 2:
        full = 65535.0
    elif top <= 1.0 and arr.dtype.kind == "f":
        full = 1.0
    else:
        full = next((f for f in (255.0, 65535.0) if top <= f), top)
    return values / full


def _pixels(image) -> np.ndarray:
    """A PIL image (any mode) or an array -> float32 (H, W) or (H, W, C) in [0, 1]; alpha is the last
    channel when C is 2 or 4. An array that is not an image raises ValueError."""
    arr = np.asarray(_plain_mode(image)) if isinstance(image, Image.Image) else np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.size == 0 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (2, 3, 4))):
        raise ValueError(f"expected an image (H, W) or (H, W, channels), got an array of shape {arr.shape}")
    return _unit(arr)


def _flatten(arr: np.ndarray) -> np.ndarray:
    """Float (H, W[, C]) in [0, 1] -> (H, W) or (H, W, 3) without alpha: transparency is paper, not ink.

    Transparent pixels take the paper's colour. The paper is the colour most opaque pixels share when
    they hold a picture (dark ink on a scan with transparent margins); when every opaque pixel has the
    same colour, the opaque pixels are the strokes (a canvas) and the paper is the opposite of them."""
    if arr.ndim == 2 or arr.shape[2] == 3:
        return arr
    colour, alpha = arr[..., :-1], arr[..., -1:]
    if arr.shape[2] == 2:
        colour = colour[..., 0:1]
    if alpha.min() >= 0.99:
        return colour[..., 0] if colour.shape[2] == 1 else colour
    opaque = colour[alpha[..., 0] > 0.5]                        # (N, C)
    if len(opaque) == 0:
        paper = np.zeros(colour.shape[2], np.float32)           # nothing opaque: nothing drawn
    else:
        typical = np.median(opaque, axis=0)
        picture = np.mean(np.abs(opaque - typical).max(axis=1) > 0.25) > 0.002
        paper = typical if picture else np.full_like(typical, 0.0 if typical.mean() > 0.5 else 1.0)
    flat = colour * alpha + paper * (1 - alpha)
    return flat[..., 0] if flat.shape[2] == 1 else flat


def _ink_map(flat: np.ndarray) -> np.ndarray:
    """Float (H, W) in [0, 1], ink bright on dark, from a flattened (H, W) or (H, W, 3) image."""
    gray = flat if flat.ndim == 2 else flat @ np.array([0.299, 0.587, 0.114], np.float32)
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


class ImageError(Translatable, ValueError):
    """An upload that is not a usable image; the message says why, for the user."""


def _decode_bytes(image: Image.Image, size: tuple[int, int]) -> float:
    """Bytes that decoding this opened upload and reducing it to NUMBER_SIDE take, from its header alone.
    ``size`` is its size before a JPEG's draft."""
    w, h = image.size
    if image.format == "JPEG":
        cost = w * h * 4                  # the drafted image: libjpeg scales baseline JPEGs while decoding
        if image.info.get("progressive") or image.info.get("progression"):
            # ...but keeps every DCT coefficient of a progressive one: 2 bytes per sample at full size
            blocks = [hs * vs for _, hs, vs, _ in image.layer]
            cost += size[0] * size[1] * 2 * sum(blocks) / max(blocks)
        return cost
    return w * h * (_WEBP_BYTES if image.format == "WEBP" else _PNG_BYTES.get(image.mode, 8))


def open_image(data: bytes) -> Image.Image:
    """Decode an uploaded PNG, JPEG or WebP safely -> an 8-bit 'L' or 'RGB' image of at most NUMBER_SIDE px.

    Size, format and pixel count are checked before decoding, and so is the memory the decoding takes
    (at most DECODE_BUDGET): a JPEG is decoded already scaled down, a PNG or WebP must be decoded whole.
    16-bit images are scaled to 8 bits, palettes and CMYK converted, transparency made paper."""
    if not data:
        raise ImageError(N_("the file is empty"))
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(N_("the file is {size:.1f} MB; the limit is {limit} MB"), size=len(data) / 2**20,
                         limit=MAX_UPLOAD_BYTES // 2**20)
    try:
        image = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
    except UnidentifiedImageError:
        raise ImageError(N_("not a PNG, JPEG or WebP image")) from None
    except Image.DecompressionBombError:
        raise ImageError(N_("too many pixels (limit {limit} million)"), limit=MAX_PIXELS // 10**6) from None
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's parsers raise these on broken headers
        raise ImageError(N_("the image could not be read ({reason})"), reason=exc.__class__.__name__) from None
    w, h = image.size
    if w * h > MAX_PIXELS:
        raise ImageError(N_("{width}x{height} pixels is too large (limit {limit} million pixels)"), width=w, height=h,
                         limit=MAX_PIXELS // 10**6)
    if image.format == "JPEG":
        image.draft(image.mode, (-(-w * NUMBER_SIDE // max(w, h)), -(-h * NUMBER_SIDE // max(w, h))))
    cost = _decode_bytes(image, (w, h))
    if cost > DECODE_BUDGET:
        kind = "progressive JPEG" if image.format == "JPEG" else image.format.replace("WEBP", "WebP")
        limit = w * h * DECODE_BUDGET / cost / 10**6
        raise ImageError(N_("{width}x{height} pixels is too large for a {kind} like this one (limit {limit:.1f} "
                            "million pixels); a smaller copy is fine") if image.format == "JPEG" else
                         N_("{width}x{height} pixels is too large for a {kind} like this one (limit {limit:.1f} "
                            "million pixels); a smaller copy, or a JPEG, is fine"),
                         width=w, height=h, kind=kind, limit=limit)
    try:
        image.load()
        image = _plain_mode(image)
        image.thumbnail((NUMBER_SIDE, NUMBER_SIDE), Image.BOX)   # more is never used
        image = ImageOps.exif_transpose(image)  # phone photos: upright as the camera held them
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise ImageError(N_("the image could not be read ({reason}: it may be truncated)"),
                         reason=exc.__class__.__name__) from None
    return Image.fromarray(np.round(_flatten(_pixels(image)) * 255).astype(np.uint8))


def _reduce(ink: np.ndarray, side: int) -> np.ndarray:
    h, w = ink.shape
    if max(h, w) > side:
        scale = side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        ink = np.asarray(Image.fromarray(ink, mode="F").resize(size, Image.BOX))
    return ink


def _neighbour_agreement(mask: np.ndarray) -> float:
    """How much a pixel of ``mask`` predicts its neighbour: the largest correlation of the mask with
    itself moved one pixel across, down or along a diagonal (a stroke runs in one of them)."""
    best = 0.0
    for a, b in ((mask[:, 1:], mask[:, :-1]), (mask[1:], mask[:-1]),
                 (mask[1:, 1:], mask[:-1, :-1]), (mask[1:, :-1], mask[:-1, 1:])):
        pa, pb = a.mean(), b.mean()
        spread = np.sqrt(pa * (1 - pa) * pb * (1 - pb))
        if spread > 0:
            best = max(best, float(((a & b).mean() - pa * pb) / spread))
    return best


def _median3(ink: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.median_filter(ink, 3)``, equal to it pixel for pixel, in two thirds of its time (Pillow's
    rank filter; at a 1-pixel border Pillow's edge copy and SciPy's reflection pad alike): the filter was a
    quarter of a stroke's preprocessing (benchmarks/README.md, section 15)."""
    image = Image.fromarray(np.ascontiguousarray(ink, dtype=np.float32), mode="F")
    return np.asarray(image.filter(ImageFilter.MedianFilter(3)))


def clean_ink(image, work_side: int = WORK_SIDE) -> np.ndarray | None:
    """Float (H, W) in [0, 1]: bright ink, background 0, at most ``work_side`` px; None when nothing is drawn
    (or what is there is random pixels)."""
    from scipy import ndimage  # here, not at import: the CLI and the training never need it
    ink = _reduce(_ink_map(_flatten(_pixels(image))), work_side)
    if ink.max() - ink.min() < 0.08:
        return None  # a blank canvas or an empty page
    # Uneven paper: subtract the background, estimated by a grey opening wider than any stroke.
    k = max(3, (min(ink.shape) // 3) | 1)
    ink = ink - ndimage.grey_opening(_median3(ink), size=(k, k))
    ink = np.clip(ink, 0, None)
    top = np.percentile(ink, 99.5)
    if top < 0.08:
        return None
    ink = np.clip(ink / top, 0, 1)
    t = _otsu(ink)
    bg = ink[ink < t]
    lo = (bg.mean() if bg.size else 0.0) * 0.5 + t * 0.5
    ink = np.clip((ink - lo) / max(1e-6, 1 - lo), 0, 1)
    # Random pixels are not handwriting: along a stroke, even a thin one, a pixel of ink has ink beside it
    # (agreement 0.54 or more measured on MNIST digits, photos and 1 px circles); in noise it has not (0.25 or less).
    if _neighbour_agreement(ink > 0) < NOISE_AGREEMENT:
        return None
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
    from scipy import ndimage
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
    ``None`` when nothing is drawn or the image is noise. An array that is not an image
    ((H, W) or (H, W, 1-4 channels), not empty) raises ValueError."""
    ink = clean_ink(image)
    return None if ink is None else fit_to_mnist(ink)


def split_digits(image, work_side: int = NUMBER_SIDE) -> list[np.ndarray]:
    """The digits of a written number, left to right, each MNIST-shaped (28, 28) uint8.

    Connected pieces of ink are grouped into digits when their horizontal
    extents overlap (a "5" or a "4" written in two strokes stays one digit).
    """
    from scipy import ndimage
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
