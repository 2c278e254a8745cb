"""Frames in, action chunks out: the one inference entry point that eval and play call.

    policy = Policy.load("runs/a/last")            # EMA weights when the checkpoint has them
    chunks = policy.predict(frames, euler_steps=16)  # list of Actions, one chunk per frame

Frames are RGB uint8 (H, W, 3) or (B, H, W, 3) at any size; they are squashed to the
policy's input size with INTER_AREA, as the dataset reader does. Sampling takes the cached
path (model.NitroGenPolicy.sample); `naive=True` takes the reference path that recomputes
everything at every Euler step, for the benchmark and the agreement test.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from nitrogen_cli.actions import Actions, ng25_to_flat
from nitrogen_cli.policy import checkpoint as ckpt
from nitrogen_cli.policy.model import DEFAULT_EULER_STEPS, NitroGenPolicy, PolicyConfig


class Policy:
    def __init__(self, model: NitroGenPolicy, device: str | torch.device = "cpu") -> None:
        self.model = model.eval()
        self.config: PolicyConfig = model.config
        self.device = torch.device(device)

    @classmethod
    def load(cls, path: str | Path, ema: bool = True, device: str | torch.device = "cpu") -> Policy:
        """A checkpoint directory, or a run directory (its `last`). Raises CheckpointError."""
        model, _ = ckpt.load_model(path, ema=ema, device=device)
        return cls(model, device)

    @property
    def chunk(self) -> int:
        return self.config.chunk

    @property
    def fps(self) -> float | None:
        return self.config.fps

    @property
    def action_shift(self) -> int:
        return self.config.action_shift

    def frames_tensor(self, frames: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) or (H, W, 3) uint8 -> (B, 3, S, S) uint8 on the policy's device."""
        arr = np.asarray(frames)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (B, H, W, 3), got {arr.dtype} {arr.shape}")
        s = self.config.image_size
        if arr.shape[1:3] != (s, s):
            arr = np.stack([cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA) for f in arr])
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).to(self.device)

    def noise(self, batch: int, seed: int | None = None) -> torch.Tensor:
        """The starting point of sampling, (B, chunk, action dim); seeded when asked."""
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        shape = (batch, self.config.chunk, self.config.action_dim)
        return torch.randn(shape, generator=g).to(self.device)

    @torch.no_grad()
    def sample(
        self,
        frames: np.ndarray,
        euler_steps: int = DEFAULT_EULER_STEPS,
        seed: int | None = None,
        noise: torch.Tensor | None = None,
        naive: bool = False,
    ) -> torch.Tensor:
        """The model's raw output, (B, chunk, action dim) in its own action layout."""
        pixels = NitroGenPolicy.normalize(self.frames_tensor(frames))
        if noise is None:
            noise = self.noise(len(pixels), seed)
        noise = noise.to(self.device, torch.float32)
        run = self.model.sample_naive if naive else self.model.sample
        return run(pixels, noise, euler_steps).float().cpu()

    def predict_flat(
        self,
        frames: np.ndarray,
        euler_steps: int = DEFAULT_EULER_STEPS,
        seed: int | None = None,
        noise: torch.Tensor | None = None,
        naive: bool = False,
    ) -> np.ndarray:
        """(B, chunk, 21) float32 in the contract's flat layout, before thresholding."""
        raw = self.sample(frames, euler_steps, seed, noise, naive).numpy()
        layout = self.config.action_layout
        if layout == "flat21":
            return raw.astype(np.float32)
        return ng25_to_flat(raw, old_layout=layout == "ng25-old")

    def predict(
        self,
        frames: np.ndarray,
        euler_steps: int = DEFAULT_EULER_STEPS,
        seed: int | None = None,
        noise: torch.Tensor | None = None,
    ) -> list[Actions]:
        """One chunk of `chunk` gamepad states per frame, in the contract layout."""
        flat = self.predict_flat(frames, euler_steps, seed, noise)
        return [Actions.from_flat(f) for f in flat]
