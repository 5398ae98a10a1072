"""The out-of-domain corpus of issue 13, built by the project: inputs none of which may give a confident result.

``build(directory)`` writes the files and returns modality -> [(case name, file)]: ECG photos (turned, mirrored,
greyscale, 16-bit, downscaled, cut, blank, noise, cartoon, MRI, camera), perfusion volumes (other organs, noise, CT
numbers, a 2-D image, an ECG photo), SPECTF rows out of range, pictures and a cartoon ring video for the echo
commands, and DICOM MR series that hold no short-axis left ventricle for ``lv sax``. Used by test_ood_corpus.py (every
CLI) and test_ood_uploads.py (every upload route).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

ECG_TURNS = {"rotated 180": lambda a: a[::-1, ::-1], "mirrored": lambda a: a[:, ::-1],
             "upside down": lambda a: a[::-1], "rotated 90": lambda a: np.rot90(a)}


def png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    return path


def jpg(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def cartoon(h: int = 600, w: int = 800) -> np.ndarray:
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.circle(img, (w // 2, h // 2), 150, (200, 30, 30), 25)
    cv2.putText(img, "heart!", (w // 2 - 90, h // 2 + 15), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    return img


def write_mr(path: Path, frames: np.ndarray, spacing_mm: float = 1.4) -> Path:
    """A multi-frame MR DICOM (what ``lv sax`` reads) of ``frames`` (n, H, W), labelled a short-axis cine."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesDescription, ds.InstanceNumber = "MR", "SAX cine", 1
    ds.StudyInstanceUID = ds.SeriesInstanceUID = generate_uid()
    arr = np.clip(frames, 0, 4000).astype(np.uint16)
    ds.NumberOfFrames, (ds.Rows, ds.Columns) = arr.shape[0], arr.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.8, -0.6]
    ds.SliceLocation, ds.TriggerTime = 10.0, 0.0
    ds.PixelData = arr.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def build(d: Path) -> dict[str, list[tuple[str, Path]]]:
    from device.sim import echo_nonecho, ecg_paper
    from device.sim import ood_volumes as ov
    from device.sim.spect import simulate_study

    rng = np.random.default_rng(13)
    sig = ecg_paper.synthetic_ecg(rng, hr_bpm=70)
    page = ecg_paper.render(sig, rng=rng).image
    photo = ecg_paper.photograph(page, rng, strength=0.6)
    grey8 = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    ecg = [(f"photo {k}", jpg(d / f"ecg_{k.replace(' ', '_')}.jpg", f(photo))) for k, f in ECG_TURNS.items()]
    cv2.imwrite(str(d / "ecg_grey16.png"), grey8.astype(np.uint16) * 257)
    ecg += [
        ("greyscale photo", jpg(d / "ecg_grey.jpg", np.repeat(grey8[..., None], 3, 2))),
        ("16-bit greyscale PNG", d / "ecg_grey16.png"),
        ("downscaled 4x", jpg(d / "ecg_small.jpg", cv2.resize(photo, None, fx=0.25, fy=0.25,
                                                                interpolation=cv2.INTER_AREA))),
        ("left half of the page", jpg(d / "ecg_half.jpg", photo[:, : photo.shape[1] // 2])),
        ("top half of the page", jpg(d / "ecg_tophalf.jpg", photo[: photo.shape[0] // 2])),
        ("blank white", png(d / "ecg_blank.png", np.full((1200, 1600, 3), 255, np.uint8))),
        ("noise", png(d / "ecg_noise.png", rng.integers(0, 255, (1200, 1600, 3), np.uint8))),
        ("cartoon", png(d / "ecg_cartoon.png", cartoon(1200, 1600))),
        ("MRI slice (wrong modality)", png(d / "ecg_mri.png", echo_nonecho.mri_slice(900, 1200, rng))),
        ("camera scene", png(d / "ecg_scene.png", echo_nonecho.camera_scene(900, 1200, rng))),
    ]
    perf = []
    for name in ("brain", "kidneys", "liver", "noise", "one hot voxel"):
        p = d / f"perf_{name.replace(' ', '_')}.npz"
        np.savez_compressed(p, stress=ov.VOLUMES[name](rng), voxel_mm=np.array([3.2] * 3))
        perf.append((f"{name} volume", p))
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
    # lv sax: DICOM MR series labelled short-axis that hold no left ventricle
    n, size = 6, 160
    ring = [cv2.circle(np.zeros((size, size)), (size // 2, size // 2), int(28 + 6 * np.sin(k)), 3000.0, 6)
            for k in range(n)]
    brain = ov.VOLUMES["brain"](rng)
    brain_sl = np.stack([cv2.resize(brain[brain.shape[0] // 2], (size, size))] * n)
    sax = [("noise series", write_mr(d / "sax_noise.dcm", rng.integers(0, 4000, (n, size, size)))),
           ("blank series", write_mr(d / "sax_blank.dcm", np.zeros((n, size, size)))),
           ("cartoon pulsing ring", write_mr(d / "sax_ring.dcm", np.stack(ring))),
           ("brain-like slice", write_mr(d / "sax_brain.dcm", brain_sl / max(float(brain_sl.max()), 1e-6) * 3000)),
           ("ECG photo as MR (wrong modality)",
            write_mr(d / "sax_ecg.dcm", np.stack([cv2.resize(grey8, (size, size)).astype(float) * 10] * n)))]
    return {"ecg read": ecg, "perfusion polar": perf, "perfusion regions": regions, "echo": echo, "lv sax": sax}
