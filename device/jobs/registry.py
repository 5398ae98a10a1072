"""The one table of job kinds and their handlers (``handler(payload: dict, progress) -> dict``), and the recovery
hooks the worker runs at start (``hook(conn) -> number of jobs queued``). An unknown kind is failed by the worker with
the list of known ones. Imported by the worker only: the web UI enqueues through :mod:`device.jobs` and the use-case
modules without loading any handler's dependencies.

Add a line per kind here (E2, E3, E8: your handlers go in this table).
"""

from __future__ import annotations

from collections.abc import Callable

from device.jobs import Handler
from device.usecases import (ecg_read_jobs, echo_doppler, echo_exam, echo_learn, export, perfusion_regions,
                             perfusion_study, sax_study)

HANDLERS: dict[str, Handler] = {
    ecg_read_jobs.READ_KIND: ecg_read_jobs.read_job,            # read a stored ECG printout photo
    ecg_read_jobs.CORRECT_KIND: ecg_read_jobs.correct_job,      # re-digitise a reading (speed, gain, lead boxes)
    ecg_read_jobs.SERIAL_KIND: ecg_read_jobs.serial_job,        # analyse and store a saved serial ECG recording
    echo_exam.MEASURE_CLIP: echo_exam.measure_clip_job,         # LV measurement of one saved echo clip
    echo_exam.MEASURE_EXAM: echo_exam.measure_exam_job,         # LV measurement of an exam's best clips (page)
    echo_doppler.READ_KIND: echo_doppler.read_job,              # a spectral Doppler screen (upload or OTHER clip)
    echo_learn.LEARN_KIND: echo_learn.handle_job,               # site learning from the store's confirmed clips
    perfusion_study.ANALYSE: perfusion_study.analyse_job,       # perfusion study analysis (bullseye, territories)
    perfusion_study.DEMO: perfusion_study.demo_job,             # a simulated perfusion study, stored and analysed
    perfusion_regions.REGIONS: perfusion_regions.regions_job,   # SPECTF regional counts -> perfusion_spectf model
    sax_study.ANALYSE: sax_study.analyse_job,                   # short-axis MRI series: contours, indices, EDV/ESV/EF
    export.EXPORT: export.usb_export_job,                       # encrypted USB bundle of exams, written and verified
    export.VERIFY: export.usb_verify_job,                       # a bundle on a USB drive read back and checked
}

RECOVERY: list[Callable] = [
    echo_exam.enqueue_unmeasured_clips,                         # clips saved by a core killed before it queued them
    echo_doppler.enqueue_unread_other_clips,                    # OTHER clips (Doppler screens?) never queued
]
