"""Use cases, one module per modality (echo exam, ECG reading, SAX, perfusion study, export): what the web UI, the
CLI, the core and the job worker call. They hold the clinical storage and rules; the analysis packages stay pure
and the views only translate requests. Heavy work is queued as a job (:mod:`device.jobs`)."""
