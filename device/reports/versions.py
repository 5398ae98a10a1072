"""What changed between two versions of a report (for the audit trail and the correction view). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from device.reports.model import ReportDoc, ReportMeasurement


@dataclass(frozen=True)
class Change:
    """One difference: ``field`` (e.g. ``"measurement:qtc_ms"``, ``"free_text"``), old and new as text."""

    field: str
    old: str
    new: str


def _m_text(m: ReportMeasurement) -> str:
    ref = f" [{m.reference_text}]" if m.reference_text else ""
    interp = f" ({m.interpretation})" if m.interpretation else ""
    return f"{m.value:g} {m.unit}{ref}{interp}".strip()


def changes(old: ReportDoc, new: ReportDoc) -> list[Change]:
    """Differences from ``old`` to ``new``: patient/exam fields, measurements (added, removed, changed), key
    images (by content key), free text and title, in a stable order."""
    out: list[Change] = []
    for name in ("patient", "exam"):
        a, b = getattr(old, name), getattr(new, name)
        for f in a.__dataclass_fields__:
            if getattr(a, f) != getattr(b, f):
                out.append(Change(f"{name}.{f}", str(getattr(a, f)), str(getattr(b, f))))
    om = {m.name: m for m in old.measurements}
    nm = {m.name: m for m in new.measurements}
    for k in list(om) + [k for k in nm if k not in om]:
        a, b = om.get(k), nm.get(k)
        if a is None and b is not None:
            out.append(Change(f"measurement:{k}", "", _m_text(b)))
        elif b is None and a is not None:
            out.append(Change(f"measurement:{k}", _m_text(a), ""))
        elif a is not None and b is not None and a != b:
            out.append(Change(f"measurement:{k}", _m_text(a), _m_text(b)))
    ok, nk = [k.key for k in old.key_images], [k.key for k in new.key_images]
    for k in ok:
        if k not in nk:
            out.append(Change("key_image", k, ""))
    for k in nk:
        if k not in ok:
            out.append(Change("key_image", "", k))
    for f in ("title", "free_text"):
        if getattr(old, f) != getattr(new, f):
            out.append(Change(f, getattr(old, f), getattr(new, f)))
    return out
