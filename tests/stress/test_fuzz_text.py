"""Fuzzing of the text and archive formats a site or a user hands the cart: the TOML settings, the LV case table
CSV, SPECTF rows, WFDB records (``ecg render --record``), the perfusion normal database JSON, report JSON
(``export render``), encrypted USB export bundles (verify), the echo fine-tuning label CSV; and a sample of
mutated files through the real CLI (``python -m device ...`` in a subprocess). Harness: ``test_fuzz_inputs.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from device.errors import UserError
from tests.stress.figures import ROOT
from tests.stress.test_fuzz_inputs import Fuzz, finish, mutated, write_case

# ------------------------------------------------------------------------------------------------ shared strategies

_WEIRD_TEXT = st.sampled_from(["", " ", "\x00", "nan", "inf", "-inf", "1e999", "-0", "0x10", "１２", "\u202e", "é",
                               "\"", "'", ",", "\\", "\n", "[", "=", "#", "a" * 300])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.integers(),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), _WEIRD_TEXT)
JSON = st.recursive(_SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                     st.dictionaries(st.text(max_size=12), kids, max_size=5)),
                    max_leaves=25)


def _json_bytes(obj) -> bytes:
    return json.dumps(obj, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def json_mutation(draw, seed: object) -> object:
    """The seed document with 1..4 random subtrees replaced by random JSON (or deleted)."""
    doc = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(1, 4))):
        node, path = doc, []
        while isinstance(node, (dict, list)) and node and draw(st.integers(0, 3)):
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
            path.append((node, key))
            node = node[key]
        if not path:
            return draw(JSON)
        parent, key = path[-1]
        if draw(st.integers(0, 4)) == 0:
            del parent[key]
        else:
            parent[key] = draw(JSON)
    return doc


def text_cases(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated([seed], head=4096), st.binary(max_size=300),
                     st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))


# ------------------------------------------------------------------------------------------------ settings (TOML)

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return {math.inf: "inf", -math.inf: "-inf"}.get(v, "nan" if v != v else repr(v))
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + "}"
    return json.dumps(str(v), ensure_ascii=False)


@st.composite
def settings_toml(draw) -> bytes:
    """Valid TOML: the real sections and keys (and unknown ones) with values of every TOML type."""
    import tomllib

    from device.config import DEFAULTS_FILE

    defaults = tomllib.loads(DEFAULTS_FILE.read_text())
    value = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(), st.text(max_size=30), _WEIRD_TEXT,
                      st.lists(st.one_of(st.text(max_size=8), st.integers()), max_size=4),
                      st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=2))
    lines = []
    sections = draw(st.lists(st.sampled_from(sorted(defaults) + ["bogus", "web.sub"]), max_size=5, unique=True))
    for sec in sections:
        lines.append(f"[{sec}]")
        keys = sorted(defaults.get(sec, {})) + ["unknown_key"]
        for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
            if draw(st.booleans()) and sec in defaults and key in defaults[sec]:
                v = defaults[sec][key]                 # a valid value, perhaps of a neighbouring key
            else:
                v = draw(value)
            lines.append(f"{key} = {_toml_value(v)}")
    if draw(st.booleans()):
        lines.insert(0, f"{draw(st.sampled_from(sorted(defaults)))} = {_toml_value(draw(value))}")   # table -> scalar
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def test_fuzz_settings_toml(tmp_path, budget, figures):
    """``--config FILE`` / $CARDIOCART_CONFIG / /etc/cardiocart/cardiocart.toml (device.config.load_settings)."""
    from device.config import DEFAULTS_FILE, load_settings

    def call(data: bytes):
        s = load_settings(write_case(tmp_path, "site.toml", data))
        assert s.web.port >= 1 and s.capture.fps > 0
    fuzz = Fuzz("Settings TOML", "device.config.load_settings", call, case_timeout_s=10)
    fuzz.run(st.one_of(settings_toml(), text_cases(DEFAULTS_FILE.read_bytes())), budget(short=300, full=2500))
    finish(fuzz, figures, TOML_REGRESSIONS)


# ------------------------------------------------------------------------------------------------ LV case table

@st.composite
def case_table_csv(draw) -> bytes:
    from device.lv.casetable import _COLUMNS

    cell = st.one_of(st.sampled_from(["ef_pct", "lvedv_ml", "male", "female", "any", "", "critical", "normal",
                                      "10", "-5", "1e308", "nan", "inf", "abc", "55.5", '"a,b"', '"', "#x"]),
                     st.text(max_size=10))
    rows = [",".join(_COLUMNS) if draw(st.integers(0, 5)) else draw(st.text(max_size=40))]
    for _ in range(draw(st.integers(0, 12))):
        rows.append(",".join(draw(st.lists(cell, min_size=0, max_size=9))))
    return "\n".join(rows).encode("utf-8", "surrogatepass")


def test_fuzz_lv_case_table(tmp_path, budget, figures):
    """The site-edited LV case table CSV (device.lv.casetable.load_case_table, ``--case-table``)."""
    from device.lv.casetable import DEFAULT_TABLE, interpret, load_case_table

    def call(data: bytes):
        table = load_case_table(write_case(tmp_path, "case_table.csv", data))
        interpret({r.measurement: (r.low if r.low is not None else 0.0) for r in table.rules}, "female", table)
    fuzz = Fuzz("LV case table CSV", "device.lv.casetable.load_case_table", call, case_timeout_s=10)
    fuzz.run(st.one_of(case_table_csv(), text_cases(DEFAULT_TABLE.read_bytes())), budget(short=300, full=2500))
    finish(fuzz, figures, CASE_TABLE_REGRESSIONS,
           note="a table saved as Latin-1 (UnicodeDecodeError). Fixed in device/lv/casetable.py: "
           "a ConfigError asking for UTF-8.")


# ------------------------------------------------------------------------------------------------ SPECTF

@st.composite
def spectf_csv(draw) -> bytes:
    num = st.one_of(st.integers(-5, 300).map(str), st.sampled_from(["nan", "inf", "1e40", "", "x", "0.5", "1e-400"]))
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        n = draw(st.sampled_from([44, 45, 45, 43, 46, 0, 1]))
        sep = draw(st.sampled_from([",", " ", ";", "\t", ", "]))
        lines.append(sep.join(draw(st.lists(num, min_size=n, max_size=n))))
    return "\n".join(lines).encode()


def test_fuzz_spectf(tmp_path, budget, figures):
    """``python -m device perfusion regions FILE`` (device.perfusion.spectf.read_spectf)."""
    from device.perfusion.spectf import read_spectf

    def call(data: bytes):
        rows = read_spectf(write_case(tmp_path, "spectf.csv", data))
        assert rows.counts.ndim == 2 and rows.counts.shape[1] == 44 and np.isfinite(rows.counts).all()
    seed = ("1," + ",".join(str(40 + (i * 7) % 50) for i in range(44)) + "\n").encode() * 3
    fuzz = Fuzz("SPECTF rows CSV", "device.perfusion.spectf.read_spectf", call, case_timeout_s=10)
    fuzz.run(st.one_of(spectf_csv(), text_cases(seed)), budget(short=300, full=2500))
    finish(fuzz, figures, SPECTF_REGRESSIONS)


# ------------------------------------------------------------------------------------------------ WFDB

@pytest.fixture(scope="module")
def wfdb_seed(tmp_path_factory) -> tuple[bytes, bytes]:
    from device.ecg.wfdb import write_record

    d = tmp_path_factory.mktemp("wfdb")
    t = np.arange(1000) / 500.0
    hea = write_record(d, "rec", np.column_stack([np.sin(2 * np.pi * k * t) for k in range(1, 13)]), 500.0,
                       [f"L{k}" for k in range(12)], ["age: 50"])
    return hea.read_bytes(), (d / "rec.dat").read_bytes()


def test_fuzz_wfdb_record(tmp_path, budget, figures, wfdb_seed):
    """``python -m device ecg render --record NAME.hea`` (device.ecg.wfdb.read_record): header and signal file."""
    from device.ecg.wfdb import read_record

    def call(x: tuple[bytes, bytes]):
        hea, dat = x
        write_case(tmp_path, "rec.dat", dat)
        r = read_record(write_case(tmp_path, "rec.hea", hea))
        assert r.signals_mv.ndim == 2 and r.signals_mv.shape[1] == len(r.lead_names) and np.isfinite(r.fs_hz)
    hea, dat = wfdb_seed
    header_lines = st.lists(st.sampled_from(hea.decode().splitlines() + [
        "rec 0 500 10", "rec -1", "rec 12 abc", "rec 2 0/0", "rec 1 500", "rec.dat 16", "rec.dat 999 200",
        "rec.dat 212 0(0)/mV 12 0 0 0 0 I", "rec.dat 80 1e999 8", "rec.dat 16+99999999 200", "../../etc/passwd 16",
        "rec", "", "#"]), max_size=15).map(lambda ls: "\n".join(ls).encode())
    fuzz = Fuzz("WFDB record", "device.ecg.wfdb.read_record (ecg render --record)", call, case_timeout_s=10)
    fuzz.run(st.one_of(st.tuples(mutated([hea]), st.just(dat)), st.tuples(header_lines, mutated([dat])),
                       st.tuples(st.just(hea), st.binary(max_size=64))), budget(short=300, full=2500))
    finish(fuzz, figures, WFDB_REGRESSIONS,
           note="headers with 0 signals or no signal count (IndexError), non-numeric counts or rates "
           "(ValueError), and 16 signals announced but 2 described (16 columns, 14 of uninitialised memory). Fixed in "
           "device/ecg/wfdb.py: the record line and the signal count are checked, gains parsed with a user error.")


# ------------------------------------------------------------------------------------------------ JSON documents

def _normals_seed() -> dict:
    from device.perfusion.geometry import N_RINGS, N_SECTORS
    from device.perfusion.normals import normals_dict

    rng = np.random.default_rng(0)
    return normals_dict(rng.uniform(50, 90, (5, N_RINGS, N_SECTORS)), rng.uniform(50, 90, (5, 17)), "fuzz seed", 5)


def test_fuzz_perfusion_normals(tmp_path, budget, figures):
    """A site normal database (``perfusion polar --normals FILE``, device.perfusion.normals.load_normals)."""
    from device.perfusion.normals import load_normals

    def call(data: bytes):
        n = load_normals(write_case(tmp_path, "normals.json", data))
        assert np.isfinite(n.polar_sd).all() and (n.polar_sd > 0).all()
    seed = _normals_seed()
    fuzz = Fuzz("Perfusion normals JSON", "device.perfusion.normals.load_normals", call, case_timeout_s=10)
    fuzz.run(st.one_of(json_mutation(seed).map(_json_bytes), JSON.map(_json_bytes), text_cases(_json_bytes(seed))),
             budget(short=200, full=2000))
    finish(fuzz, figures, NORMALS_REGRESSIONS,
           note="'\"n\": [1]' raised TypeError outside the checks. Fixed in device/perfusion/normals.py: "
           "n, source, name and z_threshold are validated with the arrays (finite, positive).")


def test_fuzz_report_json(tmp_path, budget, figures):
    """``python -m device export render REPORT.json`` (device.reports.serialize.load)."""
    from device.reports.sample import sample_report
    from device.reports.serialize import load, to_dict

    seed = to_dict(sample_report("echo"))
    seeds = [seed, to_dict(sample_report("ecg")), to_dict(sample_report("perfusion", "zh-CN"))]

    def call(data: bytes):
        load(write_case(tmp_path, "report.json", data))
    fuzz = Fuzz("Report JSON", "device.reports.serialize.load (export render)", call, case_timeout_s=10)
    fuzz.run(st.one_of(st.sampled_from(seeds).flatmap(json_mutation).map(_json_bytes), JSON.map(_json_bytes),
                       text_cases(_json_bytes(seed))), budget(short=200, full=2000))
    finish(fuzz, figures, REPORT_REGRESSIONS,
           note="a non-UTF-8 file (UnicodeDecodeError). Fixed in device/reports/serialize.py.")


def test_fuzz_model_manifest(tmp_path, budget, figures):
    """A model folder's manifest.json (device.inference.manifest.load_manifest): a model copied in by hand."""
    from device.inference.manifest import load_manifest
    from device.paths import MODELS_DIR

    seed_path = MODELS_DIR / "echo_view" / "manifest.json"
    if not seed_path.exists():
        pytest.skip("the echo_view model is not built (make models)")
    seed = json.loads(seed_path.read_text())
    (tmp_path / "m").mkdir()

    def call(data: bytes):
        write_case(tmp_path / "m", "manifest.json", data)
        m = load_manifest("m", tmp_path)
        assert m.default in m.variants
    fuzz = Fuzz("Model manifest JSON", "device.inference.manifest.load_manifest", call, case_timeout_s=10)
    fuzz.run(st.one_of(json_mutation(seed).map(_json_bytes), text_cases(_json_bytes(seed))),
             budget(short=150, full=2000))
    finish(fuzz, figures, MANIFEST_REGRESSIONS,
           note="a manifest holding null (TypeError) and one with \"accuracy\": null (TypeError after the checks). "
           "Fixed in device/inference/manifest.py: a manifest that is not an object, or whose fields have the wrong "
           "types, is the ModelError asking to restore or retrain.")


# ------------------------------------------------------------------------------------------------ USB bundle

def test_fuzz_usb_bundle_verify(tmp_path, budget, figures):
    """An encrypted export bundle read back (device.sync.bundle.verify_bundle): damaged on the drive."""
    from device.sync.bundle import BundleFile, verify_bundle, write_bundle

    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    res = write_bundle([BundleFile("reports/a.json", b'{"a": 1}' * 40), BundleFile("reports/b.pdf", bytes(300))],
                       seed_dir, "export", "pass phrase")
    seed = res.path.read_bytes()

    def call(x: tuple[bytes, str]):
        data, phrase = x
        verify_bundle(write_case(tmp_path, "bundle.zip", data), phrase)
    fuzz = Fuzz("USB export bundle", "device.sync.bundle.verify_bundle", call, case_timeout_s=20)
    regressions = [("test_regression_bundle_manifest_header_past_end",
                    lambda: (bundle_manifest_header_past_end(seed_dir), "pass phrase"))]
    fuzz.run(st.tuples(st.one_of(mutated([seed], head=256), st.binary(max_size=200)),
                       st.sampled_from(["pass phrase", "pass phrase", "wrong", ""])), budget(short=150, full=2000))
    finish(fuzz, figures, regressions,
           note="a bundle whose manifest header claims a 65535-byte extra field (data past the end of the file): "
           "pyzipper raised struct.error reading the AES salt. Fixed in device/sync/bundle.py: struct.error, "
           "NotImplementedError and TypeError are 'unreadable or incomplete' like the other zip errors.")


# ------------------------------------------------------------------------------------------------ echo labels CSV

@st.composite
def labels_csv(draw) -> bytes:
    from device.sim.echo_views import VIEWS

    header = draw(st.sampled_from(["path,view", "view,path", "path", "file,label", "", "path,view,extra"]))
    cell = st.one_of(st.sampled_from(["a.png", "b.dcm", "missing.png", "../a.png", "/etc/hostname", "", "sub",
                                      *VIEWS, "A4c", " A4C ", "BOGUS"]), st.text(max_size=8))
    rows = [",".join(draw(st.lists(cell, max_size=4))) for _ in range(draw(st.integers(0, 6)))]
    return "\n".join([header, *rows]).encode("utf-8", "surrogatepass")


def test_fuzz_echo_label_csv(tmp_path, budget, figures):
    """The labels.csv of a site's echo fine-tuning folder (models/training/echo_view_data.load_real_folder). A
    training tool, not the cart: its contract is a ValueError saying what to fix (or a user error)."""
    import cv2

    from models.training.echo_view_data import load_real_folder

    root = tmp_path / "real"
    root.mkdir()
    img = np.zeros((120, 160, 3), np.uint8)
    cv2.ellipse(img, (80, 10), (100, 100), 90, -40, 40, (200, 200, 200), -1)
    cv2.imwrite(str(root / "a.png"), img)
    (root / "b.dcm").write_bytes(b"not dicom")
    (root / "sub").mkdir()

    def call(data: bytes):
        write_case(root, "labels.csv", data)
        ds, clips = load_real_folder(root, 32, frames_per_clip=2)
        assert len(clips) == len(ds.view) == len(ds.x)
    fuzz = Fuzz("Echo fine-tuning labels CSV", "models.training.echo_view_data.load_real_folder", call,
                case_timeout_s=20, accept=(UserError, ValueError))
    fuzz.run(st.one_of(labels_csv(), text_cases(b"path,view\na.png,A4C\n")), budget(short=60, full=1500))
    finish(fuzz, figures, LABELS_REGRESSIONS,
           note="a labels.csv without a 'path' column (KeyError). Fixed in "
           "models/training/echo_view_data.py: the recipe's ValueError naming the line.")


# ------------------------------------------------------------------------------------------------ the CLI itself

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "device", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": str(ROOT)})


def test_fuzz_cli_sample(tmp_path, budget, figures):
    """Mutated files through ``python -m device`` itself: exit 0, or exit 2 with one ``error: ...`` line that is
    not the CLI's catch-all "internal error" (which would mean a parser crashed), and never a traceback."""
    from hypothesis import HealthCheck, given, settings

    from device.ecg.wfdb import write_record
    from tests.stress.test_fuzz_dicom import _to_bytes, mr_slice
    from tests.stress.test_fuzz_perfusion import _npz
    from tests.stress.test_fuzz_inputs import _ecg_page, _pil_bytes

    from PIL import Image

    t = np.arange(600) / 500.0
    hea = write_record(tmp_path, "rec", np.column_stack([np.sin(k * t) for k in range(1, 13)]), 500.0,
                       [f"L{k}" for k in range(12)])
    commands = {
        "ecg read": (".png", _pil_bytes(Image.fromarray(_ecg_page()), "PNG"), ["ecg", "read", "{f}", "--out", "{o}"]),
        "lv sax": (".dcm", _to_bytes(mr_slice(np.zeros((16, 16)))), ["lv", "sax", "{f}", "--out", "{o}"]),
        "perfusion polar": (".npz", _npz(stress=np.ones((8, 8, 8), np.float32), voxel_mm=np.array(3.2)),
                            ["perfusion", "polar", "{f}", "--out", "{o}"]),
        "perfusion regions": (".csv", (",".join(["50"] * 44) + "\n").encode(), ["perfusion", "regions", "{f}"]),
        "ecg render --record": (".hea", hea.read_bytes(), ["ecg", "render", "--record", "{f}", "--out", "{o}.png"]),
        "export render": (".json", b'{"format": "cardiocart.report/1"}', ["export", "render", "{f}", "--html", "{o}"]),
    }
    names = sorted(commands)
    runs = {"n": 0, "ok": 0, "bad": [], "slowest": 0.0}

    @settings(max_examples=budget(short=6, full=30), deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(names).flatmap(lambda n: st.tuples(st.just(n), mutated([commands[n][1]]))))
    def one(x):
        name, data = x
        suffix, _, argv = commands[name]
        f = write_case(tmp_path, ("rec" if suffix == ".hea" else "input") + suffix, data)
        argv = [a.format(f=f, o=tmp_path / "out") for a in argv]
        t0 = time.perf_counter()
        p = _cli(*argv, cwd=tmp_path)
        runs["n"] += 1
        runs["slowest"] = max(runs["slowest"], time.perf_counter() - t0)
        runs["ok"] += p.returncode == 0
        err = p.stderr.strip().splitlines()
        ok = p.returncode == 0 or (p.returncode == 2 and err and err[-1].startswith("error: ")
                                   and not err[-1].startswith("error: internal error"))
        if not ok or "Traceback" in p.stderr:
            runs["bad"].append((name, p.returncode, p.stderr[-400:]))

    one()
    figures.row("fuzzing", parser="CLI (python -m device)", entry_point=", ".join(names), cases=runs["n"], accepted=runs["ok"],
                crashes_found=len(runs["bad"]), crashes_fixed=0, regression_tests="-",
                slowest_case_s=round(runs["slowest"], 3))
    assert not runs["bad"], runs["bad"]


# ------------------------------------------------------------------------------------------------ regressions
# Crashes fuzzing found, each as a hand-written minimal input. Fixed in device/lv/casetable.py, device/ecg/wfdb.py,
# device/perfusion/normals.py and device/reports/serialize.py.

def _refused(call) -> None:
    with pytest.raises(UserError) as info:
        call()
    assert "\n" not in str(info.value)


def test_regression_case_table_not_utf8(tmp_path):
    """A case table saved in Latin-1 (one byte 0xAF): UnicodeDecodeError escaped load_case_table."""
    from device.lv.casetable import load_case_table

    _refused(lambda: load_case_table(write_case(tmp_path, "t.csv", b"\xaf")))


def _wfdb(tmp_path, header: str, dat: bytes = bytes(48)):
    from device.ecg.wfdb import read_record

    write_case(tmp_path, "rec.dat", dat)
    return lambda: read_record(write_case(tmp_path, "rec.hea", header.encode()))


WFDB_CASES = {
    "no_signals": "rec 0 500",                                           # IndexError (sigs[0])
    "record_line_only_name": "rec",                                      # IndexError (rec[1])
    "record_line_not_numbers": "rec.dat 16 1000(0)/mV",                  # ValueError float('1000(0)')
    "signal_count_with_offset": "rec 16+99999999 500\nrec.dat 16",      # ValueError int('16+99999999')
    "more_signals_than_lines": "rec 16 500\nrec.dat 16 200 16 0 0 0 0 I\nrec.dat 16 200 16 0 0 0 0 II",
}


def test_regression_wfdb_no_signals(tmp_path):
    _refused(_wfdb(tmp_path, WFDB_CASES["no_signals"]))


def test_regression_wfdb_record_line_only_name(tmp_path):
    _refused(_wfdb(tmp_path, WFDB_CASES["record_line_only_name"]))


def test_regression_wfdb_record_line_not_numbers(tmp_path):
    _refused(_wfdb(tmp_path, WFDB_CASES["record_line_not_numbers"]))


def test_regression_wfdb_signal_count_with_offset(tmp_path):
    _refused(_wfdb(tmp_path, WFDB_CASES["signal_count_with_offset"]))


def test_regression_wfdb_more_signals_than_lines(tmp_path):
    """16 signals announced, 2 described: the record came back with 16 columns (14 of uninitialised memory)
    and 2 lead names."""
    _refused(_wfdb(tmp_path, WFDB_CASES["more_signals_than_lines"]))


def normals_with_list_n() -> bytes:
    d = _normals_seed()
    d["n"] = [1]
    return _json_bytes(d)


def test_regression_normals_n_is_a_list(tmp_path):
    """"n": [1] in a site normal database: int(list) raised TypeError outside the checks."""
    from device.perfusion.normals import load_normals

    _refused(lambda: load_normals(write_case(tmp_path, "n.json", normals_with_list_n())))


def test_regression_report_json_not_utf8(tmp_path):
    from device.reports.serialize import load

    _refused(lambda: load(write_case(tmp_path, "r.json", b"\xce")))


TOML_REGRESSIONS: list = []
CASE_TABLE_REGRESSIONS = [("test_regression_case_table_not_utf8", lambda: b"\xaf")]
SPECTF_REGRESSIONS: list = []
WFDB_REGRESSIONS = [(f"test_regression_wfdb_{k}", lambda v=v: (v.encode(), bytes(48))) for k, v in WFDB_CASES.items()]
NORMALS_REGRESSIONS = [("test_regression_normals_n_is_a_list", normals_with_list_n)]
REPORT_REGRESSIONS = [("test_regression_report_json_not_utf8", lambda: b"\xce")]
def manifest_accuracy_null() -> bytes:
    from device.paths import MODELS_DIR

    d = json.loads((MODELS_DIR / "echo_view" / "manifest.json").read_text())
    d["accuracy"] = None
    return _json_bytes(d)


def _refused_manifest(tmp_path, data: bytes) -> None:
    from device.errors import ModelError
    from device.inference.manifest import load_manifest

    (tmp_path / "m").mkdir(exist_ok=True)
    write_case(tmp_path / "m", "manifest.json", data)
    with pytest.raises(ModelError):
        load_manifest("m", tmp_path)


def test_regression_manifest_null(tmp_path):
    """A manifest.json holding 'null': TypeError ('in' on None) instead of the ModelError."""
    _refused_manifest(tmp_path, b"null")


def test_regression_manifest_accuracy_null(tmp_path):
    """"accuracy": null: tuple(None) raised TypeError after the checks."""
    from device.paths import MODELS_DIR

    if not (MODELS_DIR / "echo_view" / "manifest.json").exists():
        pytest.skip("the echo_view model is not built (make models)")
    _refused_manifest(tmp_path, manifest_accuracy_null())


MANIFEST_REGRESSIONS = [("test_regression_manifest_null", lambda: b"null"),
                        ("test_regression_manifest_accuracy_null", manifest_accuracy_null)]
def bundle_manifest_header_past_end(directory: Path) -> bytes:
    """A valid bundle whose manifest's local header claims a 65535-byte extra field: its data would start past the
    end of the file, and pyzipper's AES salt unpack raised struct.error."""
    import struct

    from device.sync.bundle import BundleFile, write_bundle

    data = bytearray(write_bundle([BundleFile("reports/a.json", b"{}")], directory, "reg", "pass phrase")
                     .path.read_bytes())
    j = data.find(b"PK\x03\x04")
    while j >= 0:
        n = struct.unpack_from("<H", data, j + 26)[0]
        if bytes(data[j + 30:j + 30 + n]) == b"manifest.json":
            struct.pack_into("<H", data, j + 28, 0xFFFF)
        j = data.find(b"PK\x03\x04", j + 4)
    return bytes(data)


def test_regression_bundle_manifest_header_past_end(tmp_path):
    from device.sync.bundle import verify_bundle

    data = bundle_manifest_header_past_end(tmp_path)
    _refused(lambda: verify_bundle(write_case(tmp_path, "bad.zip", data), "pass phrase"))
LABELS_REGRESSIONS = [("test_regression_echo_labels_without_path_column", lambda: b"view\nA4C\n")]


def test_regression_echo_labels_without_path_column(tmp_path):
    """labels.csv without a 'path' column: KeyError instead of the recipe's ValueError saying what to fix."""
    from models.training.echo_view_data import load_real_folder

    write_case(tmp_path, "labels.csv", b"view\nA4C\n")
    with pytest.raises(ValueError, match="path"):
        load_real_folder(tmp_path, 32)


def test_regression_wfdb_signal_file_outside_the_record_folder(tmp_path):
    """A header naming '../secret.dat' read a file outside its folder; now refused (plain names only)."""
    from device.ecg.wfdb import read_record
    (tmp_path / "secret.dat").write_bytes(b"\x00\x01" * 64)
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "rec.hea").write_text("rec 1 500 64\n../secret.dat 16 200 16 0 0 0 0 I\n")
    with pytest.raises(UserError, match="plain file name"):
        read_record(rec / "rec.hea")
