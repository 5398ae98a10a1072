"""Load an ECG photo or scan (PNG, JPEG, TIFF, BMP, PDF first page) into an RGB uint8 array."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.errors import InputError

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
            im = ImageOps.exif_transpose(im)
            arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {p.name} as an image ({exc.__class__.__name__}); give a PNG, JPEG, TIFF or PDF",
                         step="load") from exc
    if arr.shape[0] < 200 or arr.shape[1] < 200:
        raise InputError(f"{p.name} is only {arr.shape[1]}x{arr.shape[0]} px; photograph or scan the ECG at a "
                         "higher resolution (at least 1000 px across)", step="too small")
    return np.ascontiguousarray(arr)


def _load_pdf(p: Path, dpi: int) -> np.ndarray:
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise InputError("PDF input needs pypdfium2; reinstall with 'make setup'", step="load") from exc
    try:
        pdf = pdfium.PdfDocument(str(p))
        if len(pdf) == 0:
            raise InputError(f"{p.name} has no pages", step="load")
        img = pdf[0].render(scale=dpi / 72.0).to_pil().convert("RGB")
    except pdfium.PdfiumError as exc:
        raise InputError(f"cannot read {p.name} as a PDF ({exc}); export the ECG as PDF or PNG again",
                         step="load") from exc
    return np.ascontiguousarray(np.asarray(img))
