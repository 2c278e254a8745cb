"""The paper's training augmentations: colour jitter, small rotations and random crops.

Parameters are drawn per sample by the caller from that sample's own RNG (see train.py),
so a sample is augmented the same way whichever process or resumed run draws it. The
images are then warped in one batched affine resample, with no torchvision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

N_PARAMS = 7  # brightness, contrast, saturation, angle (radians), crop scale, crop x, crop y


@dataclass(frozen=True)
class AugmentSpec:
    brightness: float = 0.2  # factor drawn from [1 - b, 1 + b]
    contrast: float = 0.2
    saturation: float = 0.2
    max_rotation: float = 5.0  # degrees, either way
    min_crop: float = 0.85  # the crop's side, as a fraction of the frame's


def draw(rng: np.random.Generator, spec: AugmentSpec) -> np.ndarray:
    """One sample's parameters: (7,) float64."""
    b, c, s = (1 + rng.uniform(-x, x) for x in (spec.brightness, spec.contrast, spec.saturation))
    angle = math.radians(rng.uniform(-spec.max_rotation, spec.max_rotation))
    scale = rng.uniform(spec.min_crop, 1.0)
    # Where the crop's centre sits, as a fraction of the room it has to move in.
    cx, cy = rng.uniform(-1.0, 1.0, size=2)
    return np.array([b, c, s, angle, scale, cx, cy], dtype=np.float64)


def identity(n: int) -> np.ndarray:
    return np.tile(np.array([1, 1, 1, 0, 1, 0, 0], dtype=np.float64), (n, 1))


def apply(images: Tensor, params: Tensor) -> Tensor:
    """Augment float images (B, 3, H, W) in [0, 1] with per-sample `params` (B, 7)."""
    p = params.to(images.device, torch.float32)
    b, c, s, angle, scale, cx, cy = p.unbind(1)
    # Crop and rotation as one map from output to input coordinates ([-1, 1] both ways).
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    room = 1 - scale
    theta = torch.stack(
        [torch.stack([cos, -sin, cx * room], 1), torch.stack([sin, cos, cy * room], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Colour: brightness, then contrast about the mean grey, then saturation.
    x = x * b[:, None, None, None]
    grey = _grey(x)
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c[:, None, None, None] + mean
    grey = _grey(x)
    x = (x - grey) * s[:, None, None, None] + grey
    return x.clamp(0.0, 1.0)


def _grey(x: Tensor) -> Tensor:
    w = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)
