"""MNIST (or Fashion-MNIST) as whole tensors, verified before first use.

The files are read through ``torchvision.datasets`` (which downloads and
md5-checks them when they are missing) and taken whole from ``.data`` /
``.targets``: no per-image work. Before torchvision reads a file, its size
and IDX header are checked here, and (for MNIST) its SHA-256 before the
tensors are handed out, so a truncated or corrupted download stops with one
clear message instead of a traceback or, worse, training on bad data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .i18n import N_, Message, Translatable

DATA_DIR_ENV = "MNIST_DATA_DIR"
CACHE_DIR_ENV = "MNIST_CACHE_DIR"
DEFAULT_ROOT = "MNIST_data"  # the tutorial's folder, so its download is reused

# The published SHA-256 digests of the decompressed MNIST files.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# name -> (torchvision class = folder under root, SHA-256 digests or None, class names)
DATASETS = {
    "mnist": ("MNIST", MNIST_SHA256, tuple(str(d) for d in range(10))),
    "fashion": (
        "FashionMNIST",
        None,  # no published digests of the decompressed files: header + size checks only
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
}

# The training and test sets' sizes, the same for MNIST and Fashion-MNIST.
TRAIN_IMAGES, TEST_IMAGES = 60_000, 10_000

# file stem -> (IDX magic number, expected item count)
_IDX_LAYOUT = {
    "train-images-idx3-ubyte": (2051, TRAIN_IMAGES),
    "train-labels-idx1-ubyte": (2049, TRAIN_IMAGES),
    "t10k-images-idx3-ubyte": (2051, TEST_IMAGES),
    "t10k-labels-idx1-ubyte": (2049, TEST_IMAGES),
}


class DataError(Translatable, RuntimeError):
    """The data cannot be used; the message says what is wrong and how to fix it."""


@dataclass
class MnistData:
    """Training and test sets as tensors: images uint8 (N, 28, 28), labels int64 (N,)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    name: str = "mnist"

    def to(self, device: torch.device | str) -> "MnistData":
        """The same data on ``device`` (no copy where it is already there)."""
        return MnistData(
            self.train_images.to(device), self.train_labels.to(device),
            self.test_images.to(device), self.test_labels.to(device),
            self.classes, self.name,
        )

    @property
    def device(self) -> torch.device:
        return self.train_images.device


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else ``$MNIST_DATA_DIR``, else ``MNIST_data/``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_ROOT)


def _cache_file() -> Path:
    base = os.environ.get(CACHE_DIR_ENV)
    if base:
        return Path(base) / "verified.json"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "mnist_core" / "verified.json"


def _read_verified() -> dict:
    """The verified-files cache; a damaged or foreign one (not a JSON object) is ignored and rebuilt."""
    try:
        entries = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _remember_verified(entries: dict) -> None:
    """Best effort: a read-only home only costs a re-hash next time."""
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass


def _fingerprint(path: Path, loaded: torch.Tensor) -> dict:
    """What a verified file is remembered by: size and mtime (free), and a CRC-32 of its contents as
    loaded (about 16 ms for all four files), which catches a change that kept the size and the date."""
    st = path.stat()
    return {"stat": f"{st.st_size}:{st.st_mtime_ns}", "crc32": zlib.crc32(loaded.contiguous().numpy())}


def _is_present(path: Path, folder: str) -> bool:
    """True for a regular file, False when nothing is there; DataError for anything else (a folder...)."""
    if path.is_file():
        return True
    if path.exists() or path.is_symlink():
        raise DataError(N_("{path}: not a regular file (a folder or a broken link?). {fix}"), path=path,
                        fix=_fix(folder))
    return False


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fix(folder: str) -> Message:
    return Message(N_("Delete it so that it is downloaded again, or copy a good copy there (MNIST's four files live "
                      "in <root>/{folder}/raw/)."), {"folder": folder})


def _idx_sizes(magic: int) -> tuple[int, int]:
    """(header bytes, bytes per item) of an IDX file: images (2051) of 28x28 bytes, or labels (2049)."""
    return (16, 28 * 28) if magic == 2051 else (8, 1)


def _check_layout(path: Path, stem: str, folder: str) -> None:
    """Header and size, cheap: catches truncated and non-IDX files."""
    magic, count = _IDX_LAYOUT[stem]
    header_len, item_bytes = _idx_sizes(magic)
    expected = header_len + count * item_bytes
    try:
        with open(path, "rb") as f:
            head = f.read(header_len)
    except OSError as exc:
        raise DataError(N_("{path}: could not be read ({reason}). Check that this user may read it. {fix}"),
                        path=path, reason=exc.strerror, fix=_fix(folder)) from None
    if len(head) < header_len or struct.unpack(">I", head[:4])[0] != magic:
        raise DataError(N_("{path}: not an IDX file of the expected kind (bad header). {fix}"), path=path,
                        fix=_fix(folder))
    dims = struct.unpack(f">{(header_len - 4) // 4}I", head[4:])
    if dims[0] != count or (magic == 2051 and dims[1:] != (28, 28)):
        raise DataError(N_("{path}: header says shape {dims}, expected {shape}. {fix}"), path=path, dims=dims,
                        shape=f"({count}{', 28, 28' if magic == 2051 else ''})", fix=_fix(folder))
    size = path.stat().st_size
    if size != expected:
        raise DataError(N_("{path}: truncated ({size:,} bytes, expected {expected:,}). {fix}") if size < expected else
                        N_("{path}: longer than it should be ({size:,} bytes, expected {expected:,}). {fix}"),
                        path=path, size=size, expected=expected, fix=_fix(folder))


def check_files(raw: Path, folder: str) -> None:
    """Every file present, readable, with the right header and size: cheap, before anything is read."""
    missing = [stem for stem in _IDX_LAYOUT if not _is_present(raw / stem, folder)]
    if missing:
        raise DataError(_missing_message(raw, folder, missing))
    for stem in _IDX_LAYOUT:
        _check_layout((raw / stem).resolve(), stem, folder)


def verify_files(raw: Path, folder: str, digests: dict, loaded: dict[str, torch.Tensor]) -> None:
    """Check each file's SHA-256 once; later loads compare its fingerprint (size, mtime and a CRC-32
    of ``loaded``, the file's tensor as read) with the one remembered, and hash again on any change."""
    verified = _read_verified()
    changed = False
    for stem, tensor in loaded.items():
        path = (raw / stem).resolve()
        key, fp = str(path), _fingerprint(path, tensor)
        if verified.get(key) == fp:
            continue
        try:
            digest = _sha256(path)
        except OSError as exc:
            raise DataError(N_("{path}: could not be read ({reason}). {fix}"), path=path, reason=exc.strerror,
                            fix=_fix(folder)) from None
        if digest != digests[stem]:
            raise DataError(N_("{path}: SHA-256 {digest}… does not match the published {published}… (the file is "
                               "corrupted or not the original). {fix}"), path=path, digest=digest[:12],
                            published=digests[stem][:12], fix=_fix(folder))
        verified[key] = fp
        changed = True
    if changed:
        _remember_verified(verified)


def _missing_message(raw: Path, folder: str, missing: list[str]) -> Message:
    return Message(N_("MNIST data not found: {missing} missing in {raw}, and it could not be downloaded (no network?). "
                      "Put the four files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                      "t10k-labels-idx1-ubyte, decompressed or as .gz) in <root>/{folder}/raw/ and point at <root> "
                      "with the environment variable {variable} or the --data-dir flag."),
                   {"missing": ", ".join(missing), "raw": raw, "folder": folder, "variable": DATA_DIR_ENV})


def _ensure_files(root: Path, folder: str) -> Path:
    """Decompress local .gz files, else let torchvision download; never raise anything but DataError.

    Leaves nothing half-done: a .gz is decompressed under a temporary name and renamed when whole, and
    the folders made for a download that failed are removed again.
    """
    raw = root / folder / "raw"
    missing = [stem for stem in _IDX_LAYOUT if not _is_present(raw / stem, folder)]
    for stem in list(missing):
        gz = raw / f"{stem}.gz"
        if _is_present(gz, folder):
            _decompress(gz, raw / stem, folder)
            missing.remove(stem)
    if missing:
        made = [d for d in (raw, *raw.parents) if not d.exists()]  # deepest first
        try:
            import torchvision  # only to download

            getattr(torchvision.datasets, folder)(root=str(root), train=True, download=True)
        except Exception:  # torchvision raises RuntimeError/URLError/OSError by mirror
            for d in made:  # only the folders it made, and only while empty
                try:
                    d.rmdir()
                except OSError:
                    break
            raise DataError(_missing_message(raw, folder, missing)) from None
    return raw


def _decompress(gz: Path, target: Path, folder: str) -> None:
    partial = target.with_name(f".{target.name}.partial")
    try:
        with gzip.open(gz, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(partial, target)
    except (OSError, EOFError, zlib.error) as exc:
        partial.unlink(missing_ok=True)
        raise DataError(N_("{path}: could not be decompressed ({reason}). {fix}"), path=gz, reason=exc,
                        fix=_fix(folder)) from None


def load_mnist(root: str | os.PathLike | None = None, device: torch.device | str | None = None,
               dataset: str = "mnist") -> MnistData:
    """Load the training and test sets as whole tensors, verified, optionally on ``device``.

    ``root`` is the folder that holds ``MNIST/raw/`` (torchvision's layout):
    the argument, else ``$MNIST_DATA_DIR``, else ``MNIST_data/``.
    ``dataset="fashion"`` loads Fashion-MNIST instead (``FashionMNIST/raw/``).
    Raises :class:`DataError` with a message for the user when the data is
    missing and cannot be downloaded, or is corrupted.
    """
    if dataset not in DATASETS:
        raise DataError(N_("unknown dataset {dataset!r}; choose one of {choices}"), dataset=dataset,
                        choices=", ".join(DATASETS))
    folder, digests, classes = DATASETS[dataset]
    root = resolve_root(root)
    raw = _ensure_files(root, folder)
    check_files(raw, folder)
    loaded = {stem: _read_idx(raw / stem, folder) for stem in _IDX_LAYOUT}
    if digests is not None:
        verify_files(raw, folder, digests, loaded)
    data = MnistData(loaded["train-images-idx3-ubyte"], loaded["train-labels-idx1-ubyte"].long(),
                     loaded["t10k-images-idx3-ubyte"], loaded["t10k-labels-idx1-ubyte"].long(), classes, dataset)
    return data.to(device) if device is not None else data


def _read_idx(path: Path, folder: str) -> torch.Tensor:
    """A file :func:`check_files` passed (header, shape and size) as a uint8 tensor: images (N, 28, 28),
    labels (N,). Read here rather than through torchvision's reader, whose import alone takes about 1.2 s;
    torchvision is imported only to download."""
    magic, count = _IDX_LAYOUT[path.name]
    header_len, item_bytes = _idx_sizes(magic)
    try:
        raw = bytearray(path.resolve().read_bytes())
    except OSError as exc:
        raise DataError(N_("{path}: could not be read ({reason}). {fix}"), path=path, reason=exc.strerror,
                        fix=_fix(folder)) from None
    if len(raw) != header_len + count * item_bytes:
        raise DataError(N_("{path}: changed while it was read. {fix}"), path=path, fix=_fix(folder))
    tensor = torch.frombuffer(raw, dtype=torch.uint8, offset=header_len)
    return tensor.view(count, 28, 28) if magic == 2051 else tensor
