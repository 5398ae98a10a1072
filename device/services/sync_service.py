"""The sync role: drains the SQLite outbox into the configured PACS (DICOMweb STOW-RS or C-STORE)."""

from __future__ import annotations

import logging
import time

from device.config import Settings
from device.errors import UserError
from device.services.runtime import InstanceLock, StopFlag, heartbeat
from device.store import Store, audit, outbox as outbox_repo
from device.store.db import Tx
from device.sync.worker import Backoff, OutboxItem, SyncWorker

log = logging.getLogger(__name__)


class SqliteOutbox:
    """The worker's Outbox protocol over the ``outbox`` table; payloads come from the blob store."""

    def __init__(self, store: Store, target: str, clock=time.time):
        self.store = store
        self.target = target
        self.clock = clock

    def claim_next(self) -> OutboxItem | None:
        row = outbox_repo.claim_next(self.store.conn, self.target, now=self.clock())
        if row is None:
            return None
        study_uid = self.store.conn.execute("SELECT study_uid FROM exams WHERE id = ?", (row.exam_id,)).fetchone()[0]
        try:
            data = self.store.blobs.get(row.blob_sha256)
        except (OSError, UserError) as exc:
            outbox_repo.mark_failed(self.store.conn, row.id, f"stored object unreadable: {exc}", None)
            return self.claim_next()
        return OutboxItem(row.id, study_uid, row.sop_instance_uid, data, attempts=row.attempts - 1)

    def mark_sent(self, item_id: int | str) -> None:
        """Mark the object sent and record in the audit log, in the same transaction, that it left the box."""
        c = self.store.conn
        with Tx(c):
            row = c.execute("SELECT exam_id, object_kind, sop_instance_uid FROM outbox WHERE id = ?",
                            (int(item_id),)).fetchone()
            outbox_repo.mark_sent(c, int(item_id))
            if row is not None:
                audit.record(c, user_id=None, username="sync", action="export", object_type="exam",
                             object_id=row[0], detail={"target": self.target, "object_kind": row[1],
                                                       "sop_instance_uid": row[2]})

    def mark_failed(self, item_id: int | str, error: str, retry_at: float | None) -> None:
        outbox_repo.mark_failed(self.store.conn, int(item_id), error, retry_at)


def build_target(settings: Settings):
    sync = settings.sync
    if sync.target == "dicomweb":
        from device.sync.dicomweb import DicomWebClient, config_from_settings
        return DicomWebClient(config_from_settings(sync))
    if sync.target == "cstore":
        from device.sync.cstore import CStoreConfig, CStoreTarget
        return CStoreTarget(CStoreConfig(host=sync.cstore_host, port=sync.cstore_port, called_ae=sync.cstore_ae_title,
                                         calling_ae=sync.calling_ae_title, ca_bundle=sync.ca_bundle))
    return None


def run_sync(settings: Settings, stop: StopFlag | None = None) -> int:
    stop = stop or StopFlag().install()
    with InstanceLock(settings.run_dir, "sync"):
        target = build_target(settings)  # a bad [sync] section stops here with one line
        store = Store.open(settings.data_dir)
        if target is None:
            log.info("no sync target configured ([sync] target = none): patient data stays on this box")
            while not stop.stopped:
                heartbeat(settings.run_dir, "sync", {"target": "none"})
                stop.wait(10)
            return 0
        worker = SyncWorker(SqliteOutbox(store, settings.sync.target), target,
                            Backoff(settings.sync.retry_initial_s, settings.sync.retry_max_s))
        log.info("sync worker sending to %s", settings.sync.target)
        last_beat = 0.0
        while not stop.stopped:
            outcome = worker.step()
            if time.monotonic() - last_beat > 5:
                heartbeat(settings.run_dir, "sync", {"target": settings.sync.target,
                                                     "paused_until": worker.paused_until})
                last_beat = time.monotonic()
            if outcome is None or outcome.result == "retry":
                wait = 1.0
                if worker.paused_until:
                    wait = min(max(0.05, worker.paused_until - time.time()), 5.0)
                stop.wait(wait)
        store.close()
    return 0
