"""Dataset benchmark: /frames codecs (read speed, size, mask speed) and reader headroom.

Real game frames (ALE Ms. Pac-Man upscaled like a stream, and ViZDoom) with an overlay
box are encoded to H.264, filtered and masked at 128 and 256 px with every codec, then
read back through ChunkDataset in random order, as training reads them. The reader's
samples/s is compared with what `train` consumes, when nitrogen_cli.policy can say.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_cli import filtering, formats, masking, video
from nitrogen_cli.actions import Actions
from nitrogen_cli.dataset import ChunkDataset

W, H, FPS = 640, 360, 30
BOX = (480, 250, 140, 90)  # x, y, w, h of the drawn "overlay"


def ale_frames(n: int, seed: int = 0) -> Iterator[np.ndarray]:
    import ale_py
    import cv2
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/MsPacman-v5", frameskip=1, repeat_action_probability=0.0)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    action = 0
    for i in range(n):
        if i % 8 == 0:
            action = int(rng.integers(env.action_space.n))
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset()
        canvas = np.full((H, W, 3), 18, np.uint8)  # a streamer's letterboxed layout
        game = cv2.resize(obs, (H * 160 // 210, H), interpolation=cv2.INTER_NEAREST)
        x = (W - game.shape[1]) // 2
        canvas[:, x : x + game.shape[1]] = game
        yield canvas
    env.close()


def doom_frames(n: int, workdir: Path, seed: int = 0) -> Iterator[np.ndarray]:
    import cv2
    import vizdoom as vzd

    game = vzd.DoomGame()
    game.load_config(os.path.join(vzd.scenarios_path, "defend_the_center.cfg"))
    game.set_doom_config_path(str(workdir / "_vizdoom.ini"))
    game.set_window_visible(False)
    game.set_screen_resolution(vzd.ScreenResolution.RES_640X480)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_seed(seed)
    game.init()
    game.new_episode()
    rng = np.random.default_rng(seed)
    k = game.get_available_buttons_size()
    last = np.zeros((H, W, 3), np.uint8)
    for _ in range(n):
        state = game.get_state()
        if state is None or game.is_episode_finished():
            game.new_episode()
            state = game.get_state()
        last = cv2.resize(state.screen_buffer, (W, H), interpolation=cv2.INTER_AREA)
        game.make_action([bool(b) for b in rng.random(k) < 0.4], 1)
        yield last
    game.close()


def make_clip(workdir: Path, name: str, frames: Iterator[np.ndarray], n: int) -> Path:
    """An H.264 clip with a bright overlay box, and its truth file (all frames active)."""
    x, y, w, h = BOX
    mp4 = workdir / f"{name}.mp4"
    with video.VideoWriter(mp4, W, H, FPS, crf=23) as writer:
        for i, frame in enumerate(frames):
            frame = frame.copy()
            frame[y : y + h, x : x + w] = (40, 40, 40)
            frame[y + 10 : y + 40, x + 10 + (i % 60) : x + 40 + (i % 60)] = (250, 250, 250)
            writer.write(frame)
    rng = np.random.default_rng(1)
    acts = Actions.zeros(n)
    acts.buttons[:] = rng.random((n, 17)) < 0.2
    acts.j_left[:] = rng.uniform(-1, 1, (n, 2))
    truth = workdir / f"{name}.truth.h5"
    with formats.create(truth, "truth", inputs=[mp4], command="bench") as f:
        formats.write_actions(f, acts)
        info = {"found": True, "bbox": list(BOX), "video": str(mp4), "fps": FPS}
        formats.write_overlay(f, info | {"frame_count": n, "width": W, "height": H})
        formats.write_meta(f, fps=FPS, game=name)
    filtered = workdir / f"{name}.filtered.h5"
    filtering.filter_file(truth, filtered)
    return filtered


def read_rate(
    paths: list[Path], samples: int, image_size: int | None = None, passes: int = 3
) -> float:
    """Samples/s through ChunkDataset in random order, one process, warm page cache.

    The best of a few passes: on a shared machine the other passes measure neighbours.
    """
    ds = ChunkDataset(paths, chunk=16, image_size=image_size)
    order = np.random.default_rng(0).permutation(len(ds))
    order = np.resize(order, samples)  # wraps around when asked for more than there are
    for i in order[:20]:  # open handles, fill caches
        ds[int(i)]
    best = 0.0
    for _ in range(passes):
        t0 = time.perf_counter()
        for i in order:
            ds[int(i)]
        best = max(best, len(order) / (time.perf_counter() - t0))
    ds.close()
    return best


def training_rate(batch: int = 32, steps: int = 4) -> dict[str, Any]:
    """Samples/s one optimizer step of the `small` preset takes here (forward, backward,
    AdamW), timed with the policy's public API; what `train` consumes at best."""
    import torch

    try:
        from nitrogen_cli.policy.model import NitroGenPolicy, preset
    except ImportError as exc:
        return {"note": f"nitrogen_cli.policy is not importable ({exc})"}
    cfg = preset("small")
    model = NitroGenPolicy(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    s = cfg.image_size
    pixels = torch.randn(batch, 3, s, s)
    actions = torch.rand(batch, cfg.chunk, cfg.action_dim)
    mask = torch.ones(batch, cfg.chunk, dtype=torch.bool)
    times = []
    for _ in range(steps + 2):  # the first steps warm up allocators
        t0 = time.perf_counter()
        loss = model.loss(pixels, actions, mask, torch.randn_like(actions), torch.rand(batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    best = batch / min(times[2:])
    return {
        "samples_per_s": round(best, 1),
        "preset": "small",
        "image_size": s,
        "batch": batch,
        "threads": torch.get_num_threads(),
        "via": "timed optimizer steps of policy.model.NitroGenPolicy (best of the timed steps)",
    }


def run(quick: bool = False) -> dict[str, Any]:
    import torch

    torch.set_num_threads(2)
    n = 150 if quick else 450
    samples = 300 if quick else 900
    codecs = ["none", "lzf", "gzip-1", "gzip-4"]
    try:
        import hdf5plugin  # noqa: F401

        codecs.append("blosc-lz4")
    except ImportError:
        pass
    default = formats.DEFAULT_FRAME_CODEC
    out: dict[str, Any] = {"frames_per_clip": n, "clips": ["mspacman", "doom"], "video": [W, H]}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        work = Path(tmp)
        sources = [
            make_clip(work, "mspacman", ale_frames(n), n),
            make_clip(work, "doom", doom_frames(n, work), n),
        ]
        for size in (128, 256):
            for codec in codecs:
                datasets = []
                t0 = time.perf_counter()
                for src in sources:
                    dst = work / f"{src.name.split('.')[0]}-{size}-{codec}.dataset.h5"
                    masking.mask_file(src, dst, masking.MaskConfig(size=size, codec=codec))
                    datasets.append(dst)
                mask_fps = 2 * n / (time.perf_counter() - t0)
                nbytes = sum(p.stat().st_size for p in datasets)
                results[f"{size}/{codec}"] = {
                    "read_samples_per_s": round(read_rate(datasets, samples), 1),
                    "bytes_per_frame": round(nbytes / (2 * n)),
                    "ratio": round(2 * n * size * size * 3 / nbytes, 2),
                    "mask_frames_per_s": round(mask_fps, 1),
                }
                if (size, codec) == (256, default):
                    # What `train` reads: default datasets, resized to the small preset's 128.
                    out["reader_samples_per_s_256_to_128"] = round(
                        read_rate(datasets, samples, image_size=128), 1
                    )
                for p in datasets:
                    p.unlink()
    out["codecs"] = results
    builtin = [c for c in codecs if c not in ("none", "blosc-lz4")]
    for size in (128, 256):
        best = max(builtin, key=lambda c: results[f"{size}/{c}"]["read_samples_per_s"])
        out[f"fastest_builtin_codec_{size}"] = best
    out["default_codec"] = default
    train = training_rate()
    out["train"] = train
    if train.get("samples_per_s", 0) > 0:
        reader = out["reader_samples_per_s_256_to_128"]
        out["reader_over_train"] = round(reader / train["samples_per_s"], 1)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
