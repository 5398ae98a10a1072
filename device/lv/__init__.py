"""Left-ventricle measurements: pure functions on arrays (no I/O except explicit ``write_*`` / ``load_*`` helpers).

Public API (arrays in, frozen dataclasses out):

- :func:`device.lv.preprocess.equalise` - histogram equalisation before the model (patent 002).
- :func:`device.lv.indices.sax_indices` - LVQuan short-axis indices from a label mask.
- :func:`device.lv.phase.phase_from_areas` - ED/ES and systole/diastole labels from a cavity-area curve.
- :func:`device.lv.volumes.apical_volumes` - method of discs (single-plane or biplane) EDV/ESV/SV/EF.
- :func:`device.lv.plax.plax_linear` - PLAX linear measurements; :func:`device.lv.plax.plax_from_calipers`.
- :func:`device.lv.casetable.interpret` - case-table interpretation with critical alerts.
- :func:`device.lv.segment.segment` - model segmentation of frames into label masks.
"""

# Label values of every LV segmentation mask in this package.
BACKGROUND = 0
CAVITY = 1
MYOCARDIUM = 2
LEFT_ATRIUM = 3
AORTIC_ROOT = 4
LABELS = ("background", "lv_cavity", "lv_myocardium", "left_atrium", "aortic_root")
