"""One coherent measurement set per echo exam (issue 18): which clip each reported quantity comes from, and the
values of that clip with the derived ones recomputed from their inputs. Pure: store records in, records out.

Rules:
- Each view group (A4C, A2C, PLAX, PSAX-PM) is reported from ONE clip: the sonographer's pick when there is one;
  else the newest clip with a value a person edited or confirmed (a person's review is never overridden by an
  automatic value from a later clip); else the best clip by quality (then the newest).
- A clip's value of a name is the newest row of that name stored for that clip (values of different clips never
  mix: EDV from clip 5 and ESV from clip 9 cannot meet in one set).
- Derived values are recomputed from the inputs of the same clip whenever the set is built: SV = EDV - ESV,
  EF = 100 (EDV - ESV) / EDV (single-plane and biplane); PLAX FS and Teichholz volumes/EF from LVIDd and LVIDs.
- Biplane values are those stored under the chosen A4C clip (the store computes them from the chosen A4C and A2C).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from device.domain.records import REVIEWED_SOURCES, Capture, Measurement
from device.lv.interpret import split_name
from device.lv.plax import teichholz_volume_ml

NO_CLIP = 0               # the pseudo-clip of LV values stored without a capture (typed in)
VIEW_OF_GROUP = {"a4c": "A4C", "a2c": "A2C", "plax": "PLAX", "sax": "PSAX-PM"}
GROUP_OF_VIEW = {v: k for k, v in VIEW_OF_GROUP.items()}
# derived name suffix -> its input suffixes (the same prefix / clip)
_VOLUME_DERIVED = ("sv_ml", "ef_pct")
_PLAX_DERIVED = ("fs_pct", "teichholz_edv_ml", "teichholz_esv_ml", "teichholz_ef_pct")
_ORDER = ("edv_ml", "esv_ml", "sv_ml", "ef_pct", "lvidd_mm", "lvids_mm", "ivsd_mm", "lvpwd_mm", "aortic_root_mm",
          "la_diameter_mm") + _PLAX_DERIVED


@dataclass(frozen=True)
class SetValue:
    """One value of the set: the stored row it shows (id for confirm/edit) and the value reported."""

    name: str
    group: str                    # biplane, a4c, a2c, plax, sax
    capture_id: int
    value: float                  # recomputed for a derived value
    row: Measurement              # the newest stored row of this name on this clip
    derived: bool
    source: str                   # row source; for a derived value: edited when an input was, else the row's
    chosen: bool                  # True: this clip is the one the report uses for the group


@dataclass(frozen=True)
class MeasurementSet:
    chosen: dict[str, int]                  # group -> capture id used by the report
    why: dict[str, str]                     # group -> "picked", "reviewed" or "quality"
    values: tuple[SetValue, ...]            # every clip's values (chosen and not), report order within a clip

    def reported(self) -> list[SetValue]:
        return [v for v in self.values if v.chosen]

    def unreviewed(self) -> list[SetValue]:
        """Reported values nobody confirmed or edited (derived ones count through their inputs)."""
        return [v for v in self.reported() if v.source not in REVIEWED_SOURCES]


def is_derived(name: str) -> bool:
    sp = split_name(name)
    if sp is None:
        return False
    group, base = sp
    return (group in ("biplane", "a4c", "a2c") and base in _VOLUME_DERIVED) or (group == "plax" and base in
                                                                                 _PLAX_DERIVED)


def per_clip(rows: Iterable[Measurement]) -> dict[int, dict[str, Measurement]]:
    """capture id -> name -> the newest row of that name stored for that clip (echo LV names only). Values a
    person typed without a clip count as one more "clip", id :data:`NO_CLIP` (a reviewed value: it wins over
    automatic clips, but not over a clip a person reviewed or picked)."""
    out: dict[int, dict[str, Measurement]] = {}
    for m in sorted(rows, key=lambda m: m.id):
        if split_name(m.name) is None:
            continue
        out.setdefault(NO_CLIP if m.capture_id is None else int(m.capture_id), {})[m.name] = m
    return out


def choose(group: str, candidates: Mapping[int, Mapping[str, Measurement]], quality: Mapping[int, float | None],
           pick: int | None) -> tuple[int, str] | None:
    """(capture id, why) of the clip the report uses for ``group`` among ``candidates`` (capture id -> its rows of
    the group), or None when no clip has a value of the group."""
    if not candidates:
        return None
    if pick is not None and pick in candidates:
        return pick, "picked"
    reviewed = [cid for cid, rows in candidates.items() if any(r.source in REVIEWED_SOURCES for r in rows.values())]
    if reviewed:
        return max(reviewed), "reviewed"
    return max(candidates, key=lambda cid: (quality.get(cid) or 0.0, cid)), "quality"


def _recompute(group: str, vals: dict[str, float], prefix: str) -> dict[str, float]:
    """Derived values from the inputs in ``vals`` (stored names of one clip); only names present are returned."""
    out: dict[str, float] = {}
    if group in ("biplane", "a4c", "a2c"):
        edv, esv = vals.get(f"{prefix}_edv_ml"), vals.get(f"{prefix}_esv_ml")
        if edv is not None and esv is not None and edv > 0:
            out[f"{prefix}_sv_ml"] = edv - esv
            out[f"{prefix}_ef_pct"] = 100.0 * (edv - esv) / edv
    elif group == "plax":
        d, s = vals.get("lvidd_mm"), vals.get("lvids_mm")
        if d is not None and s is not None and d > 0:
            edv, esv = teichholz_volume_ml(d), teichholz_volume_ml(s)
            out |= {"fs_pct": 100.0 * (d - s) / d, "teichholz_edv_ml": edv, "teichholz_esv_ml": esv}
            if edv > 0:
                out["teichholz_ef_pct"] = 100.0 * (edv - esv) / edv
    return {k: v for k, v in out.items() if k in vals}


def _inputs(group: str, prefix: str) -> tuple[str, ...]:
    return ("lvidd_mm", "lvids_mm") if group == "plax" else (f"{prefix}_edv_ml", f"{prefix}_esv_ml")


def _order_key(name: str) -> tuple[int, str]:
    sp = split_name(name)
    base = sp[1] if sp is not None else ""
    return (_ORDER.index(base) if base in _ORDER else 99, name)


def _clip_values(group: str, cid: int, rows: Mapping[str, Measurement], chosen: bool) -> list[SetValue]:
    prefix = group
    vals = {n: float(r.value) for n, r in rows.items()}
    derived = _recompute(group, vals, prefix)
    edited_input = any(rows[n].source in ("edited", "manual") for n in _inputs(group, prefix) if n in rows)
    out = []
    for name, r in sorted(rows.items(), key=lambda kv: _order_key(kv[0])):
        if name in derived:
            same = abs(derived[name] - r.value) < 0.005
            src = "edited" if edited_input else (r.source if same else "auto")
            out.append(SetValue(name, group, cid, round(derived[name], 4), r, True, src, chosen))
        else:
            out.append(SetValue(name, group, cid, float(r.value), r, False, r.source, chosen))
    return out


def build(rows: Iterable[Measurement], captures: Iterable[Capture],
          picks: Mapping[str, int] | None = None) -> MeasurementSet:
    """The exam's measurement set from ALL its measurement rows (superseded ones included), its captures and the
    sonographer's picks (view label or group -> capture id)."""
    picks = picks or {}
    caps = {c.id: c for c in captures}
    quality = {c.id: c.quality for c in caps.values()}
    clips = per_clip(rows)
    by_group: dict[str, dict[int, dict[str, Measurement]]] = {}
    for cid, named in clips.items():
        for name, r in named.items():
            group = split_name(name)[0]  # type: ignore[index]  # per_clip keeps only names split_name knows
            by_group.setdefault(group, {}).setdefault(cid, {})[name] = r
    chosen: dict[str, int] = {}
    why: dict[str, str] = {}
    for group in ("a4c", "a2c", "plax", "sax"):
        pick = picks.get(group, picks.get(VIEW_OF_GROUP[group]))
        c = choose(group, by_group.get(group, {}), quality, pick)
        if c is not None:
            chosen[group], why[group] = c
    if "a4c" in chosen and chosen["a4c"] in by_group.get("biplane", {}):
        chosen["biplane"], why["biplane"] = chosen["a4c"], why["a4c"]
    values: list[SetValue] = []
    for group in ("biplane", "a4c", "a2c", "plax", "sax"):
        for cid in sorted(by_group.get(group, {})):
            values += _clip_values(group, cid, by_group[group][cid], chosen.get(group) == cid)
    return MeasurementSet(chosen, why, tuple(values))
