"""Sync: sending exam objects to a PACS (outbox worker over DICOMweb or C-STORE) and USB export bundles.

Entry points::

    worker.SyncWorker(outbox, target).step() / .run(stop_event)   # outbox: worker.Outbox protocol
    targets.target_from_settings(settings.sync) / worker_from_settings(outbox, settings.sync)
    dicomweb.DicomWebClient(DicomWebConfig(...)).send / .holds / .stow / .instances
    cstore.CStoreTarget(CStoreConfig(...)).send / .holds
    state.exam_sync_state(rows) -> ExamSyncState                  # for the UI's exam list
    usb.find_usb_drives(root, mount_roots=...) -> list[UsbDrive]; usb.eject(drive)
    export.exam_bundle_files(doc, pdf=, objects=) -> list[BundleFile]; export.export_to_drive(drive, files, pw, name)
    bundle.write_bundle(...) / verify_bundle(path, pw)
"""
