import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from scipy import ndimage

from helpers import number_photo
from mnist_core import predict, read_number, to_mnist


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


def test_photographed_mnist_digits_are_read_almost_as_well(mnist, tutorial_result):
    from mnist_core import load_checkpoint
    from mnist_core.checkpoint import pretrained_path
    from mnist_core.preprocess import photo_like
    # 150 digits, each photographed once (44 ms each): direct and through a photo, the tutorial's model read
    # 93.3% and 96.0% of them, the shipped CNN 100% and 100% (on 300: 93.0/93.3%, 99.7/99.7%)
    rng = np.random.default_rng(0)
    images = mnist.test_images[:150].numpy()
    labels = mnist.test_labels[:150].numpy()
    via_photo = np.stack([to_mnist(photo_like(img, rng)) for img in images])  # once, for both models
    for model in (tutorial_result.model, load_checkpoint(pretrained_path())[0]):
        direct_acc = (predict(model, images).argmax(1) == labels).mean()
        photo_acc = (predict(model, via_photo).argmax(1) == labels).mean()
        assert photo_acc >= direct_acc - 0.03, (model.registry_name, direct_acc, photo_acc)


def test_a_number_is_split_into_its_digits_left_to_right(mnist):
    from mnist_core import load_checkpoint
    from mnist_core.checkpoint import pretrained_path
    model, _ = load_checkpoint(pretrained_path())
    for number in ["2024", "1357", "90"]:
        read, digits, probs = read_number(model, number_photo(mnist, number))
        assert len(digits) == len(number) and probs.shape == (len(number), 10)
        assert all(d.shape == (28, 28) for d in digits)
        assert read == number


def test_a_digit_in_two_strokes_stays_one_digit():
    from mnist_core.preprocess import split_digits
    four = stroke_canvas([(80, 40), (60, 160), (200, 160)], ink=255, background=0, mode="L")
    ImageDraw.Draw(four).line([(170, 60), (170, 250)], fill=255, width=20)  # a separate second stroke
    assert len(split_digits(four)) == 1


def png_file(width, height, bit_depth, colour_type, pixels: bytes) -> bytes:
    """A PNG written by hand: Pillow cannot write 16-bit colour, nor a header that lies about the size."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels))
            + chunk(b"IEND", b""))


def png_claiming(width, height, colour_type=0):
    return png_file(width, height, 8, colour_type, b"\0" * 1000)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"GIF89a not what we take", "not a PNG, JPEG or WebP"),
    (png_claiming(60000, 60000), "too many pixels"),
    (png_claiming(10000, 5000), "too large"),
    (b"\0" * (11 * 1024 * 1024), "limit is 10 MB"),
], ids=["empty", "GIF", "PNG 60000x60000", "PNG 10000x5000", "11 MB"])  # not the bytes: an id of 44 MB
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


# Uploads in every mode Pillow decodes: 16-bit grey, palettes, bilevel, grey + alpha, CMYK, 16-bit colour.

def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def png_16bit(image: Image.Image) -> bytes:
    """An 8-bit 'L' or 'RGB' image as a 16-bit grey or RGB PNG; the low byte is not a copy of the high one."""
    arr16 = np.asarray(image).astype(np.uint16) * 256 + 100
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in arr16)
    return png_file(arr16.shape[1], arr16.shape[0], 16, 0 if arr16.ndim == 2 else 2, rows)


@pytest.fixture(scope="module")
def shipped_model():
    from mnist_core import load_checkpoint
    from mnist_core.checkpoint import pretrained_path
    return load_checkpoint(pretrained_path())[0]


def blue_on_cream(grey) -> Image.Image:
    return ImageOps.colorize(Image.fromarray(np.asarray(grey)), black=(20, 30, 110), white=(245, 235, 200))


UPLOAD_VARIANTS = {  # name: (the 8-bit image it encodes, from the grey or the colour photo; its file)
    "8-bit grey PNG": (lambda grey, colour: grey, lambda image: encoded(image)),
    "16-bit grey PNG (I;16)": (lambda grey, colour: grey, png_16bit),
    "16-bit RGB PNG": (lambda grey, colour: colour, png_16bit),
    "palette PNG": (lambda grey, colour: colour.convert("P", palette=Image.ADAPTIVE).convert("RGB"),
                    lambda image: encoded(image.convert("P", palette=Image.ADAPTIVE))),
    "bilevel PNG": (lambda grey, colour: grey.point(lambda v: 255 if v > 128 else 0),
                    lambda image: encoded(image.convert("1"))),
    "grey + alpha PNG": (lambda grey, colour: grey, lambda image: encoded(image.convert("LA"))),
    "CMYK JPEG": (lambda grey, colour: colour, lambda image: encoded(image.convert("CMYK"), "JPEG", quality=95)),
    "WebP": (lambda grey, colour: colour, lambda image: encoded(image, "WEBP", quality=95)),
}


@pytest.mark.parametrize("variant", list(UPLOAD_VARIANTS))
def test_an_upload_in_any_mode_reads_like_the_8_bit_one(mnist, shipped_model, variant):
    from mnist_core.preprocess import open_image
    grey = number_photo(mnist, "2024")
    colour = blue_on_cream(grey)
    source, encode = UPLOAD_VARIANTS[variant]
    expected = source(grey, colour)
    image = open_image(encode(expected))
    assert image.mode in ("L", "RGB")
    difference = np.abs(np.asarray(image.convert("L"), int) - np.asarray(expected.convert("L"), int))
    assert difference.mean() < 2, difference.mean()
    assert read_number(shipped_model, image)[0] == "2024"
    image.thumbnail((640, 640))
    encoded(image, "JPEG")  # what the page's display copy goes through: "cannot write mode I;16 as JPEG" before


def test_16_bit_grey_is_scaled_not_clamped(mnist):
    from mnist_core.preprocess import open_image
    photo = number_photo(mnist, "7")
    eight = np.asarray(open_image(encoded(photo)), dtype=int)
    sixteen = np.asarray(open_image(png_16bit(photo)), dtype=int)
    assert np.abs(eight - sixteen).max() <= 1


def test_a_dim_16_bit_image_stays_dim():
    from mnist_core.preprocess import open_image
    dim = np.tile(np.arange(0, 256, 4, dtype=np.uint16), (64, 1))   # 16-bit values 0-252 of 65535: near black
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in dim)
    assert np.asarray(open_image(png_file(64, 64, 16, 0, rows))).max() <= 1


@pytest.mark.parametrize("convert", [
    lambda g: Image.fromarray(g.astype(np.uint16) * 257),                       # I;16
    lambda g: Image.fromarray(g.astype(np.int32) * 257),                        # I, 16-bit values
    lambda g: Image.fromarray(g.astype(np.int32)),                              # I, 8-bit values
    lambda g: Image.fromarray(g.astype(np.float32) / 255),                      # F in 0..1
    lambda g: blue_on_cream(g).convert("P", palette=Image.ADAPTIVE),
    lambda g: blue_on_cream(g).convert("CMYK"),
    lambda g: blue_on_cream(g).convert("RGBA").convert("RGBa"),                 # premultiplied
    lambda g: g.astype(np.uint16) * 257,                                        # a 16-bit array
], ids=["I;16", "I 16-bit", "I 8-bit", "F", "P", "CMYK", "RGBa", "uint16 array"])
def test_to_mnist_takes_every_mode(convert):
    seven = np.asarray(stroke_canvas([(60, 60), (200, 60), (110, 240)], ink=30, background=230, mode="L"))
    expected = to_mnist(seven)
    check_mnist_shape(expected)
    assert np.abs(to_mnist(convert(seven)).astype(int) - expected).mean() < 3


# Bounded decoding: what an upload costs is read from its header before it is decoded.

@pytest.mark.parametrize("data, message", [
    (png_claiming(6320, 6320, colour_type=6), "6320x6320 pixels is too large for a PNG"),     # the 183 KB RGBA
    (encoded(Image.new("RGB", (2100, 2100), (230, 230, 230)), "WEBP"), "too large for a WebP"),
    (encoded(Image.new("RGB", (3500, 3500), (230, 230, 230)), "JPEG", progressive=True, subsampling=0),
     "too large for a progressive JPEG"),
], ids=["RGBA PNG 6320x6320", "WebP 2100x2100", "progressive JPEG 3500x3500"])
def test_uploads_over_the_decode_budget_are_refused_before_decoding(data, message, monkeypatch):
    from PIL import ImageFile
    from mnist_core.preprocess import ImageError, open_image

    def no_decoding(self):
        raise AssertionError("decoded before the refusal")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError, match=message):
        open_image(data)


def test_uploads_within_the_budget_are_decoded_to_a_bounded_size():
    from mnist_core.preprocess import NUMBER_SIDE, open_image
    paper = Image.new("L", (2800, 2800), 230)                       # an 8-bit grey PNG: 1 byte a pixel
    ImageDraw.Draw(paper).line([(1400, 400), (1400, 2400)], fill=20, width=120)
    image = open_image(encoded(paper))
    assert max(image.size) == NUMBER_SIDE and image.mode == "L"


def test_a_large_jpeg_is_decoded_already_scaled_down(monkeypatch):
    from PIL import JpegImagePlugin
    from mnist_core.preprocess import NUMBER_SIDE, open_image
    decoded = []
    load = JpegImagePlugin.JpegImageFile.load

    def spy(self):
        decoded.append(self.size)
        return load(self)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    photo = Image.new("RGB", (7300, 5470), (230, 225, 210))         # 40 MP, the pixel limit
    ImageDraw.Draw(photo).line([(3650, 1000), (3650, 4500)], fill=(20, 20, 60), width=300)
    image = open_image(encoded(photo, "JPEG", quality=80))
    assert max(decoded[0]) <= 2 * NUMBER_SIDE                        # libjpeg's scaling: 1/4 here, not 40 MP
    assert max(image.size) == NUMBER_SIDE


# Transparency is paper, not ink; random pixels are not handwriting.

def with_transparent_margins(image: Image.Image, margin: int = 120) -> Image.Image:
    out = Image.new("RGBA", (image.width + 2 * margin, image.height + 2 * margin), (0, 0, 0, 0))
    out.paste(image.convert("RGBA"), (margin, margin))
    return out


def test_transparent_margins_are_paper_not_ink(mnist, shipped_model):
    from mnist_core.preprocess import open_image
    scan = with_transparent_margins(number_photo(mnist, "2024"))
    assert read_number(shipped_model, open_image(encoded(scan)))[0] == "2024"
    assert read_number(shipped_model, scan)[0] == "2024"                 # the same without the upload's decoding
    seven = stroke_canvas([(60, 60), (200, 60), (110, 240)], ink=20, background=230, mode="L")
    paper_margins = Image.new("L", (seven.width + 240, seven.height + 240), 230)
    paper_margins.paste(seven, (120, 120))
    expected = to_mnist(paper_margins)
    assert np.abs(to_mnist(np.asarray(with_transparent_margins(seven))).astype(int) - expected).mean() < 3


@pytest.mark.parametrize("ink", [(255, 255, 255, 255), (0, 0, 0, 255), (200, 30, 30, 255)],
                         ids=["white", "black", "red"])
def test_strokes_on_a_transparent_canvas_are_the_ink_whatever_their_colour(ink):
    seven = [(60, 60), (200, 60), (110, 240)]
    expected = to_mnist(stroke_canvas(seven, ink=255, background=0, mode="L"))
    out = to_mnist(np.asarray(stroke_canvas(seven, ink=ink)))
    check_mnist_shape(out)
    assert np.abs(out.astype(int) - expected).mean() < 3


NOISE = {
    "grey 200x300": np.random.default_rng(1).integers(0, 256, (200, 300), dtype=np.uint8),
    "colour 280x280": np.random.default_rng(2).integers(0, 256, (280, 280, 3), dtype=np.uint8),
    "black and white": (np.random.default_rng(3).random((280, 280)) < 0.5).astype(np.uint8) * 255,
    "salt on black": (np.random.default_rng(4).random((280, 280)) < 0.05).astype(np.uint8) * 255,
    "28x28": np.random.default_rng(5).integers(0, 256, (28, 28), dtype=np.uint8),
    "1500x1000, reduced": np.random.default_rng(6).integers(0, 256, (1000, 1500), dtype=np.uint8),
}


@pytest.mark.parametrize("name", list(NOISE))
def test_random_pixels_are_no_handwriting(name):
    from mnist_core.preprocess import open_image, split_digits
    noise = NOISE[name]
    assert to_mnist(noise) is None
    assert split_digits(open_image(encoded(Image.fromarray(noise)))) == []


@pytest.mark.parametrize("width", [2, 3])
def test_thin_strokes_are_not_taken_for_noise(width):
    from mnist_core.preprocess import split_digits
    page = Image.new("L", (900, 300), 235)
    pen = ImageDraw.Draw(page)
    for k in range(4):                                                  # "0000" with a fine pen
        pen.ellipse([60 + 210 * k, 60, 180 + 210 * k, 240], outline=25, width=width)
    assert len(split_digits(page)) == 4
    check_mnist_shape(to_mnist(stroke_canvas([(60, 60), (200, 60), (110, 240)], width=width, ink=0,
                                             background=255, mode="L")))


# Arrays that are not images

@pytest.mark.parametrize("shape", [(0,), (5,), (0, 0), (0, 28), (28, 0, 3), (28, 28, 5), (2, 28, 28, 1)])
def test_an_array_that_is_not_an_image_raises_value_error(shape):
    with pytest.raises(ValueError, match="expected an image"):
        to_mnist(np.zeros(shape, np.uint8))
