"""Experiment (issue 17 part 2): patent 003 in image space, measured; writes nothing under models/.

1. Renderings of the real PTB-XL signals (``ecg_patent003_data``: train = the ``ecg_signal`` train split, fold 9 =
   choices, fold 10 = test) in the canonical frame of ``device.ecg.patent003``, with phone-photo damage.
2. A beat detector (heat-map FCN) trained on them: every beat box is known from the record's R peaks.
3. Local branch (ResNet-18-style) on beat crops + global branch (DenseNet-121-style) on the whole printout, fused to
   abnormal vs normal; trained on ground-truth boxes (jittered), scored with the detector's boxes.
4. Scored on fold-10 renderings and on the real Paper2Pulse photos (via the cart's reader: rectified image, layout
   boxes -> the same canonical frame), beside ``ecg_signal`` on the digitised photos and the mean of both.
   Thresholds and the Platt scaling of the image model are chosen on fold 9 only.

    nice -n 5 python -m models.training.ecg_patent003 --det-minutes 8 --cls-minutes 25

Results: var/cache/ecg_patent003/results.json and the log. Not run by ``make models`` (models/training/all.py runs
modules with a ``main``; this one's entry point is ``run``): it is an experiment, not a shipped model.
"""

from __future__ import annotations

import argparse
import csv
import json
import time

import numpy as np

from device.ecg import patent003 as P
from device.paths import shared_data_dir
from models.training import ecg_patent003_data as D

NAME = "ecg_patent003"


def photo_frames(root) -> dict[str, np.ndarray]:
    """Paper2Pulse photos read by the cart's reader -> canonical frames (3x4 layouts only), the digitised signals and
    the truth; cached."""
    f = D.CACHE / "photos.npz"
    if f.exists():
        z = np.load(f, allow_pickle=False)
        return {k: z[k] for k in z.files}
    from device.ecg.imageio import load_image
    from device.ecg.reader import read_ecg_image
    from device.ecg.traces import darkness
    from device.errors import InputError

    d = root / "ecg-photos-paper2pulse"
    with open(d / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, list] = {"canon": [], "sig": [], "abnormal": [], "name": [], "layout": []}
    for r in rows:
        p = d / "images" / r["image_filename"]
        if not p.exists():
            continue
        try:
            rd = read_ecg_image(load_image(p))
        except InputError as exc:
            print(f"[{NAME}] {p.name}: not read ({exc})")
            continue
        ppm = rd.calibration.px_per_mm_x
        canon = np.zeros((P.CH, P.CW), np.uint8)
        if rd.layout.name.startswith("3x4"):
            b0 = rd.layout.boxes[0]
            x_t0 = b0.x0 - b0.t0_s * rd.calibration.speed_mm_s * ppm
            base = {}
            for b in rd.layout.boxes:
                base.setdefault(b.row, b.baseline_y)
            rows_y = [base[k] for k in sorted(base)][:4]
            m = P.canonical_matrix(ppm, x_t0, rows_y)
            if len(rows_y) < 4:  # no rhythm strip: the row spacing from the three rows
                m = P.canonical_matrix(ppm, x_t0, rows_y + [rows_y[-1] + (rows_y[-1] - rows_y[0]) / 2])
            canon = P.to_canonical(darkness(rd.rectified.image, ppm), m)
        out["canon"].append(canon)
        out["sig"].append(rd.signals_mv.astype(np.float32))
        out["abnormal"].append(any(x.strip() != "NORM" for x in r["labels"].split(",")))
        out["name"].append(p.name)
        out["layout"].append(rd.layout.name)
    res = {k: np.array(v) for k, v in out.items()}
    D.CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(f, **res)
    return res


def train_detector(data: dict, minutes: float, seed: int = 0):
    import torch

    from models.training.ecg_patent003_net import Detector, focal_heatmap_loss

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Detector()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    n = len(data["img"])
    hms = None
    t0, steps, losses = time.time(), 0, []
    while time.time() - t0 < minutes * 60:
        frac = (time.time() - t0) / (minutes * 60)
        for g in opt.param_groups:
            g["lr"] = 2e-3 * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac)))
        b = rng.choice(n, 8, replace=False)
        x = data["img"][b].astype(np.float32) / 255.0
        x *= rng.uniform(0.6, 1.4, (len(b), 1, 1))
        hms = np.stack([P.heatmap_target(D.anchors_of(data, k)) for k in b])
        net.train()
        loss = focal_heatmap_loss(net(torch.from_numpy(np.clip(x, 0, 1)[:, None].astype(np.float32))), torch.from_numpy(hms[:, None]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        losses.append(loss.item())
        if steps % 50 == 0:
            print(f"[{NAME}] detector step {steps} ({time.time() - t0:.0f} s): loss {np.mean(losses[-50:]):.3f}",
                  flush=True)
    net.eval()
    return net, {"steps": steps, "frames_seen": steps * 8, "seconds": round(time.time() - t0)}


def detect(net, imgs: np.ndarray, thr: float = 0.3) -> list[np.ndarray]:
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(imgs), 32):
            z = torch.sigmoid(net(torch.from_numpy(imgs[i : i + 32].astype(np.float32)[:, None] / 255.0)))
            out += [P.decode_anchors(h[0].numpy(), thr) for h in z]
    return out


def inputs(imgs: np.ndarray, anchors: list[np.ndarray], rng=None, n_max: int = P.MAX_BEATS):
    c, p, m, g = [], [], [], []
    for img, a in zip(imgs, anchors):
        if rng is not None:
            img = np.clip(img.astype(np.float32) * rng.uniform(0.6, 1.4), 0, 255)
        cr, po, ma = P.beat_crops(img, a, rng, n_max)
        c.append(cr)
        p.append(po)
        m.append(ma)
        g.append(P.global_view(img))
    return [np.stack(v).astype(np.float32) for v in (c, p, m)] + [np.stack(g)[:, None].astype(np.float32)]


def logits(net, imgs, anchors) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(imgs), 32):
            x = inputs(imgs[i : i + 32], anchors[i : i + 32])
            out.append(net(*(torch.from_numpy(v) for v in x)).numpy())
    return np.concatenate(out)


def train_classifier(data: dict, y: np.ndarray, val: tuple, minutes: float, seed: int = 0):
    """Fused model on ground-truth beat boxes (jittered, 12 random beats per printout); the kept state is the best
    fold-9 fused AUC (fold-9 renderings scored with ground-truth boxes, evaluated every ~quarter of the budget)."""
    import torch

    from models.training.ecg_patent003_net import Fused
    from models.training.ecg_signal import auc

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Fused()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
    n = len(data["img"])
    yt = torch.from_numpy(y.astype(np.float32))
    t0, steps, best, best_state, hist = time.time(), 0, -1.0, None, []
    next_eval = minutes * 60 / 4
    while True:
        el = time.time() - t0
        if el >= next_eval or el >= minutes * 60:
            zv = logits(net, val[0], val[1])
            a = [round(auc(val[2], zv[:, k]), 4) for k in range(3)]
            hist.append({"step": steps, "seconds": round(el), "fold9_auc_fused_local_global": a})
            print(f"[{NAME}] classifier step {steps} ({el:.0f} s): fold-9 AUC fused/local/global {a}", flush=True)
            if a[0] > best:
                best, best_state = a[0], {k: v.clone() for k, v in net.state_dict().items()}
            next_eval += minutes * 60 / 4
            if el >= minutes * 60:
                break
        frac = min(1.0, el / (minutes * 60))
        for g in opt.param_groups:
            g["lr"] = 2e-3 * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac)))
        b = rng.choice(n, 16, replace=False)
        x = inputs(data["img"][b], [D.anchors_of(data, k) for k in b], rng, n_max=12)
        net.train()
        z = net(*(torch.from_numpy(v) for v in x))
        tgt = yt[data["idx"][b]].unsqueeze(1).expand(-1, 3)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, tgt, weight=torch.tensor([1.0, 0.5, 0.5]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    net.load_state_dict(best_state)
    net.eval()
    return net, {"steps": steps, "printouts_seen": steps * 16, "seconds": round(time.time() - t0), "history": hist}


def platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from scipy.optimize import minimize

    def loss(ab):
        t = ab[0] * z + ab[1]
        return float(np.mean(np.logaddexp(0, t) - y * t))

    a, b = minimize(loss, np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[(0.01, 10), (-20, 20)]).x
    return float(a), float(b)


def sig_probs(x: np.ndarray, fs: float) -> np.ndarray:
    """ecg_signal p(abnormal) for (N, n, 12) signals (the installed model, int8)."""
    from device.ecg.signal_model import run_signal_model

    return np.array([run_signal_model(s, fs).probabilities["abnormal"] for s in x])


def run(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--det-minutes", type=float, default=8.0)
    ap.add_argument("--cls-minutes", type=float, default=25.0)
    ap.add_argument("--render-minutes", type=float, default=9.0, help="budget for rendering the training split")
    ap.add_argument("--eval-only", action="store_true", help="re-score the weights saved in var/cache/ecg_patent003")
    args = ap.parse_args(argv)
    root = shared_data_dir()
    if root is None or not (root / "ecg-records-ptbxl" / "labels.csv").exists():
        print(f"[{NAME}] ../shared/data/ecg-records-ptbxl is missing: nothing to train on")
        return 0
    import torch

    from models.training.ecg_signal import auc, balanced_threshold, fixed_views, onnx_logits, sens_spec

    torch.set_num_threads(1)
    t_all = time.time()
    d, sp = D.load_split_arrays(root)
    test = D.build(d.x[sp["test"]], "test", 10)
    val = D.build(d.x[sp["val"]], "val", 9)
    tr = D.build(d.x[sp["train"]], "train", 1, copies=2, budget_s=args.render_minutes * 60)
    photos = photo_frames(root)
    y_tr, y_val, y_te = d.y[sp["train"], 0], d.y[sp["val"], 0][val["idx"]], d.y[sp["test"], 0][test["idx"]]
    res: dict = {"n": {"train_printouts": len(tr["img"]), "train_records": int(len(np.unique(tr["idx"]))),
                       "fold9": len(val["img"]), "fold10": len(test["img"]), "photos": len(photos["name"])}}
    print(f"[{NAME}] data: {res['n']}", flush=True)

    from models.training.ecg_patent003_net import Detector, Fused

    gt = lambda s: [D.anchors_of(s, k) for k in range(len(s["img"]))]  # noqa: E731
    if args.eval_only:
        det, net = Detector(), Fused()
        det.load_state_dict(torch.load(D.CACHE / "detector.pt"))
        net.load_state_dict(torch.load(D.CACHE / "fused.pt"))
        det.eval()
        net.eval()
        res["note"] = "re-scored from the saved weights (--eval-only)"
    else:
        det, res["detector_training"] = train_detector(tr, args.det_minutes)
        torch.save(det.state_dict(), D.CACHE / "detector.pt")
    # the detector's heat-map threshold: best beat F1 on fold-9 renderings
    f1 = {}
    for thr in (0.05, 0.1, 0.15, 0.2, 0.3):
        tp, fp, fn = np.sum([P.match(p, t) for p, t in zip(detect(det, val["img"], thr), gt(val))], 0)
        f1[thr] = 2 * tp / max(1, 2 * tp + fp + fn)
    det_thr = max(f1, key=f1.get)
    det_te, det_val = detect(det, test["img"], det_thr), detect(det, val["img"], det_thr)
    det_ph = detect(det, photos["canon"], det_thr)
    tp, fp, fn = np.sum([P.match(p, t) for p, t in zip(det_te, gt(test))], 0)
    res["detector_fold10"] = {"precision": round(tp / max(1, tp + fp), 4), "recall": round(tp / max(1, tp + fn), 4),
                              "beats": int(tp + fn), "tolerance": "60 ms, 4 mm", "threshold_fold9_f1": det_thr,
                              "fold9_f1": {str(k): round(v, 4) for k, v in f1.items()}}
    print(f"[{NAME}] detector on fold-10 renderings: {res['detector_fold10']}", flush=True)

    if not args.eval_only:
        net, res["classifier_training"] = train_classifier(tr, y_tr, (val["img"], gt(val), y_val), args.cls_minutes)
        torch.save(net.state_dict(), D.CACHE / "fused.pt")
    zv, zt, zp = logits(net, val["img"], det_val), logits(net, test["img"], det_te), logits(net, photos["canon"], det_ph)
    zt_gt = logits(net, test["img"], gt(test))
    ya = photos["abnormal"].astype(int)
    heads = ("fused", "local", "global")
    for k, h in enumerate(heads):
        a, b = platt(zv[:, k], y_val)
        pv, pt, pp = (1 / (1 + np.exp(-(a * z[:, k] + b))) for z in (zv, zt, zp))
        thr = balanced_threshold(y_val, pv)
        se, spc, n1, n0 = sens_spec(y_te, pt, thr)
        se_p, sp_p, m1, m0 = sens_spec(ya, pp, thr)
        res[h] = {"threshold_fold9": thr, "platt_fold9": [round(a, 4), round(b, 4)],
                  "fold10_auc": round(auc(y_te, pt), 4), "fold10_auc_true_boxes": round(auc(y_te, zt_gt[:, k]), 4),
                  "fold10_sens_spec": [round(se, 3), round(spc, 3), n1, n0],
                  "photos_auc": round(auc(ya, pp), 4), "photos_sens_spec": [round(se_p, 3), round(sp_p, 3), m1, m0],
                  "photos_p": [round(float(v), 4) for v in pp]}
        print(f"[{NAME}] {h}: {json.dumps({k2: v for k2, v in res[h].items() if k2 != 'photos_p'})}", flush=True)
        if h == "fused":
            p_img_val, p_img_ph = pv, pp
    # ecg_signal beside it, and the mean of both (threshold on fold 9: ecg_signal on its simulated-paper view)
    from device.ecg.signal_model import MODEL_NAME, calibrated
    from device.inference import load_manifest
    from device.paths import MODELS_DIR

    man = load_manifest(MODEL_NAME)
    vv = fixed_views(d.x[sp["val"]], 9)["paper"][val["idx"]]
    p_sig_val = calibrated(onnx_logits(MODELS_DIR / MODEL_NAME / f"{MODEL_NAME}.int8.onnx", vv),
                           man.params["platt"])[:, 0]
    p_sig_ph = sig_probs(photos["sig"], 500.0)
    thr_sig = float(man.params["thresholds"]["abnormal"])
    thr_mix = balanced_threshold(y_val, (p_sig_val + p_img_val) / 2)
    p_mix = (p_sig_ph + p_img_ph) / 2
    res["photos_beside"] = {
        "ecg_signal": {"version": man.version, "threshold": thr_sig, "auc": round(auc(ya, p_sig_ph), 4),
                       "sens_spec": [round(v, 3) for v in sens_spec(ya, p_sig_ph, thr_sig)[:2]]},
        "mean_of_both": {"threshold_fold9": thr_mix, "auc": round(auc(ya, p_mix), 4),
                         "sens_spec": [round(v, 3) for v in sens_spec(ya, p_mix, thr_mix)[:2]],
                         "fold9_auc": round(auc(y_val, (p_sig_val + p_img_val) / 2), 4)},
        "n": [int(ya.sum()), int((1 - ya).sum())], "layouts": sorted(set(photos["layout"].tolist())),
        "beats_detected_per_photo": [int(len(a)) for a in det_ph]}
    print(f"[{NAME}] photos beside ecg_signal: {json.dumps(res['photos_beside'])}", flush=True)
    res["seconds"] = round(time.time() - t_all)
    out = D.CACHE / ("results_eval_only.json" if args.eval_only else "results.json")
    out.write_text(json.dumps(res, indent=1))
    print(f"[{NAME}] wrote {out} ({res['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
