"""Echo view model: real echo frames scored leave-one-clip-out (v2 and the small CNN side by side, per clip, per view,
selective accuracy against coverage), non-echo pictures, then the simulator's held-out split in a table of its own;
screen handling (fan box, pixel size from the on-screen depth scale) checked against the cine's DICOM regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.eval._echo_view import (
    REAL_UNLABELLED,
    by,
    clip_mean_accuracy,
    coverage_curve,
    non_echo_results,
    real_loco,
    run_file,
    summary,
)


WHAT_FAILS = (
    "What fails / how far to trust this: **on the real apical four-chamber cine v2 is wrong on every frame** - it "
    "calls it A2C, nearly always with confidence (higher confidence is no more accurate there), so the calibration "
    "learned on the simulator does not carry over to that clip. The real cine shows a smaller heart in a wide fan "
    "with thin, faint walls and a barely visible right heart; the simulator's apical views have thick, bright walls, "
    "and a single tall chamber (A2C) is the nearest simulated look. 2.1.0 added scans imaged deeper with faint fan "
    "edges (after this failure was seen); it did not change the A4C result. The frozen ImageNet features separate "
    "the four apical views poorly even on the simulator (recall 0.35-0.68), while parasternal, short-axis, "
    "subcostal and OTHER reach 0.72-0.97; the small CNN trained from scratch reaches about the same simulator "
    "accuracy. Counted by frame the small CNN is better on the real frames (17 % vs 8 %, nearly all of it the A4C "
    "cine); counted by clip v2 is better (67 % vs 6 %: it names both PLAX clips, including the colour-Doppler one, "
    "where the small CNN says OTHER). v2 is the default because of that, because it abstains on pictures that are "
    "not echo, gives a calibrated confidence and an ood score, and carries the features site learning needs (a "
    "site's own labelled loops are the way to real accuracy). There are only three labelled real clips (two views), "
    "frames of one clip are strongly correlated (the per-clip mean counts each clip once), and the Philips frame's "
    "label is judged by eye; the real frames also join the shipped head's training, which is why they are scored "
    "only by the leave-one-clip-out heads. Real results were seen while the recipe was built: a dry run (GAP-only "
    "features, 400 simulator crops) led to adding the 2x2 spatial descriptor, a first full run with a 0.99-quantile "
    "ood threshold gave lower coverage (the factor 2 was then set on the simulated live probe), the deep scans "
    "followed the A4C failure, and 2.1.0 replaced 2.0.0 by a rule on simulator-calibration accuracy fixed before its "
    "real result was seen. The TEE frame is called PLAX with confidence: an echo view outside the 13 classes is not "
    "reliably flagged. Simulator accuracy says how well the model learned the simulator, not the clinic. Figures "
    "in this paragraph are for 2.1.0.")


def _pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * v:.0f}%"


def _sim_test(size: int):
    """The v2 recipe's simulator test split (seed 13, cached), else a fresh smaller draw of the same seed."""
    from device.paths import REPO_ROOT
    from models.training.echo_view_v2_data import simulate_split

    cache = REPO_ROOT / "var" / "cache" / "echo_view_v2"
    have = sorted((cache / "chunks").glob(f"test_s13_v1_{size}_*.npz")) if (cache / "chunks").is_dir() else []
    n = 1300 if len(have) >= 13 else 260
    return simulate_split("test", n, 13, size, cache, balanced=True), n


def _sim_rows(m, clf, ts) -> dict:
    from device.echo.prep import normalise

    ok, unc, col, view_ok = [], [], [], {}
    for i, c in enumerate(ts.x):
        o = clf.decode_outputs(m.run({clf.input_name: normalise(c)[None, None]}))
        hit = clf.labels.index(o.view) == int(ts.view[i])
        ok.append(hit)
        unc.append(o.uncertain)
        col.append(bool(ts.colour[i]))
        view_ok.setdefault(clf.labels[int(ts.view[i])], []).append(hit)
    ok_a, unc_a, col_a = np.array(ok), np.array(unc), np.array(col)
    return {"tag": m.tag, "n": len(ok), "acc": ok_a.mean(), "cov": (~unc_a).mean(),
            "sel": ok_a[~unc_a].mean() if (~unc_a).any() else float("nan"),
            "col": ok_a[col_a].mean() if col_a.any() else float("nan"), "n_col": int(col_a.sum()),
            "per_view": {k: float(np.mean(v)) for k, v in view_ok.items()}}


def evaluate(data_dir: Path) -> str:
    from device.echo.classify import ViewClassifier
    from device.echo.screen import depth_scale_mm_per_px
    from device.inference import load_manifest, load_model
    from device.paths import MODELS_DIR

    man = load_manifest("echo_view")
    default = ViewClassifier.from_loaded(load_model("echo_view", variant="int8", cache=False))
    loco = {name: default.with_head(load_view_head_key(man, key)) for name, key in man.params["loco_heads"].items()}
    small = (ViewClassifier.from_loaded(load_model("echo_view_small", variant="int8", cache=False))
             if (MODELS_DIR / "echo_view_small" / "manifest.json").is_file() else None)
    lines = [f"## Echo view recognition ({man.name} {man.version})", ""]
    v2 = real_loco(data_dir, lambda name: loco[name])
    sm = real_loco(data_dir, lambda _n: small) if small is not None else []
    a, b = summary(v2), summary(sm) if sm else {}
    lines += [("Real echo frames (../shared/data/echo-dicom; labels: the SonoSite cine = A4C, US-PAL-8-10x = PLAX "
               "with colour Doppler, the Philips frame = PLAX (high parasternal long axis of the aortic root, judged by "
               "eye); the TEE frame color-pl.dcm is left unlabelled). **Leave-one-clip-out**: each clip is scored by "
               "a view head fitted and calibrated without any of its frames (the `loco_*` heads in the model "
               "directory); the backbone is ImageNet-pretrained and never saw them either. The small CNN never saw "
               "real frames. *Coverage* = frames not marked \"view uncertain\"; *selective accuracy* = accuracy of "
               "those frames."), "",
              "| model | frames | accuracy | mean per-clip accuracy | coverage | selective accuracy |",
              "|---|---|---|---|---|---|",
              f"| {default.tag} (default) | {a.get('n', 0)} | {_pct(a.get('accuracy'))} | "
              f"{_pct(clip_mean_accuracy(v2))} | {_pct(a.get('coverage'))} | {_pct(a.get('selective_accuracy'))} |"]
    if sm:
        lines.append(f"| {small.tag} | {b['n']} | {_pct(b['accuracy'])} | {_pct(clip_mean_accuracy(sm))} | "
                     f"{_pct(b['coverage'])} | {_pct(b['selective_accuracy'])} |")
    per_v2, per_sm = by(v2, lambda r: r.source), by(sm, lambda r: r.source)
    lines += ["", "Per clip and per view (v2 int8 vs the small CNN):", "",
              "| clip | view | frames | v2 accuracy | v2 coverage | v2 selective accuracy | v2 named | small CNN "
              "accuracy |", "|---|---|---|---|---|---|---|---|"]
    for clip, s in per_v2.items():
        truth = next(r.truth for r in v2 if r.source == clip)
        named = {}
        for r in v2:
            if r.source == clip:
                named[r.view] = named.get(r.view, 0) + 1
        lines.append(f"| {clip} | {truth} | {s['n']} | {_pct(s['accuracy'])} | {_pct(s['coverage'])} | "
                     f"{_pct(s['selective_accuracy'])} | {dict(sorted(named.items(), key=lambda kv: -kv[1]))} | "
                     f"{_pct(per_sm.get(clip, {}).get('accuracy'))} |")
    for view, s in by(v2, lambda r: r.truth).items():
        sv = by(sm, lambda r: r.truth).get(view, {})
        lines.append(f"| all {view} frames | {view} | {s['n']} | {_pct(s['accuracy'])} | {_pct(s['coverage'])} | "
                     f"{_pct(s['selective_accuracy'])} | | {_pct(sv.get('accuracy'))} |")
    lines += ["", "Selective accuracy against coverage on the same real frames (v2, confidence threshold only):", "",
              "| confidence >= | coverage | selective accuracy |", "|---|---|---|"]
    lines += [f"| {t:.1f} | {_pct(c)} | {_pct(s)} |" for t, c, s in coverage_curve(v2)]
    lines += [f"| shipped thresholds (conf {default.head.conf_threshold:.2f}, ood {default.head.ood_threshold:.2f}) "
              f"| {_pct(a.get('coverage'))} | {_pct(a.get('selective_accuracy'))} |"]
    ne = non_echo_results(data_dir, default)
    ne_s = non_echo_results(data_dir, small) if small is not None else {}
    lines += ["", "Pictures that are not echo (must come out \"view uncertain\" or OTHER; never in any training):", "",
              "| pictures | n | v2: uncertain or OTHER | v2: named a heart view with confidence | small CNN: OTHER |",
              "|---|---|---|---|---|"]
    for g, rows in ne.items():
        s = summary(rows)
        ss = summary(ne_s.get(g, []))
        lines.append(f"| {g} | {s['n']} | {_pct(s['not_a_view'])} | {_pct(1 - s['not_a_view'])} | "
                     f"{_pct(ss.get('other'))} |")
    for name in REAL_UNLABELLED:
        p = data_dir / "echo-dicom" / name
        if p.is_file():
            r = run_file(default, p, "")[0]
            lines += ["", f"Unlabelled TEE colour frame `{name}`: v2 says {r.view} (confidence {r.confidence:.2f}, "
                          f"ood score {r.ood_score:.1f}, {'uncertain' if r.uncertain else 'not uncertain'})."]
    lines += _sim_section(default, small)
    lines += _screen_section(data_dir, depth_scale_mm_per_px)
    lines += ["", WHAT_FAILS]
    from device.eval._echo_view_notes import NOTES

    lines += ["", NOTES.strip()]
    return "\n".join(lines)


def load_view_head_key(man, key: str):
    from device.echo.view_head import ViewHead
    from device.inference.manifest import verify_file

    member = man.variants[key].members[0]
    verify_file(member, man.name)
    return ViewHead.load(member.path)


def _sim_section(default, small) -> list[str]:
    from device.echo.classify import ViewClassifier
    from device.inference import load_model

    ts, _n = _sim_test(default.size)
    lines = ["", (f"Simulator only (reported apart): the v2 recipe's held-out test split (seed 13, {len(ts)} crops, "
                  "balanced over the 13 classes, randomised machines incl. colour Doppler boxes, vendor layouts, "
                  "JPEG); never used for fitting, calibration or choices."), "",
             "| variant | view accuracy | coverage | selective accuracy | with colour Doppler box |",
             "|---|---|---|---|---|"]
    res = {}
    for variant in ("int8", "fp32", "tflite"):
        m = load_model("echo_view", variant=variant, cache=False)
        clf = ViewClassifier.from_loaded(m)
        res[variant] = r = _sim_rows(m, clf, ts)
        lines.append(f"| {r['tag']} | {r['acc']:.3f} (n={r['n']}) | {_pct(r['cov'])} | {_pct(r['sel'])} | "
                     f"{r['col']:.3f} (n={r['n_col']}) |")
    if small is not None:
        import cv2

        from models.training.echo_view_v2_data import CropSet

        x96 = np.stack([cv2.resize(c, (small.size, small.size), interpolation=cv2.INTER_AREA) for c in ts.x])
        m = load_model("echo_view_small", variant="int8", cache=False)
        r = _sim_rows(m, ViewClassifier.from_loaded(m), CropSet(x96, *(getattr(ts, k) for k in CropSet.FIELDS[1:])))
        lines.append(f"| {r['tag']} (small CNN; the same crops resized to {small.size} px) | {r['acc']:.3f} "
                     f"(n={r['n']}) | - | - | {r['col']:.3f} (n={r['n_col']}) |")
    pv = res["int8"]["per_view"]
    lines += ["", "Per-view recall on the simulator (v2 int8): " +
              ", ".join(f"{k} {v:.2f}" for k, v in pv.items())]
    return lines


def _screen_section(data_dir: Path, depth_scale_mm_per_px) -> list[str]:
    from device.drivers.files import iter_file_frames
    from device.echo.screen import find_sector

    f = data_dir / "echo-dicom" / "color3d_jpeg_baseline.dcm"
    if not f.is_file():
        return []
    first = next(iter(iter_file_frames(f)))
    sector = find_sector(first.pixels)
    if sector is None:
        return ["", "Screen handling: no fan found on the SonoSite cine."]
    mm = depth_scale_mm_per_px(first.pixels, sector)
    return ["", (f"Screen handling on the SonoSite cine: fan box found at {sector.bbox} vs the DICOM region "
                 f"{first.sector_bbox}; pixel size from the on-screen depth scale "
                 f"{mm if mm is None else round(mm, 4)} mm/px vs {first.mm_per_px:.4f} mm/px from the DICOM region.")]
