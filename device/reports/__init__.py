"""Reports: the report model and its renderings (HTML, PDF, DICOM, FHIR, CSV/JSON). Pure: no store, no clock.

Entry points::

    model.ReportDoc(patient, exam, kind, sections, key_images, free_text, language, ...)
    model.edit(doc, **changes) -> ReportDoc          # new draft version; SignedReportError if signed
    model.correct(doc, reason, **changes) -> ReportDoc  # new version amending a signed one
    model.sign(doc, signer, now) -> ReportDoc
    serialize.to_dict / from_dict / dumps / load      # JSON (cardiocart.report/1)
    html.render_html(doc) -> str
    pdf.render_pdf(doc) -> bytes                      # FontMissingError names fonts-wqy-zenhei
    dicom.exam.build_report_objects(doc, pdf) -> list[DicomObject]; dicom.common.write(obj, path)
    dicom.ids: sop_uid, series_uid, apply_identity, ExamIdentity  # for every writer of an exam's objects
    fhir.diagnostic_report_bundle(doc, pdf) -> dict
    tabular.measurements_csv / measurements_json / signal_csv / signal_json
"""
