"""The training reader: frame t, the next K actions, and a mask over the padding."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from nitrogen_cli import formats
from nitrogen_cli.actions import Actions
from nitrogen_cli.dataset import ChunkDataset
from tests.test_mask import SIZE, decode, masked, read_barcode


def write_dataset(path: Path, segments: list[int], codec: str = "lzf", first: int = 0) -> Path:
    """A hand-made dataset: row k's frame is all k and its left stick x is k / 100."""
    n = sum(segments)
    rows = np.arange(first, first + n)
    acts = Actions.zeros(n)
    acts.j_left[:, 0] = rows / 100
    bounds = np.cumsum([0, *segments])
    with formats.create(path, "dataset", command="test") as f:
        frames = formats.create_frames(f, n, 8, 8, codec)
        frames[:] = (rows % 256).astype(np.uint8)[:, None, None, None]
        formats.write_actions(f, acts, rows)
        formats.write_segment_ids(f, np.repeat(np.arange(len(segments)), segments))
        formats.write_segments(f, np.stack([bounds[:-1], bounds[1:]], axis=1) + first)
        formats.write_meta(f, fps=30.0, game="test/Hand-v0")
    return path


def rows_of(item: dict) -> list[int]:
    return [round(float(x) * 100) for x in item["actions"][:, 17]]


def test_chunks_near_a_segment_end_are_padded_and_masked(tmp_path: Path) -> None:
    ds = ChunkDataset([write_dataset(tmp_path / "a.dataset.h5", [10, 6])], chunk=5)
    assert len(ds) == 16 and ds.info.fps == 30.0 and ds.info.frame_size == (8, 8)
    item = ds[7]
    assert rows_of(item) == [7, 8, 9, 9, 9]  # padded with the segment's last action
    assert item["mask"].tolist() == [True, True, True, False, False]
    assert item["actions"].dtype == torch.float32 and item["actions"].shape == (5, 21)
    assert item["frame"].shape == (3, 8, 8) and item["frame"].dtype == torch.uint8
    assert int(item["frame"][0, 0, 0]) == 7
    item = ds[9]  # the last frame of segment 0: one real action, never segment 1's
    assert rows_of(item) == [9] * 5 and item["mask"].tolist() == [True] + [False] * 4
    item = ds[10]  # the first of segment 1
    assert rows_of(item) == [10, 11, 12, 13, 14] and item["mask"].all()
    assert rows_of(ds[15]) == [15] * 5 and ds[15]["mask"].sum() == 1


def test_the_action_shift(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "a.dataset.h5", [10, 6])
    ds = ChunkDataset([path], chunk=4, shift=3)
    assert rows_of(ds[0]) == [3, 4, 5, 6] and ds[0]["mask"].all()
    assert int(ds[0]["frame"][0, 0, 0]) == 0  # the frame stays frame t
    assert rows_of(ds[5]) == [8, 9, 9, 9] and ds[5]["mask"].tolist() == [True, True, False, False]
    assert rows_of(ds[13]) == [15] * 4 and not ds[13]["mask"].any()  # all past the end
    back = ChunkDataset([path], chunk=4, shift=-2)
    assert rows_of(back[10]) == [10, 10, 10, 11]  # padded before with the segment's first
    assert back[10]["mask"].tolist() == [False, False, True, True]


def test_many_files_and_workers(tmp_path: Path) -> None:
    a = write_dataset(tmp_path / "a.dataset.h5", [12])
    b = write_dataset(tmp_path / "b.dataset.h5", [5, 7], first=100)
    ds = ChunkDataset([a, b], chunk=4, image_size=4)
    assert len(ds) == 24 and ds.locate(12) == (1, 0)
    assert rows_of(ds[11]) == [11] * 4 and ds[11]["mask"].sum() == 1  # never into file b
    assert rows_of(ds[12]) == [100, 101, 102, 103] and ds[12]["frame"].shape == (3, 4, 4)
    loader = torch.utils.data.DataLoader(ds, batch_size=6, num_workers=2, shuffle=False)
    batches = list(loader)
    frames = torch.cat([bt["frame"] for bt in batches])
    firsts = torch.cat([bt["actions"][:, 0, 17] for bt in batches])
    assert frames.shape == (24, 3, 4, 4)
    # In every worker, frame i still comes with action i.
    assert torch.equal(frames[:, 0, 0, 0].float(), (firsts * 100).round())


def test_frame_i_comes_with_action_i_through_the_reader(tmp_path: Path) -> None:
    ds = ChunkDataset([masked(tmp_path, "actions")], chunk=16, shift=0)
    assert ds.info.frame_size == (SIZE, SIZE)
    for i in range(len(ds)):
        item = ds[i]
        frame = item["frame"].numpy().transpose(1, 2, 0)
        action = Actions.from_flat(item["actions"][:1].numpy())
        assert item["mask"][0] and read_barcode(frame) == int(decode(action.buttons)[0])


def test_a_dataset_whose_frames_and_actions_disagree_is_refused(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "a.dataset.h5", [10])
    with h5py.File(path, "a") as f:  # damage it behind the library's back
        del f["frames"]
        f.create_dataset("frames", data=np.zeros((9, 8, 8, 3), np.uint8))
    with pytest.raises(formats.FormatError, match="9 frames but 10 actions"):
        ChunkDataset([path])


def test_blosc_frames_read_back_or_say_what_is_missing(tmp_path: Path) -> None:
    pytest.importorskip("hdf5plugin")
    path = write_dataset(tmp_path / "a.dataset.h5", [10], codec="blosc-lz4")
    assert int(ChunkDataset([path], chunk=2)[7]["frame"][1, 3, 3]) == 7
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["hdf5plugin"] = None  # a user without the plugin
        from nitrogen_cli import formats
        try:
            formats.check({str(path)!r}, "dataset")
        except formats.FormatError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "needs the hdf5plugin package" in out.stdout, out.stderr
