"""`nitrogen mask`: the overlay box is black, the rest is the frame, frame i has action i."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from nitrogen_cli import filtering, formats, masking, video
from nitrogen_cli.actions import Actions
from nitrogen_cli.cli import app
from tests.helpers import REPO

W, H, FPS, N = 160, 120, 10.0, 80
BOX = (108, 78, 40, 30)  # x, y, w, h of the drawn "overlay"
MOVED = (10, 70, 36, 30)  # where it sits from frame 60 on, in the moving-overlay test
BITS = 8  # the frame number, drawn as 8 bars across the top of the frame
SIZE = 64


def barcode_frame(n: int, box: tuple[int, int, int, int] = BOX) -> np.ndarray:
    """A frame that carries its own number: bars on top, a smooth picture below, an overlay."""
    img = np.zeros((H, W, 3), np.uint8)
    for b in range(BITS):
        img[:48, b * 20 : (b + 1) * 20] = 230 if (n >> b) & 1 else 25
    ramp_x = np.linspace(30, 220, W, dtype=np.float32)[None, :]
    ramp_y = np.linspace(40, 200, H - 48, dtype=np.float32)[:, None]
    img[48:, :, 0] = ramp_x
    img[48:, :, 1] = ramp_y
    img[48:, :, 2] = (ramp_x + ramp_y) / 2
    x, y, w, h = box
    img[y : y + h, x : x + w] = (255, 0, 255)  # the overlay: never to be seen again
    img[y + 5 : y + 15, x + 5 + n % 20 : x + 15 + n % 20] = (0, 255, 0)
    return img


def read_barcode(frame: np.ndarray) -> int:
    """The number drawn on a (masked, resized) frame, from the middle of each bar."""
    s = frame.shape[1] / W
    rows = frame[int(8 * s) : int(40 * s)]
    n = 0
    for b in range(BITS):
        mid = rows[:, int((b * 20 + 6) * s) : int((b * 20 + 14) * s)]
        n |= int(mid.mean() > 128) << b
    return n


def encode(n: np.ndarray) -> np.ndarray:
    """(len(n), 17) buttons holding the bits of each frame number: actions naming their frame."""
    return (n[:, None] >> np.arange(17)[None, :]) & 1 == 1


def decode(buttons: np.ndarray) -> np.ndarray:
    return (buttons.astype(np.int64) << np.arange(17)[None, :]).sum(axis=1)


def make_clip(
    folder: Path, name: str = "clip", kind: str = "truth", gop: int = 7, moves: bool = False
) -> tuple[Path, Path]:
    """A barcoded H.264 clip and its truth (or actions) file; frames 20-39 are idle.

    The actions kind has a confidence and leaves frame 55 unread (valid False). With
    `moves`, the overlay jumps to MOVED at frame 60 (said by a truth file's per-frame boxes).
    """
    folder.mkdir(parents=True, exist_ok=True)
    boxes = np.tile(np.array(BOX, np.float64), (N, 1))
    if moves:
        boxes[60:] = MOVED
    drawn = [barcode_frame(i, tuple(int(v) for v in boxes[i])) for i in range(N)]
    mp4 = video.write_video(folder / f"{name}.mp4", drawn, FPS, gop=gop)
    frames = np.arange(N)
    acts = Actions.zeros(N)
    acts.buttons[:] = encode(frames)
    acts.buttons[20:40] = False
    path = folder / f"{name}.{kind}.h5"
    info = {
        "found": True,
        "template": "test/pad",
        "bbox": list(BOX),
        "video": str(mp4.resolve()),
        "fps": FPS,
        "frame_count": N,
        "width": W,
        "height": H,
    }
    with formats.create(path, kind, inputs=[mp4], command="test") as f:
        formats.write_actions(f, acts, frames)
        if kind == "actions":
            formats.write_confidence(f, np.full(N, 0.9, np.float32))
            f["actions"].create_dataset("valid", data=frames != 55)
            formats.write_overlay(f, info)
        else:
            formats.write_overlay(f, info, per_frame={"bbox_per_frame": boxes})
            formats.write_meta(f, fps=FPS, game="test/Barcode-v0")
    return mp4, path


def masked(folder: Path, kind: str = "truth", size: int = SIZE, moves: bool = False) -> Path:
    _, src = make_clip(folder, kind=kind, moves=moves)
    filtered = folder / "clip.filtered.h5"
    filtering.filter_file(
        src, filtered, filtering.FilterConfig(chunk_seconds=2, min_tail_seconds=1)
    )
    dst = folder / "clip.dataset.h5"
    masking.mask_file(filtered, dst, masking.MaskConfig(size=size))
    return dst


def inside(box: tuple[int, int, int, int], margin: int = 0) -> tuple[slice, slice]:
    """Output pixels whose source area lies wholly inside the box grown by `margin`."""
    x, y, w, h = box
    sx, sy = SIZE / W, SIZE / H
    rows = slice(int(np.ceil((y - margin) * sy)), int((y + h + margin) * sy))
    cols = slice(int(np.ceil((x - margin) * sx)), int((x + w + margin) * sx))
    return rows, cols


def read_dataset(path: Path) -> tuple[np.ndarray, Actions, np.ndarray, np.ndarray]:
    with formats.open_file(path, "dataset") as f:
        acts, frame_index = formats.read_actions(f)
        return f["frames"][()], acts, frame_index, f["segment_id"][()]


@pytest.mark.parametrize("kind", ["truth", "actions"])
def test_frame_i_is_paired_with_action_i(tmp_path: Path, kind: str) -> None:
    frames, acts, frame_index, segment = read_dataset(masked(tmp_path, kind))
    # The idle chunk (frames 20-39) is gone; an actions file also loses unread frame 55.
    expected = [*range(20), *range(40, 80)]
    if kind == "actions":
        expected.remove(55)
    assert frame_index.tolist() == expected
    assert frames.shape == (len(expected), SIZE, SIZE, 3) and len(acts) == len(expected)
    drawn = [read_barcode(fr) for fr in frames]
    assert drawn == expected  # frame i shows video frame frame_index[i] ...
    assert decode(acts.buttons).tolist() == expected  # ... and carries that frame's action
    cuts = 3 if kind == "actions" else 2
    assert len(np.unique(segment)) == cuts and (np.diff(segment) >= 0).all()


def test_the_box_is_black_and_the_rest_is_the_frame(tmp_path: Path) -> None:
    margin = 4
    path = masked(tmp_path, size=SIZE)
    frames, _, frame_index, _ = read_dataset(path)
    with formats.open_file(path, "dataset") as f:
        meta = formats.read_meta(f)
    x, y, w, h = BOX
    assert meta["mask_bbox"] == [x - margin, y - margin, w + 2 * margin, h + 2 * margin]
    source = {i: fr for i, fr in video.stream_frames(tmp_path / "clip.mp4")}
    sx, sy = SIZE / W, SIZE / H
    # Output pixels whose source area lies wholly inside the box are exactly black ...
    inner = inside(BOX, margin)
    # ... and those that do not touch it are the plain INTER_AREA resize of the frame.
    outside = np.ones((SIZE, SIZE), bool)
    outside[
        int((y - margin) * sy) - 1 : int(np.ceil((y + h + margin) * sy)) + 1,
        int((x - margin) * sx) - 1 : int(np.ceil((x + w + margin) * sx)) + 1,
    ] = False
    assert frames[:, inner[0], inner[1]].size > 0
    for k, i in enumerate(frame_index):
        ref = cv2.resize(source[int(i)], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        assert (frames[k][inner] == 0).all()
        assert np.array_equal(frames[k][outside], ref[outside])
        # The overlay's magenta is nowhere: not a pixel of it leaks through the resize.
        magenta = (frames[k][..., 0] > 150) & (frames[k][..., 1] < 60) & (frames[k][..., 2] > 150)
        assert not magenta.any()


def test_an_overlay_that_moves_is_blacked_where_it_is(tmp_path: Path) -> None:
    frames, _, frame_index, _ = read_dataset(masked(tmp_path, moves=True))
    inner = inside(MOVED)
    moved = frame_index >= 60
    assert moved.any() and (~moved).any()
    assert (frames[moved][:, inner[0], inner[1]] == 0).all()  # blacked where it went
    assert (frames[~moved][:, inner[0], inner[1]] > 20).all()  # the picture, before it moved
    fixed = inside(BOX)
    assert (frames[:, fixed[0], fixed[1]] == 0).all()  # the detected box stays black


def test_truth_and_extraction_give_the_same_layout(tmp_path: Path) -> None:
    def layout(path: Path) -> dict[str, object]:
        out: dict[str, object] = {}
        with h5py.File(path) as f:
            f.visititems(
                lambda name, node: out.__setitem__(
                    name,
                    (node.dtype.str, node.shape[1:], node.compression, sorted(node.attrs))
                    if isinstance(node, h5py.Dataset)
                    else sorted(node.attrs),
                )
            )
            out["/"] = sorted(f.attrs)
            out["meta types"] = {k: type(v).__name__ for k, v in formats.read_meta(f).items()}
        return out

    a = layout(masked(tmp_path / "truth", "truth"))
    b = layout(masked(tmp_path / "actions", "actions"))
    assert a == b
    with formats.open_file(masked(tmp_path / "again", "actions"), "dataset") as f:
        meta = formats.read_meta(f)
    assert meta["source_kind"] == "actions" and meta["fps"] == FPS and meta["size"] == SIZE


def test_cli_reads_stdin_resumes_and_says_why_in_one_line(tmp_path: Path) -> None:
    _, truth = make_clip(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["filter", "-c", "2", "--min-tail", "1"], input=f"{truth}\n")
    assert res.exit_code == 0, res.output
    filtered = Path(res.stdout.strip())
    bad = tmp_path / "bad.filtered.h5"
    bad.write_bytes(filtered.read_bytes()[:3000])  # a truncated copy
    res = runner.invoke(app, ["mask", "-s", "32", "-q"], input=f"{filtered}\n{bad}\n")
    assert res.exit_code == 1
    out = tmp_path / "clip.dataset.h5"
    assert res.stdout.splitlines() == [str(out)]
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"Error: {bad}: ") and "truncated" in line
    # A rerun reuses the finished dataset; another size rewrites it.
    before = out.stat().st_mtime_ns
    res = runner.invoke(app, ["mask", "-s", "32", str(filtered)])
    assert res.exit_code == 0 and out.stat().st_mtime_ns == before
    res = runner.invoke(app, ["mask", "-s", "16", str(filtered)])
    assert res.exit_code == 0 and out.stat().st_mtime_ns != before
    with formats.open_file(out, "dataset") as f:
        assert f["frames"].shape[1:] == (16, 16, 3)


def test_filter_then_mask_in_a_shell_pipe(tmp_path: Path) -> None:
    make_clip(tmp_path)
    nitrogen = f"{shlex.quote(sys.executable)} -m nitrogen_cli"
    line = f"ls *.truth.h5 | {nitrogen} filter -c 2 --report | {nitrogen} mask -s 32"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "clip.dataset.h5\n"  # the report went to stderr, not down the pipe
    assert any(row.startswith("clip\t") for row in proc.stderr.splitlines())
    assert read_dataset(tmp_path / "clip.dataset.h5")[0].shape == (60, 32, 32, 3)


def test_a_missing_or_changed_video_is_one_line(tmp_path: Path) -> None:
    mp4, truth = make_clip(tmp_path)
    filtered = tmp_path / "clip.filtered.h5"
    filtering.filter_file(truth, filtered, filtering.FilterConfig(chunk_seconds=2))
    runner = CliRunner()
    with mp4.open("ab") as fh:
        fh.write(b"\0")  # the video changed after its actions were read
    res = runner.invoke(app, ["mask", str(filtered)])
    assert res.exit_code == 1 and "has changed since it was read" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    mp4.unlink()
    res = runner.invoke(app, ["mask", str(filtered)])
    assert res.exit_code == 1 and "has gone missing" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "clip.dataset.h5").exists()


def test_an_interrupted_mask_leaves_nothing_and_the_rerun_finishes(tmp_path: Path) -> None:
    _, truth = make_clip(tmp_path)
    filtered = tmp_path / "clip.filtered.h5"
    filtering.filter_file(truth, filtered, filtering.FilterConfig(chunk_seconds=2))
    dst = tmp_path / "clip.dataset.h5"
    seen = []

    def stop(n: int) -> None:
        seen.append(n)
        if sum(seen) > 20:
            raise KeyboardInterrupt

    cfg = masking.MaskConfig(size=SIZE, batch=8)
    with pytest.raises(KeyboardInterrupt):
        masking.mask_file(filtered, dst, cfg, advance=stop)
    assert sorted(os.listdir(tmp_path)) == ["clip.filtered.h5", "clip.mp4", "clip.truth.h5"]
    assert not formats.is_complete(dst, "dataset")
    masking.mask_file(filtered, dst, cfg)
    frames, acts, _, _ = read_dataset(dst)
    assert len(frames) == len(acts) == 60


def test_blosc_falls_back_to_a_builtin_codec_without_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert formats.frame_codec("blosc-lz4")[0] in ("blosc-lz4", formats.DEFAULT_FRAME_CODEC)
    monkeypatch.setitem(__import__("sys").modules, "hdf5plugin", None)  # not installed
    used, options = formats.frame_codec("blosc-lz4")
    assert used == formats.DEFAULT_FRAME_CODEC == "lzf" and options == {"compression": "lzf"}
