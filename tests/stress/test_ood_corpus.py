"""Issue 13: an out-of-domain corpus built here (wrong modality, turns, mirrors, crops, downscales, greyscale,
16-bit, blank, noise, cartoons, other organs) run through every CLI that reads a study: ``ecg read``, ``perfusion
polar``, ``perfusion regions``, ``echo view``, ``echo measure``. Each input must be refused (one-line error, exit
2), or for the echo model flagged uncertain, or, for a turned or mirrored ECG page, read after turning it upright
(the output says so). Any other output is a confident result on an input the cart cannot read: the test fails.
The refusal rate per modality goes to RELIABILITY.md (section "Out-of-domain inputs"). The upload routes get the
same inputs in tests/integration/test_{ecg,perfusion}_validity_ui.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.__main__ import main

ECG_TURNS = {"rotated 180": lambda a: a[::-1, ::-1], "mirrored": lambda a: a[:, ::-1],
             "upside down": lambda a: a[::-1], "rotated 90": lambda a: np.rot90(a)}


def _png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    return path


def _jpg(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def _cartoon(h: int = 600, w: int = 800) -> np.ndarray:
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.circle(img, (w // 2, h // 2), 150, (200, 30, 30), 25)
    cv2.putText(img, "heart!", (w // 2 - 90, h // 2 + 15), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    return img


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, list[tuple[str, Path]]]:
    """modality -> [(case name, file)] of inputs none of which may give a confident result."""
    from device.sim import echo_nonecho, ecg_paper
    from device.sim import ood_volumes as ov

    d = tmp_path_factory.mktemp("ood")
    rng = np.random.default_rng(13)
    sig = ecg_paper.synthetic_ecg(rng, hr_bpm=70)
    page = ecg_paper.render(sig, rng=rng).image
    photo = ecg_paper.photograph(page, rng, strength=0.6)
    grey8 = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    ecg = [(f"photo {k}", _jpg(d / f"ecg_{k.replace(' ', '_')}.jpg", f(photo))) for k, f in ECG_TURNS.items()]
    cv2.imwrite(str(d / "ecg_grey16.png"), grey8.astype(np.uint16) * 257)
    ecg += [
        ("greyscale photo", _jpg(d / "ecg_grey.jpg", np.repeat(grey8[..., None], 3, 2))),
        ("16-bit greyscale PNG", d / "ecg_grey16.png"),
        ("downscaled 4x", _jpg(d / "ecg_small.jpg", cv2.resize(photo, None, fx=0.25, fy=0.25,
                                                                 interpolation=cv2.INTER_AREA))),
        ("left half of the page", _jpg(d / "ecg_half.jpg", photo[:, : photo.shape[1] // 2])),
        ("top half of the page", _jpg(d / "ecg_tophalf.jpg", photo[: photo.shape[0] // 2])),
        ("blank white", _png(d / "ecg_blank.png", np.full((1200, 1600, 3), 255, np.uint8))),
        ("noise", _png(d / "ecg_noise.png", rng.integers(0, 255, (1200, 1600, 3), np.uint8))),
        ("cartoon", _png(d / "ecg_cartoon.png", _cartoon(1200, 1600))),
        ("MRI slice (wrong modality)", _png(d / "ecg_mri.png", echo_nonecho.mri_slice(900, 1200, rng))),
        ("camera scene", _png(d / "ecg_scene.png", echo_nonecho.camera_scene(900, 1200, rng))),
    ]
    perf = []
    for name in ("brain", "kidneys", "liver", "noise", "one hot voxel"):
        p = d / f"perf_{name.replace(' ', '_')}.npz"
        np.savez_compressed(p, stress=ov.VOLUMES[name](rng), voxel_mm=np.array([3.2] * 3))
        perf.append((f"{name} volume", p))
    from device.sim.spect import simulate_study

    s = simulate_study((), seed=4)
    np.savez_compressed(d / "perf_ct.npz", stress=s.stress / s.stress.max() * 1100 - 1000, voxel_mm=np.array([3.2] * 3))
    np.savez_compressed(d / "perf_2d.npz", stress=s.stress[20], voxel_mm=np.array([3.2] * 3))
    perf += [("CT numbers", d / "perf_ct.npz"), ("2-D image", d / "perf_2d.npz"),
             ("ECG photo (wrong modality)", d / "ecg_rotated_180.jpg")]
    regions = []
    for name, row in (("all-zero row", [0.0] * 44), ("counts over 100", [70.0] * 43 + [250.0]),
                      ("hottest region 20 %", [20.0] * 44), ("negative counts", [70.0] * 43 + [-3.0])):
        p = d / f"spectf_{name.split()[0]}.csv"
        p.write_text(",".join(f"{v:g}" for v in row) + "\n")
        regions.append((name, p))
    (d / "spectf_ecg.csv").write_text("\n".join(",".join(f"{v:.3f}" for v in r) for r in sig[:20]) + "\n")
    regions.append(("ECG samples (wrong modality)", d / "spectf_ecg.csv"))
    echo = [("ECG photo (wrong modality)", d / "ecg_rotated_180.jpg"), ("cartoon", d / "ecg_cartoon.png"),
            ("MRI slice", d / "ecg_mri.png"), ("noise", d / "ecg_noise.png"), ("blank", d / "ecg_blank.png")]
    w = cv2.VideoWriter(str(d / "ring.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for k in range(60):  # a cartoon ring pulsing at 1 Hz
        f = np.zeros((480, 640, 3), np.uint8)
        cv2.circle(f, (320, 240), int(90 + 25 * np.sin(2 * np.pi * k / 30)), (255, 255, 255), 18)
        w.write(f)
    w.release()
    echo.append(("cartoon pulsing ring (video)", d / "ring.avi"))
    return {"ecg read": ecg, "perfusion polar": perf, "perfusion regions": regions, "echo": echo}


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code: int, err: str) -> bool:
    """Exit 2 and exactly one line on stderr, the error (no library warning, no traceback): the one-line rule."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return code == 2 and len(lines) == 1 and lines[0].startswith("error:") and "internal error" not in err


def _record(figures, modality: str, outcomes: dict[str, str]) -> None:
    n = len(outcomes)
    refused = sum(v == "refused" for v in outcomes.values())
    other = {k: v for k, v in outcomes.items() if v != "refused"}
    figures.row("refusal", cli=modality, inputs=n, refused=refused, refusal_rate=f"{refused / n:.0%}",
                turned_upright=sum(v == "turned upright" for v in outcomes.values()),
                uncertain=sum(v == "uncertain" for v in outcomes.values()),
                confident=sum(v.startswith("CONFIDENT") for v in outcomes.values()),
                not_refused="; ".join(f"{k}: {v}" for k, v in other.items()) or "-")


def test_ecg_read(corpus, tmp_path, capsys, figures):
    outcomes = {}
    for name, p in corpus["ecg read"]:
        code, out, err = _run(["ecg", "read", str(p), "--out", str(tmp_path / p.stem)], capsys)
        if _refused(code, err):
            outcomes[name] = "refused"
            continue
        doc = json.loads((tmp_path / p.stem / f"{p.stem}.json").read_text()) if code == 0 else {}
        turned = [w for w in doc.get("warnings", []) if w.startswith("the page was")]
        want = name.split()[1] if name.startswith("photo ") else None
        outcomes[name] = "turned upright" if want and turned and want in turned[0] else f"CONFIDENT (exit {code})"
    _record(figures, "ecg read", outcomes)
    assert not [k for k, v in outcomes.items() if v.startswith("CONFIDENT")], outcomes


@pytest.mark.parametrize("cli", ["perfusion polar", "perfusion regions"])
def test_perfusion(corpus, tmp_path, capsys, figures, cli):
    outcomes = {}
    for name, p in corpus[cli]:
        argv = ["perfusion", "polar", str(p), "--out", str(tmp_path / p.stem)] if cli == "perfusion polar" \
            else ["perfusion", "regions", str(p)]
        code, out, err = _run(argv, capsys)
        outcomes[name] = "refused" if _refused(code, err) else f"CONFIDENT (exit {code}: {out.strip()[:60]})"
        if cli == "perfusion polar":
            assert not (tmp_path / p.stem / "bullseye.png").exists() or outcomes[name] != "refused"
    _record(figures, cli, outcomes)
    assert not [k for k, v in outcomes.items() if v.startswith("CONFIDENT")], outcomes


def test_echo_view(corpus, capsys, figures):
    outcomes = {}
    for name, p in corpus["echo"]:
        code, out, err = _run(["echo", "view", str(p), "--json"], capsys)
        if _refused(code, err):
            outcomes[name] = "refused"
            continue
        doc = json.loads(out) if code == 0 and out.strip() else {}
        doc = doc[0] if isinstance(doc, list) else doc
        outcomes[name] = "uncertain" if doc.get("uncertain") or doc.get("view") == "OTHER" \
            else f"CONFIDENT ({doc.get('view')} {doc.get('confidence')})"
    _record(figures, "echo view", outcomes)
    assert not [k for k, v in outcomes.items() if v.startswith("CONFIDENT")], outcomes


def test_echo_measure(corpus, capsys, figures):
    outcomes = {}
    for name, p in corpus["echo"]:
        code, out, err = _run(["echo", "measure", str(p), "--json"], capsys)
        if _refused(code, err):
            outcomes[name] = "refused"
            continue
        text = out.lower()
        outcomes[name] = "uncertain" if "uncertain" in text or "refused" in text else f"CONFIDENT (exit {code})"
    _record(figures, "echo measure", outcomes)
    assert not [k for k, v in outcomes.items() if v.startswith("CONFIDENT")], outcomes
