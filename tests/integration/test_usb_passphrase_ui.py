"""Issue 18 point 8: USB export without editing the configuration. With no ``[usb] passphrase_file`` an
administrator sets the export passphrase on the USB page (CSRF, admin only, audited without the passphrase): it is
stored in the data directory with mode 0600 and the export and verify jobs use it; a configured file still rules."""

from __future__ import annotations

import stat

import pytest

from device.config import load_settings
from device.errors import UserError
from device.store import Store, audit
from device.usecases import export


def test_admin_sets_the_passphrase_on_the_usb_page(login, settings, tmp_path):
    assert not settings.usb.passphrase_file and export.passphrase_file(settings) == ""
    admin = login("root", "admin", "573920")
    page = admin.get("/usb").data.decode()
    assert 'id="usb-passphrase-error"' in page and 'id="usb-passphrase"' in page and "on this page" in page
    doc = login("drli", "physician", "482913")
    assert doc.post("/usb/passphrase", {"passphrase": "x" * 12, "passphrase2": "x" * 12}).status_code == 403
    assert 'id="usb-passphrase"' not in doc.get("/usb").data.decode()            # the form is the admin's
    admin.get("/usb")
    admin.post("/usb/passphrase", {"passphrase": "short", "passphrase2": "short"})
    assert "at least 8 characters" in admin.get("/usb").data.decode()
    admin.post("/usb/passphrase", {"passphrase": "correct horse battery", "passphrase2": "correct horse batterY"})
    assert export.passphrase_file(settings) == ""                                  # nothing stored yet
    assert admin.post("/usb/passphrase", {"passphrase": "correct horse battery",
                                          "passphrase2": "correct horse battery"}).status_code == 302
    path = export.passphrase_file(settings)
    assert path.endswith("usb_passphrase") and stat.S_IMODE((settings.data_dir / "usb_passphrase").stat().st_mode) == 0o600
    assert export.passphrase(path) == "correct horse battery"                      # what the jobs read
    page = admin.get("/usb").data.decode()
    assert 'id="usb-passphrase-error"' not in page and "USB export is on" in page
    s = Store.open(settings.data_dir)
    rows = audit.recent(s.conn, 20, object_type="usb_passphrase")
    s.close()
    assert len(rows) == 1 and rows[0].username == "root" and "correct horse" not in str(rows[0].detail)


def test_a_configured_passphrase_file_rules(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("from the configuration\n")
    pw.chmod(0o600)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n[usb]\npassphrase_file = "{pw}"\n')
    s = load_settings(cfg)
    assert export.passphrase_file(s) == str(pw)
    with pytest.raises(UserError, match="configuration"):
        export.set_passphrase(s, "another one here", "another one here")
