"""Policy speed: one action chunk, cached versus naive sampling; training samples/s.

Inference: the `small` preset, one frame, 16 actions, 8 Euler steps, 2 threads. The cached
path (model.sample) computes the image tokens, the mixer and every cross-attention key and
value once per chunk, and every t-dependent term once per call; the naive path
(model.sample_naive) recomputes everything at every step. Both start from the same noise;
the bench reports how far their actions differ.

Training: `nitrogen train`'s own loop (train.train) on a toy 128 px dataset, the `small`
preset, batch 16, with and without bf16 autocast; samples/s from metrics.jsonl after the
first logging window (which holds start-up costs).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nitrogen_cli.policy.infer import Policy
from nitrogen_cli.policy.model import NitroGenPolicy, preset
from nitrogen_cli.policy.toy import write_toy
from nitrogen_cli.policy.train import TrainConfig, train


def _time(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def inference(reps: int, steps: int = 8) -> dict:
    torch.manual_seed(0)
    cfg = preset("small")
    policy = Policy(NitroGenPolicy(cfg))
    frame = np.random.default_rng(0).integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)
    noise = policy.noise(1, seed=0)
    cached = lambda: policy.sample(frame, steps, noise=noise)  # noqa: E731
    naive = lambda: policy.sample(frame, steps, noise=noise, naive=True)  # noqa: E731
    for fn in (cached, naive):  # warm-up
        fn()
    fast_ms, slow_ms = [], []
    for _ in range(reps):  # interleaved, so that load changes hit both alike
        fast_ms += _time(cached, 1)
        slow_ms += _time(naive, 1)
    diff = (cached() - naive()).abs().max().item()
    fast, slow = statistics.median(fast_ms), statistics.median(slow_ms)
    return {
        "preset": "small",
        "euler_steps": steps,
        "chunk": cfg.chunk,
        "threads": torch.get_num_threads(),
        "cached_ms": round(fast, 2),
        "naive_ms": round(slow, 2),
        "speedup": round(slow / fast, 2),
        "max_abs_diff": diff,
        "reps": reps,
    }


def training(steps: int, bf16: bool, data: Path, out: Path) -> dict:
    cfg = TrainConfig(
        [str(data)],
        str(out),
        preset="small",
        max_steps=steps,
        batch_size=16,
        bf16=bf16,
        log_every=max(1, steps // 4),
        save_every=10**9,
    )
    t0 = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - t0
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    sps = [r["samples_per_s"] for r in records[1:]] or [records[-1]["samples_per_s"]]
    return {
        "bf16": bf16,
        "steps": steps,
        "batch": 16,
        "samples_per_s": round(statistics.median(sps), 2),
        "wall_s": round(wall, 1),
        "augment": True,
    }


def run(quick: bool = False) -> dict:
    torch.set_num_threads(2)
    figures: dict = {"inference": inference(reps=5 if quick else 20)}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_toy(Path(tmp) / "toy.dataset.h5", n_frames=128, segment_len=32, size=128)
        steps = 8 if quick else 16
        figures["train_fp32"] = training(steps, False, data, Path(tmp) / "fp32")
        figures["train_bf16"] = training(steps, True, data, Path(tmp) / "bf16")
    figures["train_bf16_speedup"] = round(
        figures["train_bf16"]["samples_per_s"] / figures["train_fp32"]["samples_per_s"], 2
    )
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
