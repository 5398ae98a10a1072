"""Fuzzing of the parsers that take outside input from files and streams (issue 8, item 1, part A).

Contract of every parser: it returns a result or raises ``device.errors.UserError`` (or a subclass). Anything else
is a crash: another exception, a case running past its time bound (a hang), or an allocation past the memory cap
(``MemoryError`` under a lowered address-space limit: a declared size trusted without a check).

This file holds the harness (``Fuzz``, the byte mutator) and the image, video, serial and CLI fuzzers;
``test_fuzz_dicom.py`` the DICOM and volume loaders; ``test_fuzz_text.py`` the text formats (TOML, CSV, WFDB, JSON,
bundles). Each crash that fuzzing found is fixed in the product and has a hand-written regression test here
(``test_regression_*``); the fuzz test of its parser re-runs the regression inputs and counts them into its
figures row (crashes_found = known regressions + new crashes of this run, crashes_fixed = regressions that pass).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import resource
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from device.errors import UserError
from tests.stress.figures import ROOT, stress_mode

CRASH_DIR = ROOT / "var" / "stress" / "fuzz_crashes"
MEM_CAP_MB = 1536          # extra address space a parser may take for one case (the cart has 4-8 GB)


# ------------------------------------------------------------------------------------------------ the harness

class CaseTimeout(BaseException):
    """Raised by SIGALRM inside a case that ran past its bound (BaseException: no ``except Exception`` eats it)."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def fire(_sig, _frm):
        raise CaseTimeout()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def memory_cap(extra_mb: int = MEM_CAP_MB) -> Iterator[None]:
    """Lower the address-space limit to what the process maps now plus ``extra_mb``: a parser that believes a
    declared size of gigabytes gets MemoryError (a crash) instead of taking the machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_size() + extra_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@dataclass
class Crash:
    signature: str          # exception type and the innermost project frame
    message: str
    size: int               # len(repr) of the smallest input seen with this signature
    saved: Path | None


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if "/device/" in f.filename or "/webui/" in f.filename or "/models/" in f.filename]
    where = mine[-1] if mine else (frames[-1] if frames else None)
    loc = f"{Path(where.filename).name}:{where.lineno}" if where else "?"
    return f"{type(exc).__name__} at {loc}"


def _as_bytes(x: Any) -> bytes:
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    if isinstance(x, str):
        return x.encode("utf-8", "surrogatepass")
    if isinstance(x, tuple) and x and all(isinstance(v, (bytes, bytearray, str)) for v in x):
        return b"\n--8<--\n".join(_as_bytes(v) for v in x)
    return repr(x).encode("utf-8", "replace")


@dataclass
class Fuzz:
    """One parser under the contract: ``check(x)`` calls ``call(x)`` and classifies what happened."""

    parser: str
    entry_point: str
    call: Callable[[Any], Any]
    case_timeout_s: float = 30.0
    accept: tuple[type[BaseException], ...] = (UserError,)
    cases: int = 0
    accepted: int = 0       # cases that returned a result (the rest were refused with a user error, or crashed)
    crashes: dict[str, Crash] = field(default_factory=dict)
    max_case_s: float = 0.0
    regressions: list[tuple[str, bool]] = field(default_factory=list)
    _regression_sigs: set[str] = field(default_factory=set)

    def check(self, x: Any) -> BaseException | None:
        """Run one case; returns the crash (or None when the contract held)."""
        self.cases += 1
        t0 = time.perf_counter()
        crash: BaseException | None = None
        try:
            with _alarm(self.case_timeout_s):
                self.call(x)
            self.accepted += 1
        except self.accept:
            pass
        except CaseTimeout as exc:
            crash = exc
        except Exception as exc:  # noqa: BLE001 - every other exception breaks the contract
            crash = exc
        finally:
            self.max_case_s = max(self.max_case_s, time.perf_counter() - t0)
        if crash is not None:
            self._keep(crash, x)
        return crash

    def _keep(self, exc: BaseException, x: Any) -> None:
        sig = f"hang (over {self.case_timeout_s:.0f} s)" if isinstance(exc, CaseTimeout) else _signature(exc)
        data = _as_bytes(x)
        old = self.crashes.get(sig)
        if old is not None and old.size <= len(data):
            return
        saved = None
        try:
            d = CRASH_DIR / self.parser.replace(" ", "_").replace("/", "_")
            d.mkdir(parents=True, exist_ok=True)
            saved = d / (hashlib.sha256(sig.encode()).hexdigest()[:12] + ".bin")
            saved.write_bytes(data)
        except OSError:
            pass
        self.crashes[sig] = Crash(sig, f"{type(exc).__name__}: {str(exc)[:300]}", len(data), saved)

    def run(self, strategy: st.SearchStrategy, n: int, *, mem_cap: bool = True) -> None:
        """``n`` hypothesis examples of ``strategy`` (derandomized in the short run so ``make test`` is stable)."""

        @settings(max_examples=n, deadline=None, database=None, derandomize=stress_mode() == "short",
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(strategy)
        def one(x):
            self.check(x)

        with memory_cap() if mem_cap else contextlib.nullcontext():
            one()

    def rerun_regressions(self, items: list[tuple[str, Callable[[], Any]]]) -> None:
        """Each known crash input (hand-written, see the ``test_regression_*`` tests) through the contract."""
        before = dict(self.crashes)
        with memory_cap():
            for name, make in items:
                self.regressions.append((name, self.check(make()) is None))
        self._regression_sigs = set(self.crashes) - set(before)

    def record(self, figures) -> None:
        fixed = sum(ok for _, ok in self.regressions)
        figures.row("fuzzing", parser=self.parser, entry_point=self.entry_point, cases=self.cases,
                    accepted=self.accepted, crashes_found=len(self.regressions) + len(set(self.crashes) - self._regression_sigs),
                    crashes_fixed=fixed, regression_tests=", ".join(n for n, _ in self.regressions) or "-",
                    slowest_case_s=round(self.max_case_s, 3))

    def assert_clean(self) -> None:
        assert not self.crashes, f"{self.parser}: {len(self.crashes)} crash signature(s) in {self.cases} cases:\n" + \
            "\n".join(f"  {c.signature}: {c.message} (input {c.size} B saved to {c.saved})"
                      for c in self.crashes.values())


def finish(fuzz: Fuzz, figures, regressions: list[tuple[str, Callable[[], Any]]] | None = None,
           note: str | None = None) -> None:
    """Re-run the known crash inputs, record the figures row (and the note saying what fuzzing found and how it
    was fixed) in both modes, then fail on any crash."""
    if regressions:
        fuzz.rerun_regressions(regressions)
    fuzz.record(figures)
    if note:
        figures.note("fuzzing", f"{fuzz.parser}: {note}")
    fuzz.assert_clean()


def assert_user_error(call: Callable[[], Any]) -> None:
    """A hand-written regression input: the parser must refuse it with the one-line user error."""
    try:
        call()
    except UserError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()
    # a result is fine too: the contract is "no crash"; any other exception propagates and fails the test


# ------------------------------------------------------------------------------------------------ byte mutation

_INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00", b"\xff\xff", b"\xff\x7f", b"\x00\x80",
                b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x01\x00\x00\x00"]


class Seeds(list):
    """A list of seed inputs with a short repr (hypothesis prints strategies)."""

    def __repr__(self) -> str:
        return f"<{len(self)} seeds, {sum(len(s) for s in self)} B>"


def mutated(seeds: list[bytes], max_ops: int = 6, head: int = 1024) -> st.SearchStrategy[bytes]:
    return _mutated(Seeds(seeds), max_ops, head)


@st.composite
def _mutated(draw, seeds: list[bytes], max_ops: int = 6, head: int = 1024) -> bytes:
    """A seed with 1..max_ops mutations: bit flips, interesting integers, byte runs inserted or deleted,
    truncation, splices from another seed. Half the positions fall in the first ``head`` bytes (headers)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, max_ops))):
        n = len(data)
        hi = max(0, (min(n, head) if draw(st.booleans()) else n) - 1)
        pos = draw(st.integers(0, hi))
        op = draw(st.sampled_from(("flip", "flip", "int", "byte", "insert", "delete", "truncate", "splice", "dup")))
        if op == "flip" and n:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and n:
            data[pos] = draw(st.integers(0, 255))
        elif op == "int" and n:
            v = draw(st.sampled_from(_INTERESTING))
            data[pos:pos + len(v)] = v
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete" and n:
            del data[pos:pos + draw(st.integers(1, 256))]
        elif op == "truncate":
            del data[pos:]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            a = draw(st.integers(0, max(0, len(other) - 1)))
            data[pos:pos + draw(st.integers(0, 512))] = other[a:a + draw(st.integers(1, 512))]
        elif op == "dup" and n:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 256))]
    return bytes(data)


def write_case(directory: Path, name: str, data: bytes) -> Path:
    p = directory / name
    p.write_bytes(data)
    return p


# ------------------------------------------------------------------------------------------------ image seeds

def _ecg_page(px_per_mm: float = 1.2) -> np.ndarray:
    from device.sim import ecg_paper

    rng = np.random.default_rng(7)
    return ecg_paper.render(ecg_paper.synthetic_ecg(rng), rng=rng, px_per_mm=px_per_mm).image


def _pil_bytes(img, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def image_seeds() -> dict[str, bytes]:
    return make_image_seeds()


def make_image_seeds() -> dict[str, bytes]:
    """Small valid images of an ECG page in every accepted format (made by the project's paper simulator)."""
    from PIL import Image

    page = Image.fromarray(_ecg_page())          # 336 x 258 px: above the 200 px floor, quick to decode
    exif = Image.Exif()
    exif[0x0112] = 6                             # orientation: rotate 90
    return {
        ".png": _pil_bytes(page, "PNG"),
        ".jpg": _pil_bytes(page, "JPEG", quality=70, exif=exif.tobytes()),
        ".tif": _pil_bytes(page, "TIFF", compression="tiff_lzw"),
        ".tiff": _pil_bytes(page.convert("L"), "TIFF"),
        ".bmp": _pil_bytes(page.convert("P"), "BMP"),
        ".webp": _pil_bytes(page, "WEBP", quality=60),
        ".pdf": _pil_bytes(page, "PDF", resolution=40.0),
    }


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_declaring(width: int, height: int, bit_depth: int = 8, color: int = 2, payload: bytes = b"") -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (the pixel data may be short or absent)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(payload))
            + _png_chunk(b"IEND", b""))


def pdf_with_page(width_pt: float, height_pt: float, pages: int = 1) -> bytes:
    """A minimal valid PDF with ``pages`` empty pages of the given MediaBox (0 pages allowed)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (3 + i) for i in range(pages)) + b"] /Count %d >>"
            % pages]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] >>" % (str(width_pt).encode(),
                                                                          str(height_pt).encode())] * pages
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, o in enumerate(objs):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


@st.composite
def weird_images(draw) -> tuple[str, bytes]:
    """Structurally valid images with odd properties: 1x1 to 300 px, every PIL mode, 16-bit, alpha, palettes,
    EXIF orientations (including invalid), multi-page TIFF, huge declared sizes, odd PDFs."""
    from PIL import Image

    kind = draw(st.sampled_from(("pil", "pil", "pil", "declared", "pdf")))
    if kind == "declared":
        w, h = draw(st.sampled_from((0, 1, 199, 200, 40_000, 65_535, 1 << 20, 0x7FFFFFFF))), \
            draw(st.sampled_from((0, 1, 200, 30_000, 65_535, 0x7FFFFFFF)))
        depth, color = draw(st.sampled_from(((8, 2), (16, 2), (1, 0), (8, 6), (16, 0), (8, 3), (3, 2))))
        return ".png", png_declaring(w, h, depth, color, draw(st.binary(max_size=64)))
    if kind == "pdf":
        side = st.sampled_from((0, -10, 1, 72, 612, 5000, 14_400, 200_000, 1e9, float("nan")))
        return ".pdf", pdf_with_page(draw(side), draw(side), draw(st.sampled_from((0, 1, 3))))
    w, h = draw(st.integers(1, 320)), draw(st.integers(1, 320))
    mode = draw(st.sampled_from(("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK", "YCbCr")))
    fmt = draw(st.sampled_from(("PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF")))
    seed = draw(st.integers(0, 2**16))
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert(mode) if mode not in ("I;16", "I", "F") else \
        Image.fromarray(arr[:, :, 0].astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    kw: dict[str, Any] = {}
    if fmt in ("JPEG", "PNG", "TIFF", "WEBP") and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.sampled_from((0, 1, 3, 5, 6, 8, 9, 255, 65535)))
        kw["exif"] = exif.tobytes()
    if fmt == "TIFF" and draw(st.booleans()):
        kw.update(save_all=True, append_images=[img.copy()])
    suffix = draw(st.sampled_from((".png", ".jpg", ".tif", ".bmp", ".webp", ".jpeg", ".tiff")))
    try:
        data = _pil_bytes(img, fmt, **kw)
    except (OSError, ValueError, KeyError, TypeError):   # PIL cannot write this mode in this format
        data = _pil_bytes(img.convert("RGB"), "PNG")
    return suffix, data


# ------------------------------------------------------------------------------------------------ ECG photos

def _load_image(tmp: Path):
    from device.ecg.imageio import load_image

    def call(x: tuple[str, bytes]):
        suffix, data = x
        return load_image(write_case(tmp, "photo" + suffix, data))
    return call


def reg_png_huge_declared() -> tuple[str, bytes]:
    return ".png", png_declaring(40_000, 30_000)


def reg_pdf_huge_page() -> tuple[str, bytes]:
    return ".pdf", pdf_with_page(14_400, 14_400)


def reg_pdf_giant_page() -> tuple[str, bytes]:
    return ".pdf", pdf_with_page(1e9, 1e9)


# each: a crash that fuzzing found (fixed in device/ecg/imageio.py), with its hand-written minimal input
ECG_PHOTO_REGRESSIONS: list[tuple[str, Callable[[], Any]]] = [
    ("test_regression_png_declaring_40000x30000", reg_png_huge_declared),   # was DecompressionBombError
    ("test_regression_pdf_page_200_inch", reg_pdf_huge_page),              # was MemoryError (2.9 GB render)
    ("test_regression_pdf_page_1e9_pt", reg_pdf_giant_page),               # was OverflowError in pdfium
]


def test_regression_png_declaring_40000x30000(tmp_path):
    """A 78-byte PNG whose header declares 40000 x 30000 px: PIL's DecompressionBombError escaped load_image."""
    assert_user_error(lambda: _load_image(tmp_path)(reg_png_huge_declared()))


def test_regression_png_declaring_9000x9000_is_refused_before_decoding(tmp_path):
    """81 MP is under PIL's bomb limit (only a warning) but over the cart's: refused without allocating 243 MB."""
    from device.errors import InputError

    with pytest.raises(InputError, match="too large"):
        _load_image(tmp_path)((".png", png_declaring(9000, 9000)))


def test_regression_pdf_page_200_inch(tmp_path):
    """A PDF page of 14400 x 14400 pt rendered at 200 dpi needs 2.9 GB: MemoryError. Now rendered smaller."""
    with memory_cap():
        assert_user_error(lambda: _load_image(tmp_path)(reg_pdf_huge_page()))


def test_regression_pdf_page_1e9_pt(tmp_path):
    """A PDF MediaBox of 1e9 pt: pdfium's render raised OverflowError."""
    assert_user_error(lambda: _load_image(tmp_path)(reg_pdf_giant_page()))


def test_fuzz_ecg_photo_file(tmp_path, budget, figures, image_seeds):
    fuzz = Fuzz("ECG photo file", "device.ecg.imageio.load_image (ecg read, UI upload)", _load_image(tmp_path),
                case_timeout_s=20)
    seeds = list(image_seeds.items())
    strategy = st.one_of(
        weird_images(),
        st.tuples(st.sampled_from([s for s, _ in seeds]), mutated([d for _, d in seeds])),
        st.builds(lambda i, d: (seeds[i][0], d), st.integers(0, len(seeds) - 1), st.binary(max_size=512)))
    fuzz.run(strategy, budget(short=150, full=2000))
    finish(fuzz, figures, ECG_PHOTO_REGRESSIONS,
           note="a 78-byte PNG declaring 40000 x 30000 px raised PIL's DecompressionBombError; a PDF page of 14400 pt "
                "square needed a 2.9 GB render (MemoryError) and a 1e9 pt page overflowed pdfium (OverflowError). "
                "Fixed in device/ecg/imageio.py: images over 60 MP are refused before decoding, PDF pages render at a "
                "resolution capped at 60 MP, pages too small for an ECG are refused.")


def test_fuzz_ecg_photo_upload(budget, figures, image_seeds):
    """The UI upload path: raw bytes, the type sniffed from the first bytes (not the name)."""
    from device.usecases.ecg_images import decode_photo

    fuzz = Fuzz("ECG photo upload", "device.usecases.ecg_images.decode_photo", decode_photo, case_timeout_s=20)
    strategy = st.one_of(mutated(list(image_seeds.values())), weird_images().map(lambda x: x[1]),
                         st.binary(max_size=256))
    fuzz.run(strategy, budget(short=60, full=1500))
    finish(fuzz, figures, [(n, lambda f=f: f()[1]) for n, f in ECG_PHOTO_REGRESSIONS],
           note="the same three crashes as the file path (the upload decodes with the same loader), same fix.")


@st.composite
def weird_pages(draw, page: np.ndarray) -> np.ndarray:
    """Decoded photos the digitiser may get: the page cropped, scaled, rotated, blanked, flooded with noise or one
    colour, stretched to extreme aspect ratios (always >= 200 px, as the loader guarantees)."""
    kind = draw(st.sampled_from(("crop", "scale", "rotate", "const", "noise", "stripes", "paint", "aspect")))
    h, w = page.shape[:2]
    if kind == "const":
        return np.full((draw(st.integers(200, 600)), draw(st.integers(200, 600)), 3), draw(st.integers(0, 255)),
                       np.uint8)
    if kind == "noise":
        return np.random.default_rng(draw(st.integers(0, 999))).integers(
            0, 256, (draw(st.integers(200, 500)), draw(st.integers(200, 500)), 3), dtype=np.uint8)
    if kind == "stripes":
        img = np.full((400, 400, 3), 255, np.uint8)
        step = draw(st.integers(1, 40))
        img[::step] = draw(st.integers(0, 255))
        img[:, ::step] = draw(st.integers(0, 255))
        return img
    if kind == "crop":
        y0, x0 = draw(st.integers(0, h - 200)), draw(st.integers(0, w - 200))
        return np.ascontiguousarray(page[y0:y0 + draw(st.integers(200, h)), x0:x0 + draw(st.integers(200, w))])
    if kind == "scale":
        f = draw(st.sampled_from((0.5, 0.8, 1.5, 2.5)))
        out = cv2.resize(page, (max(200, int(w * f)), max(200, int(h * f))))
        return out
    if kind == "rotate":
        k = draw(st.integers(0, 3))
        ang = draw(st.floats(-45, 45))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), ang, 1.0)
        return np.ascontiguousarray(np.rot90(cv2.warpAffine(page, m, (w, h), borderValue=(255, 255, 255)), k))
    if kind == "paint":
        img = page.copy()
        for _ in range(draw(st.integers(1, 6))):
            y, x = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
            img[y:y + draw(st.integers(1, h)), x:x + draw(st.integers(1, w))] = draw(st.integers(0, 255))
        return img
    th, tw = draw(st.sampled_from(((200, 3000), (3000, 200), (200, 200), (201, 1999))))
    return cv2.resize(page, (tw, th))


def test_fuzz_ecg_digitiser(budget, figures):
    """The decoded image through the whole reader (paper, grid, layout, traces) and the analysis."""
    from device.ecg.api import read_and_analyse

    page = _ecg_page(4.0)
    fuzz = Fuzz("ECG digitiser", "device.ecg.api.read_and_analyse", lambda img: read_and_analyse(img),
                case_timeout_s=30)
    fuzz.run(weird_pages(page), budget(short=6, full=60))
    finish(fuzz, figures)
