"""EDV/ESV/EF of a short-axis stack by summation of discs (issue 18 point 8: ``lv sax`` gave none)."""

from __future__ import annotations

import numpy as np
import pytest

from device.errors import InputError
from device.lv.sax_volumes import stack_volumes


def _stack(n_slices=8, n_phases=10, gap_mm=8.0, r_ed=25.0, r_es=18.0, drop=()):
    """A cylinder-like LV: every slice a disc whose radius goes r_ed -> r_es -> r_ed over the cine."""
    locs, phases, areas = [], [], []
    radius = [r_es + (r_ed - r_es) * (0.5 + 0.5 * np.cos(2 * np.pi * k / n_phases)) for k in range(n_phases)]
    for s in range(n_slices):
        for k in range(n_phases):
            if (s, k) in drop:
                continue
            locs.append(-40.0 + s * gap_mm)
            phases.append(k)
            areas.append(np.pi * radius[k] ** 2)
    return locs, phases, areas


def test_discs_of_a_known_stack():
    v = stack_volumes(*_stack())
    # 8 slices x 8 mm = 64 mm of cylinder; pi r^2 h
    assert v.edv_ml == pytest.approx(np.pi * 25.0 ** 2 * 64 / 1000, rel=1e-6)
    assert v.esv_ml == pytest.approx(np.pi * 18.0 ** 2 * 64 / 1000, rel=0.01)
    assert v.ef_pct == pytest.approx(100 * (v.edv_ml - v.esv_ml) / v.edv_ml)
    assert v.sv_ml == pytest.approx(v.edv_ml - v.esv_ml)
    assert (v.n_slices, v.n_phases, v.ed_phase, v.es_phase, v.spacing_mm) == (8, 10, 0, 5, 8.0)
    assert len(v.volume_curve_ml) == 10


def test_uneven_gaps_and_no_cavity_at_the_apex():
    locs, phases, areas = _stack(n_slices=4, n_phases=4)
    locs = [{-40.0: 0.0, -32.0: 10.0, -24.0: 16.0, -16.0: 30.0}[x] for x in locs]   # gaps 10, 6, 14
    areas = [0.0 if loc == 30.0 else a for loc, a in zip(locs, areas)]            # apex slice: no cavity
    v = stack_volumes(locs, phases, areas)
    ed_area = np.pi * 25.0 ** 2
    assert v.edv_ml == pytest.approx(ed_area * (10 + 8 + 10) / 1000)                # shares 10, (10+6)/2, (6+14)/2


@pytest.mark.parametrize("change, why", [
    (lambda l, p, a: ([l[0]] * len(l), p, a), "at least 3"),
    (lambda l, p, a: ([None] + l[1:], p, a), "SliceLocation"),
    (lambda l, p, a: (l[:-1], p[:-1], a[:-1]), "same number of cine phases"),
    (lambda l, p, a: (l, p, [None] * len(a)), "no LV cavity"),
])
def test_what_cannot_give_volumes_says_why(change, why):
    with pytest.raises(InputError, match=why):
        stack_volumes(*change(*_stack()))


def test_why_no_volumes_reads_in_chinese():
    from device.i18n import message
    with pytest.raises(InputError) as exc:
        stack_volumes([0.0] * 4, [0, 1, 2, 3], [1.0] * 4)
    assert message("zh-CN", str(exc.value)) == "EDV/ESV 需要至少 3 个短轴层面；此序列只有 1 个层面位置"


def test_positions_along_the_normal_not_slice_location():
    """An oblique stack (Sunnybrook-like): SliceLocation 6.7 mm apart, ImagePositionPatient 10 mm apart along the
    slice normal; the gaps for the discs come from the positions, SliceLocation only when a frame lacks one."""
    from types import SimpleNamespace

    from device.lv.dicom_io import slice_position
    from device.lv.sax_volumes import positions_mm

    iop = (0.6, 0.8, 0.0, -0.48, 0.36, -0.8)                 # orthonormal row / column cosines
    normal = np.cross(iop[:3], iop[3:])
    pos = [slice_position(iop, tuple(10.0 * k * normal + np.array([3.0, -2.0, 5.0]))) for k in range(4)]
    assert np.diff(pos) == pytest.approx([10.0] * 3, abs=1e-3)
    assert slice_position(None, (0, 0, 0)) is None and slice_position(iop, None) is None
    frames = [SimpleNamespace(position_mm=p, slice_location=6.7 * k) for k, p in enumerate(pos)]
    assert positions_mm(frames) == pos
    frames[2] = SimpleNamespace(position_mm=None, slice_location=13.4)
    assert positions_mm(frames) == [0.0, 6.7, 13.4, 6.7 * 3]
    locs = [p for p in pos for _ in range(2)]
    v = stack_volumes(locs, [0, 1] * 4, [1000.0, 500.0] * 4)
    assert v.spacing_mm == pytest.approx(10.0, abs=1e-3) and v.edv_ml == pytest.approx(4 * 1000.0 * 10 / 1000, rel=1e-3)


@pytest.mark.shared_data
def test_sunnybrook_slice_gaps_are_the_spacing_between_slices(shared_data):
    """Real oblique SAX stack (SC-HF-I-1): positions along the normal step by SpacingBetweenSlices (10 mm), while
    SliceLocation steps 6.7 mm - volumes from SliceLocation were a third too small."""
    import pydicom

    from device.lv.dicom_io import slice_position

    series = shared_data / "cardiac-mri-sunnybrook" / "dicoms" / "SCD0000101"
    by_loc = {}
    for f in sorted(series.rglob("*.dcm")):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        by_loc[float(ds.SliceLocation)] = (slice_position(tuple(map(float, ds.ImageOrientationPatient)),
                                                          ds.ImagePositionPatient), float(ds.SpacingBetweenSlices))
    locs = sorted(by_loc)
    assert len(locs) >= 10
    gaps_pos = np.abs(np.diff([by_loc[x][0] for x in locs]))
    assert gaps_pos == pytest.approx([by_loc[locs[0]][1]] * len(gaps_pos), abs=0.05)
    assert np.median(np.diff(locs)) < 0.8 * np.median(gaps_pos)


@pytest.mark.parametrize("scale", [None, 0.67])
def test_read_frames_takes_slice_gaps_from_positions(tmp_path, scale):
    """Synthetic DICOM stack 10 mm apart along its oblique normal, with no SliceLocation or one at 0.67 x the
    position (as Sunnybrook's): four slices named, and the volumes' gaps are 10 mm."""
    from device.lv.dicom_io import read_frames
    from device.lv.sax_volumes import positions_mm
    from tests.sax_series import sax_files

    for name, data in sax_files(n_phases=2, size=64, positions=True, location_scale=scale):
        (tmp_path / name).write_bytes(data)
    frames = read_frames(tmp_path)
    assert len({f.slice_location for f in frames}) == 4
    pos = sorted(set(positions_mm(frames)))
    assert np.diff(pos) == pytest.approx([10.0] * 3, abs=0.01)
