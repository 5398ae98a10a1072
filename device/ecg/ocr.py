"""Lead-label OCR with the tesseract binary (Debian tesseract-ocr), used to name rhythm strips.

Optional: when the binary is missing or fails, callers fall back to the layout's default lead names.
"""

from __future__ import annotations

import shutil
import subprocess

import cv2
import numpy as np

from device.ecg.types import LEADS

_ALIASES = {lead.upper(): lead for lead in LEADS} | {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF", "1": "I", "11": "II",
                                                      "111": "III", "L": "I", "LL": "II", "LLL": "III"}


def available() -> bool:
    return shutil.which("tesseract") is not None


def read_label(rgb: np.ndarray, box: tuple[int, int, int, int], timeout_s: float = 2.0) -> str | None:
    """The lead name printed in ``box`` (x0, y0, x1, y1 px) of ``rgb``, or None if unreadable."""
    if not available():
        return None
    x0, y0, x1, y1 = (max(0, int(v)) for v in box)
    crop = rgb[y0:y1, x0:x1]
    if crop.size == 0:
        return None
    g = crop.min(axis=2)  # black text stays dark, red grid turns light
    g = cv2.resize(g, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    _, bw = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ok, png = cv2.imencode(".png", bw)
    if not ok:
        return None
    try:
        out = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "7", "-c",
                              "tessedit_char_whitelist=IVaLRFavlrf123456"],
                             input=png.tobytes(), capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.decode("ascii", "ignore").strip().replace(" ", "")
    return _ALIASES.get(text.upper())


def read_block_leads(png: bytes, timeout_s: float = 2.0) -> set[str]:
    """The lead names tesseract reads in a block of text (an encoded PNG), empty when none or no tesseract."""
    try:
        out = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "6", "-c",
                              "tessedit_char_whitelist=IVaLRFavlrf123456"],
                             input=png, capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    words = out.stdout.decode("ascii", "ignore").split()
    return {_ALIASES[w.upper()] for w in words if w.upper() in _ALIASES}
