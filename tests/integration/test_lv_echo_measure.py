"""`echo measure PATH --json` on simulated apical and PLAX clips written as ultrasound DICOM with region calibration."""

import argparse
import json

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from device.errors import InputError
from device.paths import MODELS_DIR

sim = pytest.importorskip("models.training.lv_seg_sim", reason="needs the echo simulator (device/sim)")
pytestmark = pytest.mark.skipif(not (MODELS_DIR / "lv_seg" / "manifest.json").exists(),
                                reason="the lv_seg model is not built (make models)")


def write_us(path, frames, mm_per_px=None):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundMultiFrameImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if mm_per_px is not None:
        r = Dataset()
        r.RegionSpatialFormat, r.RegionDataType = 1, 1
        r.PhysicalUnitsXDirection = r.PhysicalUnitsYDirection = 3
        r.PhysicalDeltaX = r.PhysicalDeltaY = mm_per_px / 10.0
        ds.SequenceOfUltrasoundRegions = [r]
    ds.PixelData = frames.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


def run_cli(argv):
    from device.cli.echo_measure import register_measure
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register_measure(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def a4c():
    return sim.sim_clip("A4C", 20, seed=3)


def test_apical_clip_ef_close_to_ground_truth(tmp_path, a4c, capsys):
    from device.lv.echo import measure_apical
    frames, labels, mmpp, _ = a4c
    truth = measure_apical(labels, mmpp, "A4C", "truth", "-")
    path = tmp_path / "a4c.dcm"
    write_us(path, frames, mmpp)
    assert run_cli(["measure", str(path), "--view", "A4C", "--sex", "male", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    got = {m["name"]: m["value"] for m in out["measurements"]}
    assert set(got) == {"edv_ml", "esv_ml", "sv_ml", "ef_pct"}
    assert abs(got["ef_pct"] - truth.volumes.ef_pct) < 12
    assert abs(got["edv_ml"] - truth.volumes.edv_ml) / truth.volumes.edv_ml < 0.3
    assert out["model"].startswith("lv_seg ") and out["disclaimer"]
    assert out["view"] == "A4C" and out["ed_frame"] != out["es_frame"]
    assert all(not m["confirmed"] and not m["edited"] for m in out["measurements"])
    assert {i["name"] for i in out["interpretations"]} == set(got)


def test_plax_clip_linear_values(tmp_path, capsys):
    from device.lv.echo import measure_plax
    frames, labels, mmpp, _ = sim.sim_clip("PLAX", 16, seed=4)
    truth = measure_plax(labels, mmpp, "truth", "-")
    path = tmp_path / "plax.dcm"
    write_us(path, frames, mmpp)
    assert run_cli(["measure", str(path), "--json"]) == 0     # view found automatically
    out = json.loads(capsys.readouterr().out)
    got = {m["name"]: m["value"] for m in out["measurements"]}
    assert out["view"] == "PLAX"
    assert abs(got["lvidd_mm"] - truth.linear.lvidd_mm) < 6
    assert "fs_pct" in got and "teichholz_ef_pct" in got
    # the aortic root comes from the image (the model has no root label); truth: the simulator's root lumen
    assert truth.linear.aortic_root_mm is not None
    assert abs(got["aortic_root_mm"] - truth.linear.aortic_root_mm) < 3.5
    root = next(m for m in out["measurements"] if m["name"] == "aortic_root_mm")
    assert "wall peak" in root["method"]
    # patent 004's septal motion amplitude (device/echo/septal_motion.py) on the LV line, against the same
    # measurer on the simulator's true masks
    from device.echo.measures2d import Clip2D
    from device.echo.septal_motion import measure_septal_motion
    m2d = {m["name"]: m for m in out["measurements_2d"]}
    cal = {k: ([list(p) for p in v] if v else None) for k, v in vars(truth.linear.calipers).items()}
    lv = {"calipers": cal, "frames": {"ed": {"index": truth.ed_frame}, "es": {"index": truth.es_frame}}}
    [ref] = measure_septal_motion(Clip2D(frames, (mmpp, mmpp), "PLAX", lv=lv))
    assert ref.value is not None and ref.value > 2                       # the simulated septum moves in systole
    assert abs(m2d["ivs_motion_mm"]["value"] - ref.value) < 3, (m2d["ivs_motion_mm"], ref.value)
    assert m2d["ivs_motion_mm"]["frame"] != m2d["ivs_motion_mm"]["frame2"]


def test_uncalibrated_clip_refused(tmp_path, a4c):
    frames = a4c[0][:4]
    path = tmp_path / "nocal.dcm"
    write_us(path, frames, None)
    with pytest.raises(InputError, match="calibration"):
        run_cli(["measure", str(path)])
    with pytest.raises(InputError):
        run_cli(["measure", str(tmp_path / "absent.dcm")])
