"""Load an ECG photo or scan (PNG, JPEG, TIFF, BMP, PDF first page) into an RGB uint8 array."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.errors import InputError
from device.limits import MAX_IMAGE_PIXELS as MAX_PIXELS  # decoded size limit, shared (device/limits.py)

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pdf", ".webp")


def load_image(path: str | Path, *, pdf_dpi: int = 200) -> np.ndarray:
    """Return uint8 (H, W, 3) RGB. EXIF orientation is applied. Raises InputError when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image file not found: {p}; check the path", step="load")
    if p.suffix.lower() == ".pdf":
        return _load_pdf(p, pdf_dpi)
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            if im.format == "JPEG" and max(im.size) > 4500:
                # very large phone photos: let the JPEG decoder scale down by 2 (or more); the flattened image
                # is ~2600 px wide anyway
                im.draft("RGB", (im.size[0] // 2, im.size[1] // 2))
            if im.size[0] * im.size[1] > MAX_PIXELS:
                raise InputError(f"{p.name} is {im.size[0]}x{im.size[1]} px, too large to read; photograph or scan "
                                 "the ECG at a lower resolution (at most 60 megapixels)", step="load")
            im = ImageOps.exif_transpose(im)
            arr = _to_rgb8(im)
    except Image.DecompressionBombError as exc:
        raise InputError(f"{p.name} declares an image too large to read; photograph or scan the ECG at a lower "
                         "resolution (at most 60 megapixels)", step="load") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {p.name} as an image ({exc.__class__.__name__}); give a PNG, JPEG, TIFF or PDF",
                         step="load") from exc
    if arr.shape[0] < 200 or arr.shape[1] < 200:
        raise InputError(f"{p.name} is only {arr.shape[1]}x{arr.shape[0]} px; photograph or scan the ECG at a "
                         "higher resolution (at least 1000 px across)", step="too small")
    return np.ascontiguousarray(arr)


def _to_rgb8(im) -> np.ndarray:
    """uint8 (H, W, 3) RGB of a PIL image. 16-bit and 32-bit grey images (scanners) are scaled by their own range
    (black stays black, the brightest pixel becomes white): PIL's convert("RGB") clips them, which turned a 16-bit
    scan into a blank white page."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = min(0.0, float(a.min())), float(a.max())
        g = np.zeros(a.shape, np.uint8) if hi <= lo else np.round((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def _load_pdf(p: Path, dpi: int) -> np.ndarray:
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise InputError("PDF input needs pypdfium2; reinstall with 'make setup'", step="load") from exc
    try:
        pdf = pdfium.PdfDocument(str(p))
        if len(pdf) == 0:
            raise InputError(f"{p.name} has no pages", step="load")
        page = pdf[0]
        w_pt, h_pt = page.get_size()
        if not (np.isfinite(w_pt) and np.isfinite(h_pt) and w_pt >= 1 and h_pt >= 1):
            raise InputError(f"the first page of {p.name} has no usable size ({w_pt} x {h_pt} pt); export the ECG "
                             "as PDF or PNG again", step="load")
        # a page larger than the ECG paper is rendered at a lower resolution, never above MAX_PIXELS
        scale = min(dpi / 72.0, float(np.sqrt(MAX_PIXELS / (w_pt * h_pt))))
        if min(w_pt, h_pt) * scale < 200:
            raise InputError(f"the first page of {p.name} is {w_pt:.0f} x {h_pt:.0f} pt, too small or too narrow for "
                             "an ECG; export the ECG on a whole page", step="too small")
        img = page.render(scale=scale).to_pil().convert("RGB")
    except pdfium.PdfiumError as exc:
        raise InputError(f"cannot read {p.name} as a PDF ({exc}); export the ECG as PDF or PNG again",
                         step="load") from exc
    return np.ascontiguousarray(np.asarray(img))
