"""DICOM builders for an exam's report objects; each returns a DicomObject with a framework-free write()."""
