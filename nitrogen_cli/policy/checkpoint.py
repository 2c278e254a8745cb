"""The checkpoint directory: what a trained (or imported) policy is on disk.

    RUN_DIR/
      checkpoints/step-000500/
        config.json         {"format": "nitrogen-policy", "format_version": 1, "step": ...,
                             "model": PolicyConfig}
        model.safetensors   the trained weights
        ema.safetensors     their exponential moving average (what inference uses)
        state.pt            optimizer, scheduler, RNG states, step (torch, weights_only-safe)
        train.json          the training settings, to check that a rerun is the same run
      last -> checkpoints/step-000500
      metrics.jsonl

A checkpoint directory is written under a temporary name and renamed whole, and `last`
moves by an atomic rename of a fresh link, so a run killed at any moment leaves only whole
checkpoints behind. An imported checkpoint holds config.json and model.safetensors only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nitrogen_cli import __version__
from nitrogen_cli.batch import NitrogenError
from nitrogen_cli.policy.model import NitroGenPolicy, PolicyConfig

FORMAT = "nitrogen-policy"
FORMAT_VERSION = 1
CONFIG, MODEL, EMA, STATE, TRAIN = (
    "config.json",
    "model.safetensors",
    "ema.safetensors",
    "state.pt",
    "train.json",
)
LAST = "last"
CHECKPOINTS = "checkpoints"


class CheckpointError(NitrogenError):
    """A checkpoint that is missing, damaged or does not fit: one line, naming the problem."""


def step_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step-{step:06d}"


def resolve(path: str | Path) -> Path:
    """A checkpoint directory, given it or a run directory (whose `last` is followed)."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint")
    if not (p / CONFIG).exists() and (p / LAST).exists():
        p = (p / LAST).resolve()
    if not p.is_dir() or not (p / CONFIG).is_file():
        raise CheckpointError(f"{p}: not a nitrogen checkpoint (no {CONFIG})")
    return p


def last(run_dir: str | Path) -> Path | None:
    """The run's latest whole checkpoint, or None for a fresh run."""
    link = Path(run_dir) / LAST
    if not link.is_symlink() and not link.exists():
        return None
    target = link.resolve()
    if not (target / CONFIG).is_file():
        raise CheckpointError(f"{link}: points at {target}, which is not a whole checkpoint")
    return target


def read_meta(path: str | Path) -> dict[str, Any]:
    """config.json, checked: format, version and a policy config that validates."""
    p = resolve(path)
    try:
        data = json.loads((p / CONFIG).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{p / CONFIG}: unreadable ({_brief(exc)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p / CONFIG}: not a nitrogen policy config")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format {data['format_version']} is newer than this nitrogen reads"
        )
    try:
        data["model"] = PolicyConfig.from_dict(data["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{p / CONFIG}: {_brief(exc)}") from None
    return data


def read_config(path: str | Path) -> PolicyConfig:
    return read_meta(path)["model"]


def read_weights(path: str | Path, ema: bool = True) -> dict[str, Tensor]:
    """The EMA weights when asked and present, else the trained ones."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = resolve(path)
    name = EMA if ema and (p / EMA).exists() else MODEL
    if not (p / name).is_file():
        raise CheckpointError(f"{p}: missing {name}")
    try:
        return load_file(p / name)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{p / name}: damaged weights file ({_brief(exc)})") from None


def load_into(model: torch.nn.Module, weights: Mapping[str, Tensor], where: str | Path) -> None:
    """Strict load that explains a mismatch in one line instead of a page."""
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    wrong = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", wrong)):
            if keys:
                more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
                parts.append(f"{label} {', '.join(keys[:3])}{more}")
        raise CheckpointError(f"{where}: weights do not fit the config ({'; '.join(parts)})")
    model.load_state_dict(weights, strict=True)


def load_model(
    path: str | Path, ema: bool = True, device: str | torch.device = "cpu"
) -> tuple[NitroGenPolicy, PolicyConfig]:
    p = resolve(path)
    cfg = read_config(p)
    model = NitroGenPolicy(cfg)
    load_into(model, read_weights(p, ema), p)
    return model.to(device).eval(), cfg


def read_state(path: str | Path) -> dict[str, Any]:
    """The training state; weights_only, so loading it never runs pickled code."""
    p = resolve(path) / STATE
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{p.parent}: no training state ({STATE})") from None
    except Exception as exc:
        raise CheckpointError(f"{p}: damaged training state ({_brief(exc)})") from None


def read_train(path: str | Path) -> dict[str, Any]:
    p = resolve(path) / TRAIN
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{p}: unreadable ({_brief(exc)})") from None


def save(
    dest: str | Path,
    config: PolicyConfig,
    model: Mapping[str, Tensor],
    ema: Mapping[str, Tensor] | None = None,
    state: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    step: int | None = None,
) -> Path:
    """Write a whole checkpoint directory at `dest`, atomically."""
    from safetensors.torch import save_file

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "nitrogen_version": __version__,
            "step": step,
            "model": config.to_dict(),
        }
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
        save_file(_plain(model), tmp / MODEL)
        if ema is not None:
            save_file(_plain(ema), tmp / EMA)
        if state is not None:
            torch.save(dict(state), tmp / STATE)
        if train is not None:
            (tmp / TRAIN).write_text(json.dumps(train, indent=2) + "\n")
        for f in tmp.iterdir():
            _fsync(f)
        if dest.exists():  # a rerun rewriting the same step: swap, then drop the old one
            old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def link_last(run_dir: str | Path, ckpt: str | Path) -> None:
    """Point RUN_DIR/last at `ckpt` with one atomic rename."""
    run_dir = Path(run_dir)
    tmp = run_dir / f".{LAST}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(ckpt, run_dir), tmp)
    os.replace(tmp, run_dir / LAST)


def prune(run_dir: str | Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints (never the one `last` names); drop leftovers."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return
    current = last(run_dir)
    for leftover in [*root.glob(".step-*.tmp"), *root.glob(".step-*.old")]:
        shutil.rmtree(leftover, ignore_errors=True)  # from a run killed mid-write
    for link in Path(run_dir).glob(f".{LAST}.*.tmp"):
        link.unlink(missing_ok=True)
    steps = sorted(p for p in root.glob("step-*") if p.is_dir())
    for p in steps[: max(0, len(steps) - keep)]:
        if current is None or p.resolve() != current:
            shutil.rmtree(p, ignore_errors=True)


def _plain(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__
