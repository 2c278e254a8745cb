"""`nitrogen extract-actions` and `nitrogen eval extraction` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from nitrogen_cli import formats, overlays
from nitrogen_cli.actions import State
from nitrogen_cli.cli import app
from nitrogen_cli.parser.synth import random_states
from tests.test_extract import make_case


def write_truth(path: Path, overlay: Path, truth) -> Path:
    """A truth file for a made case: its actions, and the overlay's placement."""
    with formats.open_file(overlay, "overlay") as f:
        info = formats.read_overlay(f)
    with formats.create(path, "truth", command="test") as f:
        formats.write_actions(f, truth)
        keep = ("found", "template", "layout", "bbox", "transform", "video", "fps")
        formats.write_overlay(f, {k: info[k] for k in keep} | {"frame_count": len(truth)})
        formats.write_meta(f, fps=30.0)
    return path


def test_extract_actions_writes_actions_and_eval_scores_them(tmp_path: Path) -> None:
    t = overlays.get_template("builtin/arcade-black")
    states = [State()] * 10 + random_states(np.random.default_rng(4), t.shows, 40)
    _, ov, truth = make_case(tmp_path, t, states, width=240, name="arc")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["extract-actions", str(ov), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    dst = out / "arc.actions.h5"
    assert r.stdout.strip() == str(dst)
    assert formats.check(dst) == "actions"

    truth_dir = tmp_path / "truth"
    write_truth(truth_dir / "arc.truth.h5", ov, truth)
    report = tmp_path / "eval.json"
    r = CliRunner().invoke(
        app, ["eval", "extraction", str(dst), "--truth", str(truth_dir), "--json", str(report)]
    )
    assert r.exit_code == 0, r.output
    lines = [line.split("\t") for line in r.stdout.splitlines()]
    rows = {line[0]: line for line in lines}
    assert "builtin/arcade-black" in rows and "all" in rows
    data = json.loads(report.read_text())
    overall = data["overall"]
    assert overall["frames"] == 50
    assert overall["button_accuracy"] >= 0.97
    assert set(overall["stick_r2"]) == {"lx", "ly", "rx", "ry"}
    assert overall["f1"]["south"]["pressed"] == int(truth.buttons[:, 14].sum())


def test_an_overlay_not_found_is_skipped_with_a_note(tmp_path: Path) -> None:
    ov = tmp_path / "none.overlay.h5"
    video = tmp_path / "none.mp4"
    video.write_bytes(b"x")
    with formats.create(ov, "overlay", command="test") as f:
        info = {"found": False, "video": str(video), "fps": 30.0}
        formats.write_overlay(f, info | {"frame_count": 10, "width": 64, "height": 48})
    r = CliRunner().invoke(app, ["extract-actions", str(ov), "-o", str(tmp_path)])
    assert r.exit_code == 0
    assert r.stdout == ""
    assert "note:" in r.stderr and "no overlay" in r.stderr


def test_a_missing_video_fails_that_input_only(tmp_path: Path) -> None:
    t = overlays.get_template("builtin/nes-dark")
    mp4, ov, _ = make_case(tmp_path, t, [State()] * 10, width=160, name="gone")
    _, ov2, _ = make_case(tmp_path, t, [State()] * 10, width=160, name="kept")
    mp4.unlink()
    r = CliRunner().invoke(app, ["extract-actions", str(ov), str(ov2), "-o", str(tmp_path)])
    assert r.exit_code == 1
    assert r.stdout.strip() == str(tmp_path / "kept.actions.h5")
    assert f"Error: {ov}: " in r.stderr and "missing" in r.stderr


def test_a_video_corrupt_partway_keeps_what_decoded_and_says_so(tmp_path: Path) -> None:
    t = overlays.get_template("builtin/nes-classic")
    states = random_states(np.random.default_rng(2), t.shows, 90)
    mp4, ov, _ = make_case(tmp_path, t, states, width=160, name="bad", seed=3)
    data = bytearray(mp4.read_bytes())
    rng = np.random.default_rng(0)
    a, b = int(len(data) * 0.6), int(len(data) * 0.9)  # garbage over the later frames
    data[a:b] = rng.integers(0, 256, b - a, dtype=np.uint8).tobytes()
    mp4.write_bytes(bytes(data))
    with formats.open_file(ov, "overlay") as src:  # the overlay file records the bad file
        info, atlas = formats.read_overlay(src), formats.read_atlas_png(src)
    ov2 = tmp_path / "bad2.overlay.h5"
    with formats.create(ov2, "overlay", inputs=[mp4], command="test") as f:
        formats.write_overlay(f, info, atlas_png=atlas)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["extract-actions", str(ov2), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out / "bad2.actions.h5")
    assert f"note: {ov2}: " in r.stderr and "decod" in r.stderr
    with formats.open_file(out / "bad2.actions.h5", "actions") as f:
        valid = formats.read_valid(f)
        conf = formats.read_confidence(f)
        note = formats.read_meta(f).get("decode_note")
    assert len(valid) == 90 and 0 < valid.sum() < 90 and not valid[-1]
    assert (conf[~valid] == 0).all() and note
