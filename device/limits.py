"""Resource limits for everything read from outside: checked on headers, before anything is decompressed or decoded.

One upload must not stop the cart (2 CPU cores, a few GB of memory): a 1 MB .npz that inflates to 10 GB, a 2.7 MB PNG
declaring 40000 x 40000 px, a video of a million frames. Each check reads only sizes (zip directory, .npy headers,
image headers) and raises InputError naming the limit.

Limits (largest legitimate input + margin):
- images: 60 megapixels (a 50 MP phone photo decodes at half size; a 600 dpi A4 scan is 35 MP);
- one array: 512 MB (a 256^3 float32 PET volume is 64 MB); all arrays of an .npz together: 1 GB;
- zips: 1 GB unpacked, 5000 members; a member may not inflate more than 1000:1 (deflate tops out near 1030:1);
- video: 10 000 frames (5.5 min at 30 fps) and 8 megapixels a frame (4K).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from device.errors import InputError

MAX_IMAGE_PIXELS = 60_000_000
MAX_ARRAY_BYTES = 512 * 2 ** 20
MAX_NPZ_BYTES = 2 ** 30
MAX_ZIP_BYTES = 2 ** 30
MAX_ZIP_MEMBERS = 5000
MAX_VIDEO_FRAMES = 10_000
MAX_FRAME_PIXELS = 8_300_000


def _fmt_bytes(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MB"


def check_pixels(width: int, height: int, name: str, limit: int = MAX_IMAGE_PIXELS) -> None:
    """InputError when ``width`` x ``height`` exceeds ``limit`` pixels."""
    if width * height > limit:
        raise InputError(f"{name} is {width}x{height} px, larger than the {limit / 1e6:.0f} megapixels the cart "
                         "reads; export or photograph it at a lower resolution", step="load")


def check_image_file(path: str | Path, limit: int = MAX_IMAGE_PIXELS, *, verify: bool = True) -> None:
    """Check an image file's declared size from its header (nothing is decoded), then, with ``verify``, that a JPEG
    or PNG is complete (a half-transferred JPEG decodes silently into a grey lower half with OpenCV)."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as im:
            check_pixels(im.size[0], im.size[1], p.name, limit)
            if verify and im.format in ("JPEG", "PNG"):
                im.load()  # PIL refuses truncated data (LOAD_TRUNCATED_IMAGES stays False)
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(f"{p.name} declares an image too large to read (over {limit / 1e6:.0f} megapixels); "
                         "export it at a lower resolution", step="load") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        if "truncated" in str(exc) or isinstance(exc, (OSError, SyntaxError)):
            raise InputError(f"{p.name} is incomplete or damaged ({str(exc)[:60]}); copy or export the file again",
                             step="load") from None
        raise InputError(f"{p.name} is not a readable image ({exc.__class__.__name__})", step="load") from None


def check_video(n_frames: int, width: int, height: int, name: str) -> None:
    """InputError when a video declares more frames or larger frames than the cart reads."""
    if width * height > MAX_FRAME_PIXELS:
        raise InputError(f"{name}: frames of {width}x{height} px are larger than 4K; export the clip at a lower "
                         "resolution", step="load")
    if n_frames > MAX_VIDEO_FRAMES:
        raise InputError(f"{name}: {n_frames} frames is more than the {MAX_VIDEO_FRAMES} the cart reads (5 min at "
                         "30 fps); export a shorter clip", step="load")


def _zipfile(src: bytes | str | Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)


def check_zip(src: bytes | str | Path, name: str, max_bytes: int = MAX_ZIP_BYTES,
              max_members: int = MAX_ZIP_MEMBERS) -> None:
    """Declared unpacked sizes of a zip (the directory only). A damaged zip is left to the reader's own error."""
    try:
        with _zipfile(src) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    if len(infos) > max_members:
        raise InputError(f"{name} holds {len(infos)} files (at most {max_members}); give one study", step="load")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise InputError(f"{name} unpacks to {_fmt_bytes(total)} (at most {_fmt_bytes(max_bytes)}); this is not "
                         "a study the cart can read", step="load")
    for i in infos:
        if i.compress_size and i.file_size / i.compress_size > 1000 and i.file_size > 2 ** 20:
            raise InputError(f"{name}: {Path(i.filename).name} inflates {i.file_size / i.compress_size:.0f}-fold "
                             f"to {_fmt_bytes(i.file_size)} (a zip bomb?); export the study again", step="load")


def check_npz(src: bytes | str | Path, name: str) -> None:
    """An .npz (or .npy) whose arrays, by their headers, fit MAX_ARRAY_BYTES each and MAX_NPZ_BYTES together.
    Only headers are read; a damaged file is left to the reader's own error."""
    raw = src if isinstance(src, (bytes, bytearray)) else None
    if raw is None:
        with open(src, "rb") as fh:
            magic = fh.read(6)
    else:
        magic = bytes(raw[:6])
    if magic == b"\x93NUMPY":
        with (io.BytesIO(raw) if raw is not None else open(src, "rb")) as fh:
            _check_npy_header(fh, name, name)
        return
    check_zip(src, name, max_bytes=MAX_NPZ_BYTES)
    try:
        zf = _zipfile(src)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    total = 0
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            total += _member_bytes(zf, info, name)
    if total > MAX_NPZ_BYTES:
        raise InputError(f"{name}: its arrays hold {_fmt_bytes(total)} together (at most "
                         f"{_fmt_bytes(MAX_NPZ_BYTES)}); this is not a study the cart can read", step="load")


def _member_bytes(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> int:
    """Bytes a .npy member of an .npz declares (0 when its header cannot be read: the reader reports that)."""
    try:
        with zf.open(info) as fh:
            return _check_npy_header(fh, name, info.filename[:-4])
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - damaged member: BadZipFile, zlib.error, RuntimeError (encrypted)...
        return 0


def _check_npy_header(fh, name: str, member: str) -> int:
    """Bytes the .npy array in ``fh`` declares; InputError over MAX_ARRAY_BYTES."""
    from numpy.lib import format as npf

    try:
        version = npf.read_magic(fh)
        if version == (1, 0):
            shape, _order, dtype = npf.read_array_header_1_0(fh)
        else:
            shape, _order, dtype = npf.read_array_header_2_0(fh)
    except Exception:  # noqa: BLE001 - not a valid header: left to the reader
        return 0
    n = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if n > MAX_ARRAY_BYTES:
        raise InputError(f"{name}: array '{member}' of shape {tuple(shape)} would take {_fmt_bytes(n)} (at most "
                         f"{_fmt_bytes(MAX_ARRAY_BYTES)}); this is not a study the cart can read", step="load")
    return n
