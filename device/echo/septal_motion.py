"""Interventricular septal motion amplitude (patent 004's 室间隔运动幅度; issue 14 part 2) on a PLAX clip.

The excursion of the septum's LV-side endocardium between end-diastole and end-systole, measured along the LV
internal-dimension line the LV measurement placed (the M-mode line of the parasternal long axis): the septal end of
LVIDd at ED and the septal end of LVIDs at ES, a caliper spanning the two frames. Pure: it reads the LV geometry of
the same clip (:attr:`~device.echo.measures2d.Clip2D.lv`, PLAX calipers) and refuses without it. A septum that moves
away from the posterior wall in systole (paradoxical motion) is reported with a negative sign in ``extra``.
"""

from __future__ import annotations

import numpy as np

from device.echo.measures2d import Clip2D, Measure2D, caliper_mm

VIEW = "PLAX"
NAME = "ivs_motion_mm"
METHOD = ("septal LV endocardium, ED (LVIDd) to ES (LVIDs) along the LV internal-dimension line; "
          "M-mode-equivalent excursion")


def _septal_end(cal, ivsd) -> int:
    """Index (0/1) of the LVIDd end on the septum: the one nearest the IVSd caliper."""
    c = np.asarray(cal, float)
    s = np.asarray(ivsd, float)
    d = [min(np.hypot(*(c[i] - s[j])) for j in range(2)) for i in range(2)]
    return int(np.argmin(d))


def measure_septal_motion(clip: Clip2D) -> list[Measure2D]:
    lv = clip.lv or {}
    cal = lv.get("calipers") or {}
    frames = lv.get("frames") or {}
    if not lv:
        return [Measure2D(NAME, None, "the LV was not measured on this clip; the septal motion is read on its "
                          "LV internal-dimension line")]
    if not (cal.get("lvidd") and cal.get("lvids") and cal.get("ivsd")):
        return [Measure2D(NAME, None, "LVIDd, LVIDs or IVSd was not placed on this clip; place them first")]
    try:
        ed, es = int(frames["ed"]["index"]), int(frames["es"]["index"])
    except (KeyError, TypeError, ValueError):
        return [Measure2D(NAME, None, "the clip's ED and ES frames are not known")]
    k = _septal_end(cal["lvidd"], cal["ivsd"])
    p_ed = np.asarray(cal["lvidd"][k], float)
    lvids = np.asarray(cal["lvids"], float)
    p_es = lvids[int(np.argmin(np.hypot(*(lvids - p_ed).T)))]
    pts = ((float(p_ed[0]), float(p_ed[1])), (float(p_es[0]), float(p_es[1])))
    # sign: toward the posterior wall (the other end of LVIDd) is the normal systolic motion
    post = np.asarray(cal["lvidd"][1 - k], float)
    toward = float(np.dot(p_es - p_ed, post - p_ed))
    return [Measure2D(NAME, caliper_mm(pts, clip.mm_per_px), points=pts, frame=ed, frame2=es, phase="ed-es",
                      method=METHOD, extra={"direction": "toward the posterior wall" if toward >= 0
                                            else "away from the posterior wall (paradoxical)"})]


MEASURERS = {VIEW: [measure_septal_motion]}
