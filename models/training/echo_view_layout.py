"""Recipe option (off by default, not part of `make models`): the echo-view layout cue (`device/echo/view_layout.py`).

    python -m models.training.echo_view_layout --phase sim    # choose the form and l2 on the simulator only
    python -m models.training.echo_view_layout --phase real   # score the chosen form once, leave-one-clip-out

Two forms, chosen on the simulator calibration split only (higher calibration accuracy; tie: a):
(a) the view head on [2.1.0's 512 projected features + the layout vector];
(b) 2.1.0's head, and when its top class is apical, the apical probability mass re-distributed over A4C/A5C/A3C/A2C
    by a small head on the layout vector alone (fitted on simulator apical crops only).
Real frames play the same part as in 2.1.0: only in the leave-one-clip-out heads (each clip scored by a head fitted and
calibrated without its frames). Measured once against the rule in EVALUATION.md ("A machine-invariant layout cue").
Caches: var/cache/h1/layout/ (layout vectors) and the 2.1.0 recipe's crop and feature caches (var/cache/echo_view_v2).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

import numpy as np

from device.echo.prep import ViewOutput, crop_fan
from device.echo.view_head import ViewHead, calibrate, fit_head
from device.echo.view_layout import layout_vector, layout_vectors
from device.paths import MODELS_DIR, REPO_ROOT, shared_data_dir
from device.sim.echo_views import VIEWS

APICAL = ("A4C", "A5C", "A3C", "A2C")
LCACHE = REPO_ROOT / "var" / "cache" / "h1" / "layout"


def cached_layout(name: str, x: np.ndarray) -> np.ndarray:
    p = LCACHE / f"{name}_{len(x)}.npy"
    if p.is_file():
        return np.load(p)
    v = layout_vectors(x)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, v)
    return v


def combine_apical(p_base: np.ndarray, p_sub: np.ndarray) -> np.ndarray:
    """(N, 13) probabilities: where the base head's top class is apical, its apical mass is spread by p_sub (N, 4)."""
    idx = np.array([VIEWS.index(v) for v in APICAL])
    out = p_base.copy()
    top_apical = np.isin(p_base.argmax(axis=1), idx)
    mass = p_base[:, idx].sum(axis=1, keepdims=True)
    out[np.ix_(top_apical, idx)] = (mass * p_sub)[top_apical]
    return out


def fit_sub(lay: np.ndarray, y: np.ndarray, lay_cal: np.ndarray, y_cal: np.ndarray, l2: float) -> ViewHead:
    """The apical-subview head on layout vectors (simulator apical rows only), temperature on calibration rows."""
    idx = [VIEWS.index(v) for v in APICAL]
    tr, ca = np.isin(y, idx), np.isin(y_cal, idx)
    remap = {v: i for i, v in enumerate(idx)}
    yt = np.array([remap[int(v)] for v in y[tr]])
    yc = np.array([remap[int(v)] for v in y_cal[ca]])
    return calibrate(fit_head(lay[tr], yt, APICAL, l2=l2, max_iter=400), lay_cal[ca], yc)


@dataclass
class LayoutClassifier:
    """Cart path for the candidate: crop -> int8 features (+ layout) -> head(s) -> ViewOutput (quality not used)."""

    run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    form: str
    head: ViewHead
    sub: ViewHead | None = None

    def __call__(self, frame: np.ndarray, sector) -> ViewOutput:
        from device.echo.prep import normalise

        crop = crop_fan(frame, sector, 128)
        f = np.asarray(self.run({"image": normalise(crop)[None, None]})["features"], np.float32).reshape(1, -1)
        lay = layout_vector(crop)[None]
        if self.form == "a":
            f = np.concatenate([f, lay], axis=1)
            p = self.head.probs(f)[0]
        elif self.sub is None:   # 2.1.0's head alone (the reference row)
            p = self.head.probs(f)[0]
        else:
            p = combine_apical(self.head.probs(f), self.sub.probs(lay))[0]
        ood = float(self.head.ood_score(f)[0])
        k = int(np.argmax(p))
        unc = bool(self.head.uncertain(np.array([p[k]]), np.array([ood]), f)[0])
        return ViewOutput(VIEWS[k], float(p[k]), p, 0.0, "hold", 0.0, uncertain=unc, ood_score=ood)


def load_sim():
    from models.training.echo_view_v2 import CACHE, SIZE, cached_features, fit_projection, project
    from models.training.echo_view_v2_data import CropSet, simulate_split

    cal = simulate_split("calib", 1000, 12, SIZE, CACHE)
    train = CropSet.concat([simulate_split("train", 7000, 11, SIZE, CACHE, n_variants=2),
                            simulate_split("traindeep", 1500, 14, SIZE, CACHE, n_variants=2, p_deep=0.6)])
    dyn = CACHE / "backbone_raw_dyn.onnx"
    raw_tr, raw_cal = cached_features("train", train, dyn), cached_features("calib", cal, dyn)
    proj = fit_projection(raw_tr, 512)
    return train, cal, project(raw_tr, proj), project(raw_cal, proj), cached_layout("train", train.x), \
        cached_layout("calib", cal.x)


def phase_sim(out_json: Path) -> dict:
    from models.training.echo_view_v2 import L2_CHOICES, choose_l2

    train, cal, f_tr, f_cal, l_tr, l_cal = load_sim()
    res: dict = {}
    l2_base, _ = choose_l2(f_tr, train.view, f_cal, cal.view)
    base = calibrate(fit_head(f_tr, train.view, VIEWS, l2=l2_base, max_iter=400), f_cal, cal.view)
    res["base"] = {"l2": l2_base, "calib_acc": float((base.probs(f_cal).argmax(1) == cal.view).mean())}
    a_tr, a_cal = np.concatenate([f_tr, l_tr], 1), np.concatenate([f_cal, l_cal], 1)
    l2_a, _ = choose_l2(a_tr, train.view, a_cal, cal.view)
    ha = calibrate(fit_head(a_tr, train.view, VIEWS, l2=l2_a, max_iter=400), a_cal, cal.view)
    res["a"] = {"l2": l2_a, "calib_acc": float((ha.probs(a_cal).argmax(1) == cal.view).mean())}
    best: tuple[float, float] = (L2_CHOICES[0], -1.0)
    for l2 in L2_CHOICES:   # (b): the sub-head's l2 by the combined calibration accuracy
        sub = fit_sub(l_tr, train.view, l_cal, cal.view, l2)
        acc = float((combine_apical(base.probs(f_cal), sub.probs(l_cal)).argmax(1) == cal.view).mean())
        print(f"[layout] (b) l2 {l2:g}: sim calib acc {acc:.4f}", flush=True)
        if acc > best[1]:
            best = (l2, acc)
    res["b"] = {"l2_base": l2_base, "l2_sub": best[0], "calib_acc": best[1]}
    res["chosen"] = "a" if res["a"]["calib_acc"] >= res["b"]["calib_acc"] else "b"
    for form in ("base", "a", "b"):
        print(f"[layout] {form}: {res[form]}", flush=True)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(res, indent=1))
    return res


def _runner(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return lambda feeds: dict(zip(names, sess.run(None, feeds)))


def phase_real(sim_json: Path, out_json: Path, model_dir: Path) -> dict:
    from device.eval._echo_view import clip_mean_accuracy, non_echo_results, real_loco, summary
    from models.training.echo_view_v2 import (
        CACHE,
        SIZE,
        cached_features,
        fit_and_calibrate,
        fit_projection,
        project,
        real_split,
    )
    from models.training.echo_view_v2_data import real_frames

    choice = json.loads(sim_json.read_text())
    data = shared_data_dir()
    if data is None:
        raise SystemExit("layout: ../shared/data not found; the real scoring needs the echo-dicom frames")
    train, cal, f_tr, f_cal, l_tr, l_cal = load_sim()
    rr = real_frames(data, SIZE)
    if rr is None:
        raise SystemExit("layout: no labelled real echo frames in ../shared/data/echo-dicom")
    real, names = rr
    dyn = CACHE / "backbone_raw_dyn.onnx"
    raw_tr = cached_features("train", train, dyn)
    f_real = project(cached_features("real", real, dyn), fit_projection(raw_tr, 512))
    l_real = cached_layout("real", real.x)
    r_tr, r_cal = real_split(real)
    run = _runner(model_dir / "echo_view.int8.onnx")
    res: dict = {}
    for form in ("base", choice["chosen"]):
        l2 = choice["a"]["l2"] if form == "a" else choice["base"]["l2"]
        ftr = np.concatenate([f_tr, l_tr], 1) if form == "a" else f_tr
        fca = np.concatenate([f_cal, l_cal], 1) if form == "a" else f_cal
        fre = np.concatenate([f_real, l_real], 1) if form == "a" else f_real
        sub = fit_sub(l_tr, train.view, l_cal, cal.view, choice["b"]["l2_sub"]) if form == "b" else None
        cform = "b" if form in ("b", "base") else "a"

        def fit(keep, ftr=ftr, fca=fca, fre=fre, l2=l2):
            return fit_and_calibrate(ftr, train.view, fre[keep & r_tr], real.view[keep & r_tr],
                                     real.group[keep & r_tr], np.concatenate([fca, fre[keep & r_cal]]),
                                     np.concatenate([cal.view, real.view[keep & r_cal]]), l2)

        loco = {n: LayoutClassifier(run, cform, fit(real.group != gi), sub) for gi, n in enumerate(names)}
        if form == "base":
            for c in loco.values():
                c.sub = None
        full = LayoutClassifier(run, cform, fit(np.ones(len(real), bool)), sub if form != "base" else None)
        rows = real_loco(data, loco.__getitem__)
        ne = non_echo_results(data, full)
        per_clip = {}
        for n in names:
            cr = [r for r in rows if r.source == n]
            per_clip[n] = {"n": len(cr), "correct": sum(r.view == r.truth for r in cr),
                           "named": {v: sum(r.view == v for r in cr) for v in VIEWS if any(r.view == v for r in cr)},
                           "covered": sum(not r.uncertain for r in cr)}
        res[form] = {"all": summary(rows), "clip_mean_accuracy": clip_mean_accuracy(rows), "per_clip": per_clip,
                     "non_echo": {g: summary(v) for g, v in ne.items()},
                     "sim_calib_acc": choice[form]["calib_acc"]}
        print(f"[layout] real {form}: {json.dumps(res[form], default=float)}", flush=True)
    out_json.write_text(json.dumps(res, indent=1, default=float))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", choices=("sim", "real"), required=True)
    ap.add_argument("--model-dir", type=Path, default=MODELS_DIR / "echo_view", help="the int8 backbone to score with")
    ap.add_argument("--out", type=Path, default=LCACHE)
    args = ap.parse_args(argv)
    if args.phase == "sim":
        phase_sim(args.out / "sim_choice.json")
    else:
        phase_real(args.out / "sim_choice.json", args.out / "real_result.json", args.model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
