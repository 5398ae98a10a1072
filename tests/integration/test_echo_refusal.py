"""Wrong inputs to LV echo measurement are refused, the same way everywhere (issue 13: "an MRI cine gives EF 1.1 %
with a critical alert; a cartoon pulsing ring gives PLAX measurements"):

- ``echo measure`` on a cartoon pulsing ring and on an MRI-like cine (written as DICOM with a calibration): exit
  code 2, one line on stderr with the reason, nothing on stdout (with --json: status refused, no measurements, no
  alerts);
- the exam's clip measurement (the path the background job and the echo page use): a refused finding with the
  reason and the check scores, no measurement row, no alert; the echo page shows the reason;
- with /work/shared: a real Sunnybrook MR cine given as an "echo" is refused; the real SonoSite cine is either
  refused with a reason or measured only with every check passed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from device.__main__ import main
from device.inference import list_models
from device.reporting.settings import ReportSettings
from device.services import echo_measure as em
from device.services.live_sink import encode_clip
from device.store import Store, clinical
from device.store.db import Tx
from tests.unit.test_echo_validity import mri_like, ring

needs_model = pytest.mark.skipif("lv_seg" not in list_models(), reason="the lv_seg model is not built (make models)")
TABLE = ReportSettings.bundled().case_table


def write_dicom(path: Path, frames: np.ndarray, *, modality: str, mm_per_px: float, frame_time_ms: float = 40.0):
    """A multi-frame DICOM: US with an ultrasound region calibration, or MR with PixelSpacing."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop = "1.2.840.10008.5.1.4.1.1.3.1" if modality == "US" else "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPClassUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:3]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    bits = 16 if frames.dtype == np.uint16 else 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.FrameTime = frame_time_ms
    if modality == "US":
        r = Dataset()
        r.RegionSpatialFormat, r.RegionDataType = 1, 1
        r.PhysicalUnitsXDirection = r.PhysicalUnitsYDirection = 3
        r.PhysicalDeltaX = r.PhysicalDeltaY = mm_per_px / 10.0
        r.RegionLocationMinX0, r.RegionLocationMinY0 = 0, 0
        r.RegionLocationMaxX1, r.RegionLocationMaxY1 = frames.shape[2] - 1, frames.shape[1] - 1
        ds.SequenceOfUltrasoundRegions = [r]
    else:
        ds.PixelSpacing = [mm_per_px, mm_per_px]
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@needs_model
@pytest.mark.parametrize("name", ["ring", "mri"])
def test_cli_refuses_cartoon_ring_and_mri_cine(tmp_path, capsys, name):
    if name == "ring":
        path = write_dicom(tmp_path / "ring.dcm", ring(), modality="US", mm_per_px=0.4)
    else:
        path = write_dicom(tmp_path / "mri.dcm", mri_like(), modality="MR", mm_per_px=1.3)
    rc, out, err = run(["echo", "measure", str(path), "--sex", "male"], capsys)
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: not an echo clip: ")
    assert "Traceback" not in err and str(tmp_path) not in err
    rc, out, err = run(["echo", "measure", str(path), "--sex", "male", "--json"], capsys)
    assert rc == 2
    doc = json.loads(out)
    assert doc["status"] == "refused" and doc["measurements"] == [] and "alerts" not in doc
    assert doc["checks"]["echo"]["ok"] is False and "fan" in doc["checks"]["echo"]["failed"]
    assert doc["reason"].startswith("not an echo clip")


def _exam(store: Store) -> clinical.Exam:
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "ECHO0002", "Test Patient", "M")
        return clinical.create_exam(store.conn, p, "echo", None, ["A4C", "PLAX"])


@needs_model
def test_stored_clip_of_a_ring_is_refused_without_values_or_alerts(settings, login):
    store = Store.open(settings.data_dir)
    exam = _exam(store)
    frames = ring()
    caps = []
    for view in ("A4C", "PLAX"):
        with Tx(store.conn):
            caps.append(clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(frames, 25.0),
                                             "application/x-cardiocart-clip+npz", label=view, quality=0.9,
                                             meta={"mm_per_px": 0.4, "fps": 25.0}).id)
    res = em.measure_exam(store.conn, store.blobs, exam.id, table=TABLE)
    assert [c.status for c in res.clips] == ["refused", "refused"]
    assert all(c.reason.startswith("not an echo clip") and not c.values for c in res.clips)
    assert res.alert_ids == () and res.biplane == {}
    assert clinical.current_measurements(store.conn, exam.id) == []
    assert store.conn.execute("SELECT COUNT(*) FROM alerts WHERE exam_id = ?", (exam.id,)).fetchone()[0] == 0
    geo = em.geometry_findings(store.conn, exam.id)
    for cid in caps:
        d = geo[cid]["detail"]
        assert d["status"] == "refused" and d["checks"]["echo"]["ok"] is False
        assert d["checks"]["echo"]["scores"]["fan_taper"] > 0.5
    ui = login("sono", "sonographer")
    html = ui.get(f"/exams/{exam.id}/echo").data.decode()
    assert html.count('data-status="refused"') == 2 and "not an echo clip" in html
    store.close()


def sunnybrook_cine(shared: Path, patient: str = "SCD0000101") -> tuple[np.ndarray, float]:
    """The 20 phases of one mid-ventricular short-axis slice of a Sunnybrook patient, as a uint16 cine."""
    import pydicom
    root = shared / "cardiac-mri-sunnybrook" / "dicoms" / patient
    by_loc: dict[float, list] = {}
    for p in root.glob("*.dcm"):
        ds = pydicom.dcmread(p)
        by_loc.setdefault(round(float(ds.SliceLocation), 1), []).append(ds)
    locs = sorted(k for k, v in by_loc.items() if len(v) >= 10)
    series = sorted(by_loc[locs[len(locs) // 2]], key=lambda d: int(d.InstanceNumber))
    return np.stack([d.pixel_array for d in series]).astype(np.uint16), float(series[0].PixelSpacing[0])


@pytest.mark.shared_data
@needs_model
def test_sunnybrook_mr_cine_given_as_echo_is_refused(tmp_path, capsys, shared_data):
    frames, mm = sunnybrook_cine(shared_data)
    path = write_dicom(tmp_path / "sunnybrook_cine.dcm", frames, modality="MR", mm_per_px=mm)
    rc, out, err = run(["echo", "measure", str(path), "--sex", "male", "--json"], capsys)
    assert rc == 2
    doc = json.loads(out)
    assert doc["status"] == "refused" and doc["measurements"] == [] and "alerts" not in doc
    assert doc["reason"].startswith("not an echo clip") and "fan" in doc["checks"]["echo"]["failed"]
    assert len(err.strip().splitlines()) == 1


@pytest.mark.shared_data
@needs_model
def test_real_sonosite_cine_refused_or_measured_only_with_every_check(capsys, shared_data):
    path = shared_data / "echo-dicom" / "color3d_jpeg_baseline.dcm"
    rc, out, _ = run(["echo", "measure", str(path), "--view", "A4C", "--json"], capsys)
    doc = json.loads(out)
    assert doc["checks"]["echo"]["ok"] is True                       # it is an echo clip
    if doc["status"] == "refused":
        assert rc == 2 and doc["measurements"] == [] and doc["reason"].startswith("EF not given: ")
        assert doc["checks"]["lv"]["ok"] is False and doc["checks"]["lv"]["failed"]
    else:
        assert rc == 0 and doc["checks"]["lv"]["ok"] is True
        ef = next(m["value"] for m in doc["measurements"] if m["name"] == "ef_pct")
        assert 15 <= ef <= 85


@needs_model
def test_stored_clip_checked_against_its_frame_rate(tmp_path):
    """The clip measurement passes the clip's saved frame rate to the LV checks: the same simulated A4C beat
    stored as if recorded at 120 fps has ED and ES some 50 ms apart - not a systole - and is refused; at its
    real 20 fps it is measured."""
    from device.sim.echo_probe import Segment, SimulatedProbe
    probe = SimulatedProbe(script=(Segment("A4C", approach_s=0.05, hold_s=10, leave_s=0.05),), size=(480, 360),
                           fps=20, hr_bpm=75, seed=2)
    shots = [probe.next() for _ in range(24)][2:]
    frames = np.stack([s[0] for s in shots])
    mmpp = shots[-1][1].mm_per_px
    store = Store.open(tmp_path)
    exam = _exam(store)
    ids = {}
    for fps in (120.0, 20.0):
        with Tx(store.conn):
            ids[fps] = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(frames, fps),
                                            "application/x-cardiocart-clip+npz", label="A4C", quality=0.9,
                                            meta={"mm_per_px": mmpp, "fps": fps}).id
    fast = em.measure_capture(store.conn, store.blobs, ids[120.0], table=TABLE).clips[0]
    assert fast.status == "refused" and "ms apart, not one systole" in fast.reason and not fast.values
    d = em.geometry_findings(store.conn, exam.id)[ids[120.0]]["detail"]
    assert d["checks"]["echo"]["ok"] is True and "phase" in d["checks"]["lv"]["failed"]
    assert d["checks"]["lv"]["scores"]["frame_time_ms"] == pytest.approx(1000 / 120, abs=0.01)
    assert clinical.current_measurements(store.conn, exam.id) == []
    real = em.measure_capture(store.conn, store.blobs, ids[20.0], table=TABLE).clips[0]
    assert real.status == "measured" and 20 < real.values["a4c_ef_pct"] < 85
    d = em.geometry_findings(store.conn, exam.id)[ids[20.0]]["detail"]
    assert d["checks"]["lv"]["ok"] is True and d["checks"]["lv"]["scores"]["ed_to_es_ms"] >= 120
    store.close()
