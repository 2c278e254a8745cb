"""Every file kind is written atomically, carries provenance, and is read defensively."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from nitrogen_cli import formats
from nitrogen_cli.actions import BUTTONS, Actions
from tests.helpers import REPO, make_actions, run_cli, write_truth


def test_write_read_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"not really a video, but a real input file")
    a = make_actions(120, seed=3)
    frame_index = np.arange(120) * 2
    path = tmp_path / "clip.actions.h5"
    with formats.create(path, "actions", inputs=[src]) as f:
        formats.write_actions(f, a, frame_index)
        f["actions"].create_dataset("confidence", data=np.ones(120, np.float32))
        formats.write_overlay(f, {"found": True, "bbox": [1, 2, 3, 4]}, atlas_png=b"\x89PNG")
    with formats.open_file(path, "actions") as f:
        back, fi = formats.read_actions(f)
        prov = formats.provenance(f)
        assert list(f["actions/buttons"].attrs["names"].astype(str)) == list(BUTTONS)
        assert f["actions/buttons"].dtype == bool and f["actions/j_left"].dtype == np.float32
        assert formats.read_atlas_png(f) == b"\x89PNG"
        assert formats.read_overlay(f)["bbox"] == [1, 2, 3, 4]
    assert back.equals(a) and np.array_equal(fi, frame_index)
    assert prov["kind"] == "actions" and prov["format_version"] == 1
    (rec,) = prov["inputs"]
    assert rec["path"] == str(src.resolve()) and rec["size"] == src.stat().st_size
    assert rec["hash"].startswith("sha256:") and len(rec["hash"]) == 7 + 64


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.truth.h5"
    with pytest.raises(RuntimeError), formats.create(path, "truth") as f:
        formats.write_actions(f, Actions.zeros(5))
        raise RuntimeError("killed halfway")
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_an_incomplete_file_never_takes_the_final_name(tmp_path: Path) -> None:
    # Missing required content is caught before the rename.
    path = tmp_path / "x.truth.h5"
    with (
        pytest.raises(formats.FormatError, match="missing group /overlay"),
        formats.create(path, "truth") as f,
    ):
        formats.write_actions(f, Actions.zeros(5))
    assert not path.exists()


def test_a_killed_writer_leaves_no_file_under_the_final_name(tmp_path: Path) -> None:
    path = tmp_path / "killed.truth.h5"
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from nitrogen_cli import formats
        from nitrogen_cli.actions import Actions
        with formats.create({str(path)!r}, "truth") as f:
            formats.write_actions(f, Actions.zeros(1000))
            f.flush()
            print("writing", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.returncode == -signal.SIGKILL and "writing" in proc.stdout
    assert not path.exists()
    leftovers = list(tmp_path.iterdir())
    assert leftovers and all(p.name.endswith(".tmp") for p in leftovers)
    # The next run does not mistake the leftover for a finished output.
    assert not formats.is_complete(path, "truth")


def _damage(path: Path, how: str) -> None:
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "wrong kind":
        with h5py.File(path, "a") as f:
            f.attrs["nitrogen_kind"] = "dataset"
    elif how == "future version":
        with h5py.File(path, "a") as f:
            f.attrs["nitrogen_format_version"] = 99
    elif how == "missing dataset":
        with h5py.File(path, "a") as f:
            del f["actions/j_right"]
    elif how == "foreign":
        path.unlink()
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(3)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "not hdf5":
        path.write_text("hello\n")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "truncated HDF5 file"),
        ("wrong kind", "missing dataset /frames"),
        ("future version", "format version 99 is newer than this nitrogen reads (1)"),
        ("missing dataset", "missing dataset /actions/j_right"),
        ("foreign", "not a nitrogen file"),
        ("empty", "empty file"),
        ("not hdf5", "not an HDF5 file"),
    ],
)
def test_show_rejects_damaged_files_in_one_line(tmp_path: Path, how: str, message: str) -> None:
    path = write_truth(tmp_path / "run.truth.h5")
    good = write_truth(tmp_path / "good.truth.h5")
    _damage(path, how)
    proc = run_cli("show", str(path), str(good))
    assert proc.returncode == 1
    errors = proc.stderr.strip().splitlines()
    assert errors == [f"Error: {path}: {errors[0].split(': ', 2)[2]}"]
    assert message in errors[0]
    assert "Traceback" not in proc.stderr
    # The good file in the same batch is still shown.
    assert f"{good}\tkind\ttruth" in proc.stdout


def test_reader_names_the_expected_kind(tmp_path: Path) -> None:
    path = write_truth(tmp_path / "run.truth.h5")
    with pytest.raises(formats.FormatError, match="is a truth file, expected dataset"):
        formats.open_file(path, "dataset")


def test_show_reports_counts_and_press_rates(tmp_path: Path) -> None:
    path = write_truth(tmp_path / "run.truth.h5", n=90)
    proc = run_cli("show", str(path))
    assert proc.returncode == 0, proc.stderr
    rows = dict(line.split("\t")[1:] for line in proc.stdout.splitlines())
    acts = formats.read_actions_file(path)[0]
    assert rows["kind"] == "truth" and rows["actions"] == "90"
    assert rows["fps"] == "30" and rows["duration_s"] == "3"
    assert float(rows["pressed.south"]) == pytest.approx(acts.button("south").mean(), abs=1e-4)
    assert rows["command"] == "test"
    assert "/actions/buttons" in rows


def test_show_in_a_shell_pipeline(tmp_path: Path) -> None:
    for i in range(3):
        write_truth(tmp_path / f"r{i}.truth.h5", seed=i)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = f"ls {tmp_path}/*.h5 | {sys.executable} -m nitrogen_cli show | cut -f1,2 | grep kind"
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == [f"{tmp_path}/r{i}.truth.h5\tkind" for i in range(3)]


def test_show_survives_a_closed_pipe(tmp_path: Path) -> None:
    paths = [str(write_truth(tmp_path / f"r{i}.truth.h5", seed=i)) for i in range(4)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = f"{sys.executable} -m nitrogen_cli show {' '.join(paths)} | head -1"
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env)
    assert proc.returncode == 0
    assert proc.stdout.count("\n") == 1 and proc.stderr == ""


def test_inputs_record_hashes_that_notice_a_change(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"a" * 1000)
    path = tmp_path / "v.overlay.h5"
    with formats.create(path, "overlay", inputs=[video]) as f:
        formats.write_overlay(
            f,
            {
                "found": False,
                "video": str(video),
                "fps": 30.0,
                "frame_count": 1,
                "width": 64,
                "height": 64,
            },
        )
    with formats.open_file(path) as f:
        formats.verify_input(f, video)
        assert formats.video_path(f, path) == video
        video.write_bytes(b"b" * 1000)
        with pytest.raises(formats.FormatError, match="changed"):
            formats.verify_input(f, video)
        video.unlink()
        with pytest.raises(formats.FormatError, match="gone missing"):
            formats.video_path(f, path)
    assert json.loads(json.dumps(formats.KINDS["overlay"].attrs))
