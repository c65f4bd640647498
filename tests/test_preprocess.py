import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from conftest import number_photo
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


@pytest.mark.parametrize("model_name", ["tutorial", "shipped"])
def test_photographed_mnist_digits_are_read_almost_as_well(mnist, tutorial_result, model_name):
    from mnist_core import load_checkpoint
    from mnist_core.checkpoint import pretrained_path
    from mnist_core.preprocess import photo_like
    model = tutorial_result.model if model_name == "tutorial" else load_checkpoint(pretrained_path())[0]
    rng = np.random.default_rng(0)
    images = mnist.test_images[:300].numpy()
    labels = mnist.test_labels[:300].numpy()
    direct = predict(model, images).argmax(1)
    via_photo = np.stack([to_mnist(photo_like(img, rng)) for img in images])
    photo = predict(model, via_photo).argmax(1)
    direct_acc, photo_acc = (direct == labels).mean(), (photo == labels).mean()
    assert photo_acc >= direct_acc - 0.03, (direct_acc, photo_acc)


def test_a_number_is_split_into_its_digits_left_to_right(mnist):
    from mnist_core import load_checkpoint
    from mnist_core.checkpoint import pretrained_path
    from mnist_core.preprocess import split_digits
    model, _ = load_checkpoint(pretrained_path())
    for number in ["2024", "1357", "90"]:
        digits = split_digits(number_photo(mnist, number))
        assert len(digits) == len(number)
        assert all(d.shape == (28, 28) for d in digits)
        assert "".join(str(int(p.argmax())) for p in predict(model, np.stack(digits))) == number


def test_a_digit_in_two_strokes_stays_one_digit():
    from mnist_core.preprocess import split_digits
    four = stroke_canvas([(80, 40), (60, 160), (200, 160)], ink=255, background=0, mode="L")
    ImageDraw.Draw(four).line([(170, 60), (170, 250)], fill=255, width=20)  # a separate second stroke
    assert len(split_digits(four)) == 1


def png_claiming(width, height):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"GIF89a not what we take", "not a PNG, JPEG or WebP"),
    (png_claiming(60000, 60000), "too many pixels"),
    (png_claiming(10000, 5000), "too large"),
    (b"\0" * (11 * 1024 * 1024), "limit is 10 MB"),
])
def test_bad_uploads_are_refused_with_a_reason(data, message):
    from mnist_core.preprocess import ImageError, open_image
    with pytest.raises(ImageError, match=message):
        open_image(data)


def test_truncated_upload_is_refused():
    from mnist_core.preprocess import ImageError, open_image
    buf = io.BytesIO()
    stroke_canvas([(100, 40), (100, 240)], mode="RGB", background=(255, 255, 255), ink=(0, 0, 0)).save(buf, "PNG")
    with pytest.raises(ImageError, match="could not be read"):
        open_image(buf.getvalue()[:-200])
