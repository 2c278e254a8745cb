"""The training reader: (frame, the next K actions, a padding mask), lazily, over many files.

A sample is one frame t of one dataset file. Its action chunk holds the actions at
t + shift, t + shift + 1, ... t + shift + K - 1. Chunks never cross a segment boundary
(nor a file's end): positions past the segment repeat its last action and are masked
out, as LeRobot pads episodes (`action_is_pad`). `shift` defaults to 0: the chunk starts
with the action drawn on the frame itself. The released NitroGen checkpoint is reported
to use 18 actions with a shift of 3; pass `shift=3` to match it.

Frames are read one at a time from HDF5 and never all held in memory. Each process
opens its own handles, so the reader is safe under DataLoader workers. A file whose
frame count differs from its action count (or from its segment ids) is refused on
open. A frame costs one HDF5 chunk read and its decompression, nothing else: segment
bounds are precomputed, dataset handles and read buffers are kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import torch

from nitrogen_cli import formats
from nitrogen_cli.actions import Actions


@dataclass(frozen=True)
class DatasetInfo:
    fps: float
    n_frames: int  # samples, after any fps resampling
    frame_size: tuple[int, int]  # (height, width) as stored
    files: tuple[str, ...]
    games: tuple[str, ...]


@dataclass
class _File:
    path: str
    flat: np.ndarray  # (N, 21) float32 actions in the flat layout
    segment: np.ndarray  # (N,) int64 segment ids
    fps: float
    src_index: np.ndarray  # (M,) sample k -> stored frame index (identity unless resampled)
    run_start: np.ndarray | None = None  # (M,) first sample of sample k's segment run
    run_end: np.ndarray | None = None  # (M,) one past its last sample

    def bounds(self) -> None:
        """Where each sample's segment starts and ends, in samples: chunks stop there."""
        seg = self.segment[self.src_index]
        m = len(seg)
        cut = np.flatnonzero(seg[1:] != seg[:-1]) + 1
        starts = np.concatenate([[0], cut]).astype(np.int64)
        ends = np.concatenate([cut, [m]]).astype(np.int64)
        lengths = ends - starts
        self.run_start = np.repeat(starts, lengths)
        self.run_end = np.repeat(ends, lengths)


class ChunkDataset(torch.utils.data.Dataset):
    """Samples (frame, next K actions, mask) from dataset files, lazily."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        chunk: int = 16,
        shift: int = 0,
        image_size: int | None = None,
        fps: float | None = None,
    ) -> None:
        if not paths:
            raise formats.FormatError("no dataset files given")
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        self.chunk, self.shift, self.image_size = chunk, shift, image_size
        self.files: list[_File] = []
        sizes: set[tuple[int, int]] = set()
        rates: dict[float, str] = {}
        games: list[str] = []
        for p in paths:
            try:
                with formats.open_file(p, "dataset") as f:
                    acts, _ = formats.read_actions(f)
                    meta = formats.read_meta(f)
                    segment = f["segment_id"][()].astype(np.int64)
                    sizes.add(tuple(f["frames"].shape[1:3]))
            except formats.FormatError as exc:
                raise formats.FormatError(f"{p}: {exc}") from None
            rates.setdefault(meta["fps"], str(p))
            games.append(meta.get("game", ""))
            n = len(acts)
            self.files.append(_File(str(p), acts.to_flat(), segment, meta["fps"], np.arange(n)))
        if len(rates) > 1 and fps is None:
            listed = ", ".join(f"{r:g} fps ({f})" for r, f in rates.items())
            raise formats.FormatError(
                f"datasets differ in frame rate: {listed}; pass --fps to resample"
            )
        self.fps = float(fps) if fps is not None else next(iter(rates))
        for fl in self.files:
            if fps is not None:
                fl.src_index = _resample_index(len(fl.flat), fl.fps, self.fps)
            fl.bounds()
        self._offsets = np.cumsum([0] + [len(fl.src_index) for fl in self.files])
        self._handles: dict[str, h5py.File] = {}
        self._frames: dict[str, tuple[h5py.Dataset, Any]] = {}
        self._pid = os.getpid()
        self.info = DatasetInfo(
            self.fps,
            int(self._offsets[-1]),
            next(iter(sizes)) if len(sizes) == 1 else (0, 0),
            tuple(str(p) for p in paths),
            tuple(games),
        )

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """Global sample index -> (file number, sample index within that file)."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = int(np.searchsorted(self._offsets, index, side="right") - 1)
        return k, index - int(self._offsets[k])

    def chunk_indices(self, k: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Stored action rows for sample j of file k, and which of them are real.

        Positions outside the sample's segment are padded with the segment's nearest
        real action (its last one, past the end) and marked False.
        """
        fl = self.files[k]
        lo, hi = int(fl.run_start[j]), int(fl.run_end[j])  # type: ignore[index]
        pos = np.arange(j + self.shift, j + self.shift + self.chunk)
        valid = (pos >= lo) & (pos < hi)
        rows = fl.src_index[np.minimum(np.maximum(pos, lo), hi - 1)]
        return rows, valid

    def _handle(self, path: str) -> h5py.File:
        if os.getpid() != self._pid:  # a forked worker: never share the parent's handles
            self._handles, self._frames, self._pid = {}, {}, os.getpid()
        h = self._handles.get(path)
        if h is None:
            h = self._handles[path] = h5py.File(path, "r")
            formats.require_filters(h["frames"])  # loads hdf5plugin in a spawned worker
        return h

    def _frames_of(self, path: str) -> tuple[h5py.Dataset, Any]:
        """The /frames dataset, with a memory space for one frame kept for reuse."""
        if os.getpid() != self._pid or path not in self._frames:
            d = self._handle(path)["frames"]
            self._frames[path] = (d, h5py.h5s.create_simple((1, *d.shape[1:])))
        return self._frames[path]

    def raw_frame(self, k: int, j: int) -> np.ndarray:
        """Sample j of file k as stored, (H, W, 3) uint8: one chunk read, no h5py slicing."""
        fl = self.files[k]
        d, mspace = self._frames_of(fl.path)
        shape = d.shape[1:]
        img = np.empty((1, *shape), np.uint8)
        fspace = d.id.get_space()  # per call: a shared selection would race between threads
        fspace.select_hyperslab((int(fl.src_index[j]), 0, 0, 0), (1, *shape))
        d.id.read(mspace, fspace, img)
        return img[0]

    def frame(self, k: int, j: int) -> np.ndarray:
        img = self.raw_frame(k, j)
        if self.image_size is not None and img.shape[:2] != (self.image_size,) * 2:
            img = cv2.resize(img, (self.image_size, self.image_size), interpolation=cv2.INTER_AREA)
        return img

    def __getitem__(self, index: int) -> dict[str, Any]:
        k, j = self.locate(int(index))
        rows, valid = self.chunk_indices(k, j)
        actions = self.files[k].flat[rows]
        img = self.frame(k, j)
        chw = np.empty((3, *img.shape[:2]), np.uint8)
        cv2.split(img, [chw[0], chw[1], chw[2]])  # HWC -> CHW, twice as fast as a transpose
        return {
            "frame": torch.from_numpy(chw),
            "actions": torch.from_numpy(np.ascontiguousarray(actions)),
            "mask": torch.from_numpy(valid),
            "index": int(index),
        }

    def actions_of(self, k: int) -> Actions:
        """All actions of file k in the contract layout (for checks and stats)."""
        return Actions.from_flat(self.files[k].flat)

    def close(self) -> None:
        self._frames = {}
        for h in self._handles.values():
            h.close()
        self._handles = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"], state["_frames"] = {}, {}
        return state


def _resample_index(n: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Nearest stored frame for each sample at the new rate."""
    m = int(np.floor(n * dst_fps / src_fps))
    idx = np.floor(np.arange(m) * src_fps / dst_fps + 0.5).astype(np.int64)
    return np.clip(idx, 0, n - 1)
