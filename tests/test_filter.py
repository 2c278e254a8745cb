"""`nitrogen filter`: idle, unsure and overlay-less chunks go; real play stays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nitrogen_cli import filtering, formats, summarize
from nitrogen_cli.actions import BUTTON_INDEX, Actions
from nitrogen_cli.cli import app

FPS = 10.0
CFG = filtering.FilterConfig(chunk_seconds=2, min_tail_seconds=1)  # 20-frame chunks
SOUTH = BUTTON_INDEX["south"]


def hand_made(path: Path, kind: str = "actions") -> Path:
    """128 frames in 20-frame chunks, each built to meet one rule, and an 8-frame tail.

    chunk 0  idle: nothing pressed                               -> idle
    chunk 1  south held in 12 of 20 frames (60%)                 -> kept
    chunk 2  south in 9 of 20 (45%), sticks inside the dead zone -> idle
    chunk 3  left stick pushed, but confidence 0.2               -> low-confidence
    chunk 4  playing, but the overlay gone for 6 of 20 frames    -> no-overlay
    chunk 5  playing; frame 110 unread                           -> kept, split at 110
    tail     8 frames, under the 1 s minimum                     -> too-short
    """
    n = 128
    acts = Actions.zeros(n)
    acts.buttons[20:32, SOUTH] = True
    acts.buttons[40:49, SOUTH] = True
    acts.j_left[40:60] = (0.06, -0.05)  # radius 0.078: at rest
    acts.j_right[40:60] = (0.0, 0.09)
    acts.j_left[60:80] = (0.8, 0.0)
    acts.buttons[80:100, SOUTH] = True
    acts.j_right[100:128] = (0.0, -1.0)
    confidence = np.full(n, 0.95, np.float32)
    confidence[60:80] = 0.2
    visible = np.ones(n, bool)
    visible[90:96] = False
    valid = np.ones(n, bool)
    valid[110] = False
    with formats.create(path, kind, command="test") as f:
        formats.write_actions(f, acts)
        info = {"found": True, "bbox": [1, 2, 30, 20], "fps": FPS, "frame_count": n}
        info |= {"width": 64, "height": 48, "video": str(path.parent / "gone.mp4")}
        formats.write_overlay(f, info, per_frame={"visible": visible})
        if kind == "actions":
            formats.write_confidence(f, confidence)
            f["actions"].create_dataset("valid", data=valid)
        else:
            formats.write_meta(f, fps=FPS, game="test/Hand-v0")
    return path


def test_an_idle_chunk_is_dropped_and_an_active_one_kept(tmp_path: Path) -> None:
    src = hand_made(tmp_path / "run.actions.h5")
    dst = tmp_path / "run.filtered.h5"
    result = filtering.filter_file(src, dst, CFG)
    reasons = result.chunks.reason.tolist()
    assert reasons == ["idle", "kept", "idle", "low-confidence", "no-overlay", "kept", "too-short"]
    assert result.segments.tolist() == [[20, 40], [100, 110], [111, 120]]
    np.testing.assert_allclose(result.chunks.active[:3], [0.0, 0.6, 0.45])
    with formats.open_file(dst, "filtered") as f:
        acts, frame_index = formats.read_actions(f)
        segments = formats.read_segments(f)
        chunks, rules = formats.read_chunks(f)
        meta = formats.read_meta(f)
    assert segments.tolist() == result.segments.tolist()
    assert frame_index.tolist() == [*range(20, 40), *range(100, 110), *range(111, 120)]
    assert acts.buttons[:12, SOUTH].all() and not acts.buttons[12:20].any()
    assert chunks["reason"].tolist() == reasons and rules["min_active"] == 0.5
    assert meta["source_kind"] == "actions" and meta["frame_count"] == 128
    summary = filtering.read_summary(dst)
    assert summary.frames_in == 128 and summary.frames_kept == 39
    assert summary.dropped == {"too-short": 1, "no-overlay": 1, "low-confidence": 1, "idle": 2}
    shown = dict(summarize.describe(dst))  # what `nitrogen show` prints
    assert (
        shown["segments"] == "3"
        and shown["chunks.idle"] == "2"
        and shown["rule.dead_zone"] == "0.1"
    )


def test_rows_are_placed_by_frame_index_not_by_position() -> None:
    # Rows for every other frame only: half of each chunk is unread, so nothing is active
    # enough, and a row never stands for a frame it was not read from.
    n = 40
    acts = Actions.zeros(n)
    acts.buttons[:, SOUTH] = True
    r = filtering.judge(acts, np.arange(n) * 2, FPS, 80, config=CFG)
    np.testing.assert_allclose(r.chunks.active, [0.5] * 4)
    np.testing.assert_allclose(r.chunks.confidence, [0.5] * 4)
    strict = filtering.FilterConfig(chunk_seconds=2, min_active=0.6)
    assert filtering.judge(acts, np.arange(n) * 2, FPS, 80, config=strict).segments.size == 0


def test_a_trailing_partial_chunk_is_judged_on_its_own() -> None:
    acts = Actions.zeros(26)
    acts.buttons[20:26, SOUTH] = True  # a 0.6 s tail, all active
    long_tail = filtering.FilterConfig(chunk_seconds=2, min_tail_seconds=0.5)
    r = filtering.judge(acts, np.arange(26), FPS, config=long_tail)
    assert r.chunks.reason.tolist() == ["idle", "kept"] and r.segments.tolist() == [[20, 26]]
    r = filtering.judge(acts, np.arange(26), FPS, config=CFG)  # 1 s minimum: too short
    assert r.chunks.reason.tolist() == ["idle", "too-short"] and r.segments.size == 0


def test_a_chunk_exactly_at_the_threshold_is_kept() -> None:
    acts = Actions.zeros(30)
    acts.buttons[[0, 2, 3, 5, 6, 8, 9], SOUTH] = True  # 7 of 10 frames
    acts.buttons[10:15, SOUTH] = True  # 5 of 10
    acts.buttons[20:26, SOUTH] = True  # 6 of 10
    cfg = filtering.FilterConfig(chunk_seconds=1, min_active=0.7)
    r = filtering.judge(acts, np.arange(30), FPS, config=cfg)
    assert r.chunks.reason.tolist() == ["kept", "idle", "idle"]
    half = filtering.FilterConfig(chunk_seconds=1)
    assert filtering.judge(acts, np.arange(30), FPS, config=half).chunks.reason[1] == "kept"


def test_touching_kept_chunks_become_one_segment() -> None:
    acts = Actions.zeros(60)
    acts.j_left[:] = (0.0, 0.5)
    r = filtering.judge(acts, np.arange(60), FPS, config=CFG)
    assert r.segments.tolist() == [[0, 60]] and r.rows.tolist() == list(range(60))


def test_a_truth_file_is_certain_but_still_needs_its_overlay(tmp_path: Path) -> None:
    src = hand_made(tmp_path / "run.truth.h5", kind="truth")
    result = filtering.filter_file(src, tmp_path / "run.filtered.h5", CFG)
    # No confidence in a truth file (chunk 3 is kept) and no invalid rows (chunk 5 whole).
    assert result.chunks.reason.tolist()[3:6] == ["kept", "no-overlay", "kept"]
    assert result.segments.tolist() == [[20, 40], [60, 80], [100, 120]]
    with formats.open_file(tmp_path / "run.filtered.h5", "filtered") as f:
        assert formats.read_meta(f)["game"] == "test/Hand-v0"


def test_cli_report_flags_skips_and_errors(tmp_path: Path) -> None:
    good = hand_made(tmp_path / "good.actions.h5")
    idle = tmp_path / "idle.actions.h5"
    with formats.create(idle, "actions", command="test") as f:
        formats.write_actions(f, Actions.zeros(100))
        formats.write_confidence(f, np.ones(100, np.float32))
        formats.write_overlay(f, {"found": True, "fps": FPS, "frame_count": 100})
    broken = tmp_path / "broken.actions.h5"
    broken.write_bytes(good.read_bytes()[:2000])
    runner = CliRunner()
    args = ["filter", "-c", "2", "--min-tail", "1", "--report", "-o", str(tmp_path / "out")]
    res = runner.invoke(app, args, input=f"{good}\n{idle}\n{broken}\n")
    assert res.exit_code == 1
    out = tmp_path / "out" / "good.filtered.h5"
    assert res.stdout.splitlines() == [str(out)]  # only paths: `filter --report | mask` works
    err = res.stderr.splitlines()
    assert f"note: {idle}: nothing kept (5 chunks: 5 idle)" in err
    assert [e for e in err if e.startswith("Error:")] == [
        f"Error: {broken}: truncated HDF5 file (was its writer killed?)"
    ]
    table = {line.split("\t")[0]: line.split("\t") for line in err if "\t" in line}
    assert table["#id"][1:5] == ["hours_in", "hours_kept", "kept_%", "chunks"]
    header = table["#id"]
    good_row = dict(zip(header, table["good"], strict=True))
    assert good_row["chunks"] == "7" and good_row["idle"] == "2" and good_row["kept_%"] == "30.5"
    assert dict(zip(header, table["idle"], strict=True))["hours_kept"] == "0"
    assert dict(zip(header, table["total"], strict=True))["chunks"] == "12"

    # A rerun reuses the output (and still reports it); other rules redo it.
    before = out.stat().st_mtime_ns
    res = runner.invoke(app, [*args, str(good)])
    assert res.exit_code == 0 and out.stat().st_mtime_ns == before
    assert any(line.startswith("good\t") for line in res.stderr.splitlines())
    res = runner.invoke(app, [*args, "--min-active", "0.4", str(good)])
    assert res.exit_code == 0 and out.stat().st_mtime_ns != before
    assert filtering.read_summary(out).dropped.get("idle") == 1  # chunk 2 (45%) now kept


@pytest.mark.parametrize(
    ("flag", "value"), [("--min-active", "1.5"), ("--chunk-seconds", "0"), ("--dead-zone", "-1")]
)
def test_bad_flags_are_usage_errors(tmp_path: Path, flag: str, value: str) -> None:
    res = CliRunner().invoke(app, ["filter", flag, value, str(tmp_path / "x.actions.h5")])
    assert res.exit_code == 2
