"""Site learning through the UI: one-touch clip labels on the exam page (login, CSRF, audited), then the admin page
learns from the confirmed clips as a background job, shows old vs new held-back accuracy, promotes only a better
model and rolls back byte for byte. The view model is the stand-in v2 of echo_learn_world.py."""

from __future__ import annotations

import pytest

from device.config import load_settings
from device.echo import site_models
from device.services.live_sink import encode_clip
from device.store import Store, audit, clinical
from device.store.db import Tx
from tests.integration import echo_learn_world as W
from tests.integration.conftest import UiClient

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    root = tmp_path_factory.mktemp("echo_learn_ui")
    W.shipped_model(root / "models")
    return root / "models"


@pytest.fixture()
def cart(tmp_path, shipped):
    cfg = tmp_path / "cardiocart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\nmodels_dir = "{shipped}"\n[web]\nport = 18080\n')
    settings = load_settings(cfg)
    s = Store.open(settings.data_dir)
    clips: list[tuple[int, int, str, str]] = []      # exam id, capture id, saved as, true view
    with Tx(s.conn):
        for p in range(8):
            pat = clinical.upsert_patient(s.conn, f"SITE{p:03d}")
            e = clinical.create_exam(s.conn, pat, "echo", None, list(W.SITE_VIEWS))
            for k, v in enumerate(W.SITE_VIEWS):
                frames = [W.screen(v, 90_000 + 100 * p + 10 * k + i, site=True) for i in range(3)]
                saved = "A2C" if (p, v) == (0, "A4C") else v      # one clip saved under the wrong protocol item
                cap = clinical.add_capture(s.conn, s.blobs, e.id, "clip", encode_clip(frames, 25.0),
                                           "application/x-cardiocart-clip+npz", label=saved, quality=0.8)
                clips.append((e.id, cap.id, saved, v))
    s.close()
    return settings, clips


def _login(app, settings, username, role, pin="482913") -> UiClient:
    from device.store import users
    s = Store.open(settings.data_dir)
    users.create_user(s.conn, username, username.title(), role, pin)
    s.close()
    ui = UiClient(app.test_client())
    ui.get("/login")
    assert ui.post("/login", {"username": username, "pin": pin}).status_code == 302
    ui.get("/")
    return ui


def test_label_clips_then_learn_promote_and_roll_back_from_the_admin_page(cart):
    from device.jobs.worker import run_until_idle
    from webui import create_app

    settings, clips = cart
    app = create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5})
    sono = _login(app, settings, "sono", "sonographer")
    e0, c0 = clips[0][0], clips[0][1]
    page = sono.get(f"/exams/{e0}")
    assert page.status_code == 200 and b"clip-confirm" in page.data
    # a POST without the CSRF token is refused and stores nothing
    r = sono.c.post(f"/exams/{e0}/clips/{c0}/label", data={"view": clips[0][2]})
    assert r.status_code == 400
    for exam_id, cap_id, saved, true in clips:
        data = {"view": saved} if saved == true else {"action": "correct", "corrected": true}
        assert sono.post(f"/exams/{exam_id}/clips/{cap_id}/label", data).status_code == 302
    s = Store.open(settings.data_dir)
    rows = s.conn.execute("SELECT state, count(*) FROM clip_labels GROUP BY state").fetchall()
    assert dict((r[0], r[1]) for r in rows) == {"confirmed": 31, "corrected": 1}
    logged = [a for a in audit.recent(s.conn, limit=100) if a.object_type == "clip_label"]
    assert len(logged) == 32 and all(a.username == "sono" for a in logged)
    # a clip of another exam cannot be labelled through this exam's URL; an admin cannot label
    assert sono.post(f"/exams/{clips[-1][0]}/clips/{c0}/label", {"view": "A4C"}).status_code == 404
    adm = _login(app, settings, "adm", "admin", "613850")
    assert adm.post(f"/exams/{e0}/clips/{c0}/label", {"view": "A4C"}).status_code == 403
    assert sono.get("/admin/echo-learn").status_code == 403

    before = W.tree_sha256(site_models.active_model_dir(settings.data_dir, settings.models_dir))
    r = adm.get("/admin/echo-learn")
    assert r.status_code == 200 and b"32 confirmed" in r.data and b"el-learn" in r.data
    assert adm.post("/admin/echo-learn/learn").status_code == 302
    job = s.conn.execute("SELECT id, state FROM jobs WHERE kind = 'echo.learn_views'").fetchone()
    assert job["state"] == "queued"                  # the request only queued the work
    done = run_until_idle(s, settings)
    assert [j.state for j in done] == ["done"], [j.error for j in done]
    res = done[0].result
    assert res["data"]["clips"] == 32 and res["data"]["patients"] == 8
    assert res["new_accuracy"] > res["old_accuracy"] and res["better"] and not res["promoted"]
    page = adm.get("/admin/echo-learn")
    assert b"el-promote" in page.data and f"{100 * res['new_accuracy']:.1f}%".encode() in page.data
    # promoting: the active model becomes the job's model directory, byte for byte
    assert adm.post("/admin/echo-learn/promote", {"job_id": str(done[0].id)}).status_code == 302
    active = site_models.active_model_dir(settings.data_dir, settings.models_dir)
    assert W.tree_sha256(active) == W.tree_sha256(res["model_dir"]) != before
    assert b"el-rollback" in adm.get("/admin/echo-learn").data
    # the same run cannot be promoted twice against a model it was not compared with
    assert adm.post("/admin/echo-learn/promote", {"job_id": str(done[0].id)}).status_code == 400
    assert adm.post("/admin/echo-learn/rollback").status_code == 302
    assert W.tree_sha256(site_models.active_model_dir(settings.data_dir, settings.models_dir)) == before
    events = [a.detail.get("event") for a in audit.recent(s.conn, limit=200) if a.object_type == "echo_view_model"]
    assert sorted(events) == ["promoted", "rolled_back"]
    assert any(a.object_type == "echo_learn_job" for a in audit.recent(s.conn, limit=200))
    s.close()


def test_admin_page_refuses_to_learn_from_too_few_confirmed_clips(cart):
    from webui import create_app

    settings, clips = cart
    app = create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5})
    sono = _login(app, settings, "sono", "sonographer")
    for exam_id, cap_id, saved, _ in clips[:8]:          # two patients' clips only
        sono.post(f"/exams/{exam_id}/clips/{cap_id}/label", {"view": saved})
    adm = _login(app, settings, "adm", "admin", "613850")
    page = adm.get("/admin/echo-learn")
    assert b"el-problem" in page.data and b"needs at least 4" in page.data and b'id="el-learn"' not in page.data
    r = adm.post("/admin/echo-learn/learn")
    assert r.status_code == 400 and b"needs at least 4" in r.data
    s = Store.open(settings.data_dir)
    assert s.conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    s.close()


def test_site_learning_text_exists_in_both_languages():
    import json
    from pathlib import Path

    d = Path(__file__).resolve().parents[2] / "webui" / "i18n"
    en = json.loads((d / "learn.en.json").read_text(encoding="utf-8"))
    zh = json.loads((d / "learn.zh-CN.json").read_text(encoding="utf-8"))
    assert en.keys() == zh.keys() and all(zh.values())
    for k, v in en.items():   # the same placeholders in both
        assert sorted(x.split("}")[0] for x in v.split("{")[1:]) == sorted(x.split("}")[0] for x in zh[k].split("{")[1:])


def test_admin_page_says_a_v1_model_cannot_learn(cart, shipped, tmp_path):
    import json
    import shutil

    from webui import create_app

    settings, clips = cart
    v1 = tmp_path / "v1models" / "echo_view"
    shutil.copytree(shipped / "echo_view", v1)
    man = json.loads((v1 / "manifest.json").read_text())
    del man["files"]["view_head"]
    (v1 / "manifest.json").write_text(json.dumps(man))
    cfg = tmp_path / "v1.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{settings.data_dir}"\nmodels_dir = "{v1.parent}"\n[web]\nport = 18080\n')
    settings = load_settings(cfg)
    app = create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5})
    sono = _login(app, settings, "sono", "sonographer")
    for exam_id, cap_id, saved, _ in clips:
        sono.post(f"/exams/{exam_id}/clips/{cap_id}/label", {"view": saved})
    adm = _login(app, settings, "adm", "admin", "613850")
    page = adm.get("/admin/echo-learn")
    assert b"needs view model v2" in page.data and b'id="el-learn"' not in page.data
    r = adm.post("/admin/echo-learn/learn")
    assert r.status_code == 400 and b"needs view model v2" in r.data
    s = Store.open(settings.data_dir)
    assert s.conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    s.close()
