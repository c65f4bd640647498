import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from mnist_core import predict, to_mnist


def stroke_canvas(points, size=280, width=20, ink=(255, 255, 255, 255), background=(0, 0, 0, 0), mode="RGBA"):
    img = Image.new(mode, (size, size), background)
    ImageDraw.Draw(img).line(points, fill=ink, width=width, joint="curve")
    return img


def check_mnist_shape(out):
    assert out is not None and out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255
    rows, cols = np.nonzero(out > 30)
    assert max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) in range(18, 22)  # 20 px box
    cy, cx = ndimage.center_of_mass(out.astype(float))
    assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75  # MNIST: centre of mass at (14, 14)


def test_off_centre_stroke_on_transparent_canvas():
    # a "1" drawn near the top-left corner, as streamlit-drawable-canvas hands it back
    out = to_mnist(np.asarray(stroke_canvas([(40, 20), (50, 120)])))
    check_mnist_shape(out)


def test_dark_ink_on_white_paper_is_inverted():
    seven = [(60, 60), (200, 60), (110, 240)]
    white_on_black = to_mnist(stroke_canvas(seven, ink=255, background=0, mode="L"))
    black_on_white = to_mnist(stroke_canvas(seven, ink=0, background=255, mode="L"))
    check_mnist_shape(black_on_white)
    assert np.abs(white_on_black.astype(int) - black_on_white.astype(int)).mean() < 3


def test_colour_photo_with_uneven_light_and_noise():
    rng = np.random.default_rng(0)
    img = stroke_canvas([(300, 100), (320, 500)], size=640, width=18, ink=(20, 30, 90), background=(230, 220, 200), mode="RGB")
    arr = np.asarray(img).astype(float)
    arr *= np.linspace(0.6, 1.0, 640)[None, :, None]          # shadow across the page
    arr += rng.normal(0, 8, arr.shape)                          # sensor noise
    photo = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=60)
    out = to_mnist(Image.open(buf))
    check_mnist_shape(out)
    rows, cols = np.nonzero(out > 30)
    assert (rows.max() - rows.min()) > 3 * (cols.max() - cols.min())  # still a tall thin "1"


@pytest.mark.parametrize("blank", [
    np.zeros((280, 280, 4), np.uint8),                       # untouched canvas
    np.full((100, 80), 255, np.uint8),                        # blank white page
    np.random.default_rng(0).normal(128, 3, (64, 64)).clip(0, 255).astype(np.uint8),  # faint noise
])
def test_empty_drawing_gives_none(blank):
    assert to_mnist(blank) is None


def photo_like(digit28, rng):
    """An MNIST digit made to look photographed: dark ink on light, scaled, off-centre, noisy, JPEG."""
    scale = int(rng.integers(5, 13))
    big = Image.fromarray(255 - digit28).resize((28 * scale, 28 * scale), Image.BICUBIC)
    canvas = Image.new("L", (28 * scale + 200, 28 * scale + 150), 235)
    canvas.paste(big, (int(rng.integers(0, 200)), int(rng.integers(0, 150))))
    arr = np.asarray(canvas).astype(float) + rng.normal(0, 6, (canvas.height, canvas.width))
    rgb = np.stack([arr, arr * 0.95, arr * 0.85], axis=2).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(1)).save(buf, "JPEG", quality=70)
    return Image.open(buf)


def test_photographed_mnist_digits_are_read_almost_as_well(mnist, tutorial_result):
    rng = np.random.default_rng(0)
    images = mnist.test_images[:200].numpy()
    labels = mnist.test_labels[:200].numpy()
    direct = predict(tutorial_result.model, images).argmax(1)
    via_photo = np.stack([to_mnist(photo_like(img, rng)) for img in images])
    photo = predict(tutorial_result.model, via_photo).argmax(1)
    direct_acc, photo_acc = (direct == labels).mean(), (photo == labels).mean()
    assert photo_acc >= direct_acc - 0.05, (direct_acc, photo_acc)
