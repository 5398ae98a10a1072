"""DICOM C-STORE target (pynetdicom), the alternative to DICOMweb: ``send`` by C-STORE, ``holds`` by C-FIND.

``holds`` asks at IMAGE level with the Study and SOP Instance UIDs (Series universal). A PACS that refuses that
query answers "not held", and the object is sent again: with its stable SOP Instance UID the PACS replaces, not
duplicates, it.
"""

from __future__ import annotations

import io
import ssl
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from device.errors import ConfigError
from device.sync.errors import PacsRejected, PacsUnavailable

_TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]


@dataclass(frozen=True)
class CStoreConfig:
    host: str
    port: int
    called_ae: str
    calling_ae: str = "CARDIOCART"
    ca_bundle: str = ""        # PEM: use TLS and verify the PACS against it
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.host or not (0 < self.port < 65536):
            raise ConfigError("C-STORE needs sync.cstore_host and a port between 1 and 65535")
        for ae in (self.called_ae, self.calling_ae):
            if not ae or len(ae) > 16:
                raise ConfigError(f"AE title '{ae}' must be 1 to 16 characters; fix sync.cstore_ae_title")


class CStoreTarget:
    """Implements the worker's ``Target`` protocol over DIMSE."""

    name = "cstore"

    def __init__(self, config: CStoreConfig):
        self.config = config

    def _associate(self, contexts: list[str]):
        c = self.config
        ae = AE(ae_title=c.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = c.timeout_s
        for ctx in contexts:
            ae.add_requested_context(ctx, _TS)
        tls = None
        if c.ca_bundle:
            tls = (ssl.create_default_context(cafile=c.ca_bundle), c.host)
        try:
            assoc = ae.associate(c.host, c.port, ae_title=c.called_ae, tls_args=tls)
        except (OSError, ssl.SSLError) as exc:
            raise PacsUnavailable(f"PACS {c.host}:{c.port} unreachable ({exc}); will retry") from None
        if not assoc.is_established:
            raise PacsUnavailable(f"PACS {c.called_ae}@{c.host}:{c.port} did not accept an association; "
                                  "will retry (check the AE titles if this persists)")
        return assoc

    def send(self, data: bytes, study_uid: str, sop_uid: str) -> None:
        ds = dcmread(io.BytesIO(data))
        assoc = self._associate([ds.SOPClassUID])
        try:
            status = assoc.send_c_store(ds)
        finally:
            assoc.release()
        code = getattr(status, "Status", None)
        if code is None:
            raise PacsUnavailable(f"PACS {self.config.host} gave no C-STORE answer for {sop_uid}; will retry")
        if code != 0x0000 and (code & 0xF000) != 0xB000:  # success or warning
            raise PacsRejected(f"PACS {self.config.host} refused {sop_uid} (C-STORE status 0x{code:04X})")

    def holds(self, study_uid: str, sop_uid: str) -> bool:
        q = Dataset()
        q.QueryRetrieveLevel = "IMAGE"
        q.StudyInstanceUID = study_uid
        q.SeriesInstanceUID = ""
        q.SOPInstanceUID = sop_uid
        assoc = self._associate([StudyRootQueryRetrieveInformationModelFind])
        found = False
        try:
            for status, ident in assoc.send_c_find(q, StudyRootQueryRetrieveInformationModelFind):
                if status is None:
                    raise PacsUnavailable(f"PACS {self.config.host} dropped the C-FIND; will retry")
                if status.Status in (0xFF00, 0xFF01) and ident is not None \
                        and getattr(ident, "SOPInstanceUID", None) == sop_uid:
                    found = True
        finally:
            assoc.release()
        return found
