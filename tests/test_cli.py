"""`inpaint-studio` end to end: real files in, real files out, one-line errors."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, gradient_photo
from PIL import Image

from inpaint_studio.cli import main

SAMPLE = REPO / "resources" / "sample.jpg"
SAMPLE_MASK = REPO / "resources" / "sample_mask.png"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inpaint_studio", *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def png_case(tmp_path):
    photo = tmp_path / "photo.png"
    mask = tmp_path / "mask.png"
    Image.fromarray(gradient_photo(120, 160)).save(photo)
    m = np.zeros((120, 160), np.uint8)
    m[40:70, 60:100] = 255
    Image.fromarray(m).save(mask)
    return photo, mask


def test_remove_on_the_sample_writes_a_jpeg_of_similar_size(tmp_path, capsys):
    out = tmp_path / "result.jpg"
    assert main(["remove", str(SAMPLE), "--mask", str(SAMPLE_MASK), "-o", str(out), "--engine", "telea"]) == 0
    assert "Wrote" in capsys.readouterr().out
    with Image.open(out) as result:
        assert result.format == "JPEG" and result.size == (640, 427)
    assert out.stat().st_size < 1.5 * SAMPLE.stat().st_size
    # The mast is gone: the masked area now looks like the sky around it.
    before = np.asarray(Image.open(SAMPLE).convert("L"), np.float32)
    after = np.asarray(Image.open(out).convert("L"), np.float32)
    mast = np.asarray(Image.open(SAMPLE_MASK)) > 127
    sky = after[150:300, 120:150]
    assert abs(after[150:300][mast[150:300]].mean() - sky.mean()) < abs(before[150:300][mast[150:300]].mean() - sky.mean())


def test_remove_png_keeps_far_pixels_exact_and_names_output_by_default(png_case, capsys):
    photo, mask = png_case
    assert main(["remove", str(photo), "--mask", str(mask), "--engine", "telea"]) == 0
    out = photo.with_name("photo_inpainted.png")
    assert out.is_file()
    before, after = np.asarray(Image.open(photo)), np.asarray(Image.open(out))
    far = np.ones((120, 160), bool)
    far[30:80, 50:110] = False
    assert np.array_equal(before[far], after[far])
    assert not np.array_equal(before[40:70, 60:100], after[40:70, 60:100])


def test_remove_refuses_to_overwrite_the_input_unless_asked(png_case, capsys):
    photo, mask = png_case
    original = digest(photo)
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(photo), "--engine", "telea"]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert digest(photo) == original
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(photo), "--engine", "telea", "--overwrite"]) == 0
    assert digest(photo) != original


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not an image\n", SAMPLE.read_bytes()[:5000]],
    ids=["empty", "text", "truncated"],
)
def test_bad_photo_gives_one_line_error_and_writes_nothing(tmp_path, content):
    photo = tmp_path / "bad.jpg"
    photo.write_bytes(content)
    out = tmp_path / "out.jpg"
    result = run_cli("remove", str(photo), "--mask", str(SAMPLE_MASK), "-o", str(out), "--engine", "telea")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("inpaint-studio: error:") and "bad.jpg" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jpg"]


def test_missing_files_and_unknown_engine_or_device(png_case, capsys):
    photo, mask = png_case
    assert main(["remove", str(photo.with_name("nope.png")), "--mask", str(mask)]) == 1
    assert "nope.png" in capsys.readouterr().err
    assert main(["remove", str(photo), "--mask", str(mask), "--engine", "magic"]) == 1
    assert "Unknown engine 'magic'" in capsys.readouterr().err
    assert main(["remove", str(photo), "--mask", str(mask), "--engine", "telea", "--device", "cuda"]) == 1
    assert "cuda" in capsys.readouterr().err
    assert main(["remove", str(photo), "--mask", str(mask), "--engine", "telea", "--param", "radius"]) == 1
    assert "NAME=VALUE" in capsys.readouterr().err


def test_mask_of_another_size_is_scaled_with_a_warning(png_case, capsys):
    photo, _ = png_case
    small_mask = photo.with_name("small_mask.png")
    m = np.zeros((60, 80), np.uint8)
    m[20:35, 30:50] = 255
    Image.fromarray(m).save(small_mask)
    out = photo.with_name("out.png")
    assert main(["remove", str(photo), "--mask", str(small_mask), "-o", str(out), "--engine", "telea"]) == 0
    assert "warning" in capsys.readouterr().err
    assert Image.open(out).size == (160, 120)


def test_what_the_output_cannot_keep_is_one_warning_line_each(tmp_path, capsys):
    rgba = np.dstack([gradient_photo(120, 160), np.full((120, 160), 255, np.uint8)])
    rgba[:20, :20, 3] = 0
    photo, mask = tmp_path / "cutout.png", tmp_path / "mask.png"
    Image.fromarray(rgba).save(photo)
    m = np.zeros((120, 160), np.uint8)
    m[40:70, 60:100] = 255
    Image.fromarray(m).save(mask)
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "out.bmp"), "--engine", "telea"]) == 0
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "out.jpg"), "--engine", "telea"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert warnings == [
        "inpaint-studio: warning: JPEG cannot hold transparency: the transparent parts were flattened onto white."
    ]


def test_remove_keeps_xmp_keywords_and_rating_byte_for_byte(png_case, tmp_path):
    photo, mask = png_case
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        b' xmp:Rating="5"><dc:subject><rdf:Bag><rdf:li>lighthouse</rdf:li></rdf:Bag></dc:subject></rdf:Description>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    source = tmp_path / "tagged.jpg"
    Image.open(photo).save(source, xmp=xmp, quality=92)
    assert main(["remove", str(source), "--mask", str(mask), "--engine", "telea"]) == 0
    with Image.open(tmp_path / "tagged_inpainted.jpg") as result:
        assert result.info["xmp"] == xmp


def test_empty_mask_is_a_no_op_with_a_message(png_case, capsys):
    photo, _ = png_case
    empty = photo.with_name("empty.png")
    Image.fromarray(np.zeros((120, 160), np.uint8)).save(empty)
    out = photo.with_name("out.png")
    assert main(["remove", str(photo), "--mask", str(empty), "-o", str(out)]) == 0
    assert "empty" in capsys.readouterr().out
    assert not out.exists()


def test_engines_lists_classical_engines_ready_and_learned_ones_waiting_for_weights(capsys):
    assert main(["engines"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for engine_id in ("patchmatch", "telea", "ns"):
        assert " ready" in lines[engine_id] and "not ready" not in lines[engine_id]
    assert "(default)" in lines["patchmatch"]
    for engine_id, model in (("lama", "big-lama"), ("migan", "migan")):
        assert "not ready" in lines[engine_id] and model in lines[engine_id]


def test_module_entry_point_and_version():
    result = run_cli("--version")
    assert result.returncode == 0 and "inpaint-studio" in result.stdout


def test_default_engine_runs_the_readme_demo(tmp_path):
    out = tmp_path / "sample_result.jpg"
    result = run_cli("remove", "resources/sample.jpg", "--mask", "resources/sample_mask.png", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.is_file()


# ---------------------------------------------------------------- inputs and outputs checked before any work


def test_remove_refuses_to_write_over_the_mask_unless_asked(png_case, capsys):
    photo, mask = png_case
    original = digest(mask)
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(mask), "--engine", "telea"]) == 1
    err = capsys.readouterr().err
    assert f"Refusing to overwrite the input mask '{mask}'" in err and "--overwrite" in err
    assert digest(mask) == original
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(mask), "--engine", "telea", "--overwrite"]) == 0
    assert digest(mask) != original


def test_an_output_name_too_long_is_refused_before_the_engine_runs(png_case, capsys, monkeypatch):
    import inpaint_studio.batch.file_job as file_job

    photo, mask = png_case
    monkeypatch.setattr(file_job, "inpaint_patches", lambda *args, **kwargs: pytest.fail("the engine ran"))
    out = photo.with_name("x" * 300 + ".png")
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(out), "--engine", "telea"]) == 1
    err = capsys.readouterr().err
    assert "its name is 304 bytes long, more than the 255 bytes the file system allows" in err
    assert "internal error" not in err


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_overwrite_keeps_the_photos_permissions(png_case):
    photo, mask = png_case
    os.chmod(photo, 0o600)
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(photo), "--engine", "telea", "--overwrite"]) == 0
    assert stat.S_IMODE(photo.stat().st_mode) == 0o600


def test_python_warnings_go_to_the_log_not_the_terminal(tmp_path):
    code = (
        "import sys, warnings, inpaint_studio.cli as cli\n"
        "real = cli.cmd_engines\n"
        "def warn_then_list(args):\n"
        "    warnings.warn('a raw library warning', UserWarning)\n"
        "    return real(args)\n"
        "cli.cmd_engines = warn_then_list\n"
        "sys.exit(cli.main(['engines']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "UserWarning" not in result.stderr and "a raw library warning" not in result.stderr
    log = Path(os.environ["INPAINT_STUDIO_LOG_DIR"]) / "inpaint-studio.log"
    assert "a raw library warning" in log.read_text(encoding="utf-8")


# ---------------------------------------------------------------- scripting: typos, --quiet, --report, progress


def test_a_mistyped_command_is_an_error_with_a_suggestion_not_the_window(capsys, monkeypatch):
    import inpaint_studio.ui.application as application

    monkeypatch.setattr(application, "run_gui", lambda argv: pytest.fail("the window must not open for a typo"))
    assert main(["remvoe", "photo.jpg"]) == 2
    error = capsys.readouterr().err
    assert "'remvoe' is not a command" in error and "Did you mean 'remove'?" in error
    assert main(["frobnicate"]) == 2 and "Did you mean" not in capsys.readouterr().err


def test_a_photo_path_still_opens_the_window(png_case, monkeypatch):
    import inpaint_studio.ui.application as application

    opened = []
    monkeypatch.setattr(application, "run_gui", lambda argv: opened.append(argv) or 0)
    photo, _ = png_case
    assert main([str(photo)]) == 0 and main(["missing_photo.jpg"]) == 0  # the window says what is missing
    assert opened == [[str(photo)], ["missing_photo.jpg"]]


def test_quiet_prints_nothing_but_warnings_and_errors(png_case, capsys):
    photo, mask = png_case
    out = photo.with_name("quiet.png")
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(out), "--engine", "telea", "--quiet"]) == 0
    printed = capsys.readouterr()
    assert out.exists() and printed.out == "" and printed.err == ""
    assert main(["remove", str(photo), "--mask", str(photo.with_name("none.png")), "-o", str(out), "-q"]) == 1
    assert "error" in capsys.readouterr().err


def test_remove_and_restore_append_a_report_line_whatever_happens(png_case, capsys):
    import json

    photo, mask = png_case
    report = photo.with_name("report.jsonl")
    out = photo.with_name("out.png")
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(out), "--engine", "telea", "--report", str(report)]) == 0
    empty = photo.with_name("empty.png")
    Image.fromarray(np.zeros((120, 160), np.uint8)).save(empty)
    assert main(["remove", str(photo), "--mask", str(empty), "-o", str(out), "--report", str(report)]) == 0
    assert main(["remove", str(photo.with_name("gone.png")), "--mask", str(mask), "--report", str(report)]) == 1
    assert main(["restore", str(photo), "-o", str(photo.with_name("restored.png")), "--report", str(report),
                 "--detector", "classical", "-q"]) == 0
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [line["status"] for line in lines[:3]] == ["written", "skipped", "failed"]
    assert lines[3]["status"] in ("written", "skipped") and lines[3]["detect"] is True
    assert lines[0]["output"] == str(out) and lines[0]["engine"] == "telea" and lines[0]["seconds"] >= 0
    assert "empty" in lines[1]["message"] and "gone.png" in lines[2]["message"]


def test_the_progress_bar_shows_rate_and_time_left_on_a_terminal_only():
    import io

    from inpaint_studio.cli import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    bar = ProgressBar(terminal, "Batch", total=40)
    bar.started -= 10.0  # ten seconds in
    bar.update(10)
    assert "10/40 1.0/s ETA 0:30" in terminal.getvalue()
    quiet, redirected = Terminal(), io.StringIO()
    ProgressBar(quiet, "Batch", total=40, quiet=True).update(10)
    ProgressBar(redirected, "Batch", total=40).update(10)
    assert quiet.getvalue() == redirected.getvalue() == ""


def test_a_quiet_batch_prints_only_its_failures(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(gradient_photo(60, 80)).save(photos / "a.png")
    (photos / "b.png").write_bytes(b"not a png")
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((60, 80), 255, np.uint8)).save(mask)
    args = ["batch", str(photos), "--mask", str(mask), "-o", str(tmp_path / "out"), "--engine", "telea", "--workers", "1"]
    assert main([*args, "--quiet"]) == 1
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.count("\n") == 1 and "failed: b.png" in printed.err
    assert (tmp_path / "out" / "a.png").exists()
