"""Behaviour cloning of the policy: one function, the same on a laptop CPU and under torchrun.

Determinism is by construction, not by saved generator states: the data order of epoch e
is a permutation seeded by (seed, e), and every sample's noise, flow time and augmentation
come from an RNG seeded by (seed, its sample number). A sample is therefore treated the
same whether one process draws it or one of several DDP ranks does, and whether the run
was resumed or not; a resumed run needs only the step to know where it is. The process
RNG states are saved and restored as well, for anything that draws from them.

The global batch (--batch-size) is split across ranks and accumulation micro-steps; the
loss is a mean of per-sample losses (model.masked_mse), so DDP's gradient average equals a
single process's gradient at the same global batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from nitrogen_cli.actions import flat_to_ng25
from nitrogen_cli.batch import NitrogenError, Reporter
from nitrogen_cli.policy import augment as aug
from nitrogen_cli.policy import checkpoint as ckpt
from nitrogen_cli.policy.model import (
    PRESETS,
    NitroGenPolicy,
    PolicyConfig,
    preset,
    sample_time,
    siglip_from_folder,
)

METRICS = "metrics.jsonl"
# Measured by tools/bench/bench_policy.py on this project's CPU (AMX): bf16 autocast
# trains the small preset faster there, but not on CPUs without bf16 units, so the CPU
# default stays off and --bf16 turns it on. On CUDA it is on wherever bf16 is supported.
CPU_BF16_DEFAULT = False
# Settings that change what a run computes: a rerun must match them to resume.
RUN_IDENTITY = (
    "datasets",
    "preset",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup",
    "decay",
    "ema_decay",
    "grad_clip",
    "seed",
    "chunk",
    "shift",
    "fps",
    "augment",
    "init",
    "freeze_encoder",
    "encoder_path",
)


class TrainError(NitrogenError):
    """A training problem worth one line: bad settings, bad data, incompatible --init."""


@dataclass
class TrainConfig:
    datasets: list[str]
    out: str
    preset: str | None = None  # None: "small", or the --init checkpoint's shape
    max_steps: int = 1000
    batch_size: int = 32  # the global batch of one optimizer step
    accum: int = 1  # micro-steps per optimizer step (per rank)
    lr: float = 1e-4
    weight_decay: float = 1e-3
    warmup: int | None = None  # steps; None: 5% of max_steps, at most 1000
    decay: float = 0.2  # the last fraction of steps decays linearly to 0
    ema_decay: float = 0.9999
    grad_clip: float = 1.0
    seed: int = 0
    chunk: int | None = None
    shift: int | None = None
    fps: float | None = None
    bf16: bool | None = None  # None: on where it measures faster (see CPU_BF16_DEFAULT)
    augment: bool = True
    save_every: int = 500
    keep: int = 3
    log_every: int = 10
    workers: int | None = None  # DataLoader workers; None: 0 on CPU, 4 on CUDA
    init: str | None = None
    init_ema: bool = True
    freeze_encoder: bool = False
    encoder_path: str | None = None  # a local SigLIP/SigLIP-2 folder: use it as the encoder
    device: str = "auto"
    aug_spec: aug.AugmentSpec = field(default_factory=aug.AugmentSpec)

    def identity(self) -> dict[str, Any]:
        d = asdict(self)
        d["datasets"] = [str(Path(p).resolve()) for p in self.datasets]
        d["warmup"] = self.warmup_steps
        for key in ("init", "encoder_path"):
            d[key] = str(Path(d[key]).resolve()) if d[key] else None
        return {k: d[k] for k in RUN_IDENTITY}

    @property
    def warmup_steps(self) -> int:
        if self.warmup is not None:
            return self.warmup
        return max(1, min(1000, self.max_steps // 20))


# -- schedule and EMA -----------------------------------------------------------------------
@dataclass
class WarmupStableDecay:
    """LR multiplier: linear warmup, a flat stretch, then linear decay to zero."""

    warmup: int
    total: int
    decay_steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        start = self.total - self.decay_steps
        if self.decay_steps > 0 and step >= start:
            return max(0.0, (self.total - step) / self.decay_steps)
        return 1.0


class EMA:
    """Exponential moving average of every weight, with the usual early warm-up.

    Buffers are copied as they are; floating-point tensors are averaged in one batched
    (foreach) call, since on a small model a per-tensor loop costs as much as the step.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        live = model.state_dict(keep_vars=True)
        self.shadow = {k: v.detach().clone() for k, v in live.items()}
        floats = [k for k, v in live.items() if v.is_floating_point()]
        self._live = [live[k].detach() for k in floats]  # views of the model's own tensors
        self._avg = [self.shadow[k] for k in floats]
        self._rest = [(self.shadow[k], live[k]) for k in live if k not in set(floats)]

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self._avg, self._live, 1 - d)
        for s, v in self._rest:
            s.copy_(v)

    def load(self, weights: dict[str, torch.Tensor], where: Path) -> None:
        own = self.shadow
        if set(weights) != set(own) or any(weights[k].shape != own[k].shape for k in own):
            raise ckpt.CheckpointError(f"{where}: EMA weights do not fit the model")
        for k, v in weights.items():
            own[k].copy_(v)


# -- data order and per-sample randomness ---------------------------------------------------
def usable_samples(ds: Any) -> np.ndarray:
    """Indices of the samples whose chunk holds at least one real action.

    With a shift, the last frames of a segment see only padding (an all-False mask):
    they teach nothing, so they are left out of the data order rather than diluting
    the loss. Vectorised over each file's precomputed segment bounds.
    """
    keep, offset = [], 0
    for fl in ds.files:
        j = np.arange(len(fl.src_index))
        first, stop = j + ds.shift, j + ds.shift + ds.chunk
        keep.append(offset + j[(first < fl.run_end) & (stop > fl.run_start)])
        offset += len(j)
    return np.concatenate(keep) if keep else np.zeros(0, np.int64)


class _Stream(torch.utils.data.Dataset):
    """Sample number g -> the dataset item it stands for, in a seeded order per epoch."""

    def __init__(self, ds: Any, seed: int, usable: np.ndarray) -> None:
        self.ds, self.seed, self.usable, self.n = ds, seed, usable, len(usable)
        self._perm: dict[int, np.ndarray] = {}

    def order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perm:
            self._perm = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._perm[epoch]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, g: int) -> dict[str, Any]:
        epoch, pos = divmod(int(g), self.n)
        item = self.ds[int(self.usable[self.order(epoch)[pos]])]
        item["sample"] = int(g)
        return item


class _Slots(torch.utils.data.Sampler):
    """This rank's sample numbers, step by step and micro-step by micro-step."""

    def __init__(self, start: int, stop: int, batch: int, accum: int, world: int, rank: int):
        self.start, self.stop, self.batch, self.accum = start, stop, batch, accum
        self.world, self.rank = world, rank
        self.micro = batch // (world * accum)

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start, self.stop):
            for m in range(self.accum):
                base = step * self.batch + (m * self.world + self.rank) * self.micro
                yield from range(base, base + self.micro)

    def __len__(self) -> int:
        return (self.stop - self.start) * self.accum * self.micro


def sample_randomness(
    seed: int,
    samples: Sequence[int],
    shape: tuple[int, int],
    cfg: PolicyConfig,
    spec: aug.AugmentSpec | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noise (B, T, A), t (B,), augmentation params (B, 7)), a pure function of the samples."""
    noise, u, params = [], [], []
    for g in samples:
        rng = np.random.default_rng([seed, int(g), 0x4E47])
        u.append(rng.beta(cfg.beta_alpha, cfg.beta_beta))
        noise.append(rng.standard_normal(shape, dtype=np.float32))
        params.append(aug.draw(rng, spec) if spec is not None else aug.identity(1)[0])
    t = sample_time(torch.tensor(np.array(u), dtype=torch.float32), cfg.noise_s)
    return torch.from_numpy(np.stack(noise)), t, torch.from_numpy(np.stack(params))


# -- distributed ----------------------------------------------------------------------------
@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0
    owned: bool = False  # we initialised the process group, so we tear it down

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def mean(self, value: float, device: torch.device) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t.item()) / self.world


def _dist_setup(device: torch.device) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    owned = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owned = True
    return _Dist(
        dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), owned
    )


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return dev


# -- RNG state ------------------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- model setup ----------------------------------------------------------------------------
_SHAPE_FIELDS = (
    "encoder",
    "image_size",
    "patch_size",
    "vit_width",
    "vit_depth",
    "vit_heads",
    "mixer_depth",
    "dit_width",
    "dit_depth",
    "dit_heads",
)


def model_config(cfg: TrainConfig) -> tuple[PolicyConfig, dict[str, torch.Tensor] | None, str]:
    """The network to train, the weights to start from (None: fresh), and where they came from."""
    overrides: dict[str, Any] = {}
    if cfg.chunk is not None:
        overrides["chunk"] = cfg.chunk
    if cfg.shift is not None:
        overrides["action_shift"] = cfg.shift
    if cfg.init:
        if cfg.encoder_path:
            raise TrainError("--encoder-path and --init disagree: the encoder comes from --init")
        start = ckpt.resolve(cfg.init)
        base = ckpt.read_config(start)
        if cfg.preset is not None:
            want = PRESETS.get(cfg.preset)
            if want is None:
                raise TrainError(f"unknown preset {cfg.preset!r}; known: {', '.join(PRESETS)}")
            differ = [f for f in _SHAPE_FIELDS if getattr(want, f) != getattr(base, f)]
            if differ:
                why = ", ".join(f"{f} {getattr(base, f)} vs {getattr(want, f)}" for f in differ[:3])
                raise TrainError(
                    f"--init {cfg.init} is incompatible with --preset {cfg.preset} ({why})"
                )
        try:
            mcfg = PolicyConfig.from_dict({**base.to_dict(), **overrides, "extra": {}})
        except ValueError as exc:
            raise TrainError(f"--init {cfg.init} is incompatible: {exc}") from None
        weights = ckpt.read_weights(start, ema=cfg.init_ema)
        probe = NitroGenPolicy(mcfg)
        ckpt.load_into(probe, weights, start)  # refuse a bad --init before any work starts
        return mcfg, weights, str(start)
    try:
        mcfg = preset(cfg.preset or "small", **overrides)
    except ValueError as exc:
        raise TrainError(str(exc)) from None
    if cfg.encoder_path:
        enc_conf, enc_weights = siglip_from_folder(cfg.encoder_path)
        patch = int(enc_conf["patch_size"])
        size = int(enc_conf.get("image_size") or mcfg.image_size)
        if enc_conf.get("model_type", "").startswith("siglip2"):
            size = max(patch, mcfg.image_size // patch * patch)
        mcfg = PolicyConfig.from_dict(
            {
                **mcfg.to_dict(),
                "encoder": "siglip",
                "encoder_config": enc_conf,
                "patch_size": patch,
                "image_size": size,
            }
        )
        return mcfg, {f"encoder.model.{k}": v for k, v in enc_weights.items()}, cfg.encoder_path
    return mcfg, None, "scratch"


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices; leave biases, norms and embeddings' 1-D params alone (nanoGPT)."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _targets(actions: torch.Tensor, layout: str) -> torch.Tensor:
    """Flat contract actions -> the model's action layout."""
    if layout == "flat21":
        return actions
    return torch.from_numpy(flat_to_ng25(actions.numpy(), old_layout=layout == "ng25-old"))


# -- the loop -------------------------------------------------------------------------------
def train(cfg: TrainConfig, reporter: Reporter | None = None) -> Path:
    """Train (or resume) the run in cfg.out; return the final checkpoint directory."""
    from nitrogen_cli.dataset import ChunkDataset

    reporter = reporter or Reporter(quiet=True)
    device = _device(cfg.device)
    dd = _dist_setup(device)
    try:
        return _train(cfg, reporter, device, dd, ChunkDataset)
    finally:
        if dd.owned and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig, reporter: Reporter, device: torch.device, dd: _Dist, dataset_cls: Any
) -> Path:
    if not cfg.datasets:
        raise TrainError("no dataset files given")
    if cfg.max_steps < 1 or cfg.batch_size < 1 or cfg.accum < 1:
        raise TrainError("--max-steps, --batch-size and --accum must be positive")
    if cfg.batch_size % (dd.world * cfg.accum):
        raise TrainError(
            f"--batch-size {cfg.batch_size} must divide evenly over {dd.world} process(es) "
            f"x {cfg.accum} accumulation step(s)"
        )
    if device.type == "cpu" and dd.world > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dd.world))
    run = Path(cfg.out)

    # Resume, or start: the model config comes from the run, --init, or a preset.
    resume = ckpt.last(run)
    start_weights: dict[str, torch.Tensor] | None = None
    if resume is not None:
        before = ckpt.read_train(resume).get("identity", {})
        now = json.loads(json.dumps(cfg.identity()))
        changed = [k for k in RUN_IDENTITY if before.get(k) != now.get(k)]
        if changed:
            k = changed[0]
            raise TrainError(
                f"{run} holds a different run ({k} was {before.get(k)!r}, now {now.get(k)!r}); "
                "rerun with the same settings, or pick another -o"
            )
        mcfg = ckpt.read_config(resume)
        source = f"resumed from {resume}"
    else:
        mcfg, start_weights, source = model_config(cfg)

    ds = dataset_cls(
        cfg.datasets,
        chunk=mcfg.chunk,
        shift=mcfg.action_shift,
        image_size=mcfg.image_size,
        fps=cfg.fps,
    )
    if len(ds) == 0:
        raise TrainError("the datasets hold no frames")
    usable = usable_samples(ds)
    if len(usable) == 0:
        raise TrainError(
            f"no frame has an action within its chunk (shift {mcfg.action_shift}): "
            "every segment is shorter than the shift"
        )
    if dd.main:  # only now: a run refused above leaves no directory behind
        run.mkdir(parents=True, exist_ok=True)
    dd.barrier()
    if resume is None:
        mcfg.fps = ds.info.fps
        mcfg.extra = {"trained_from": source, "datasets": [str(p) for p in cfg.datasets]}

    torch.manual_seed(cfg.seed)
    model = NitroGenPolicy(mcfg)
    if start_weights is not None:
        if mcfg.encoder == "siglip" and not cfg.init:
            _, unexpected = model.load_state_dict(start_weights, strict=False)
            if unexpected:
                raise TrainError(f"SigLIP weights do not fit: {unexpected[:3]}")
        else:
            ckpt.load_into(model, start_weights, cfg.init or "")
    if cfg.freeze_encoder:
        model.encoder.requires_grad_(False)
    model.to(device)
    raw = model
    ema = EMA(raw, cfg.ema_decay)
    optimizer = torch.optim.AdamW(
        _param_groups(raw, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8, fused=True
    )
    decay_steps = round(cfg.decay * cfg.max_steps)
    schedule = WarmupStableDecay(cfg.warmup_steps, cfg.max_steps, decay_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    step = 0
    if resume is not None:
        ckpt.load_into(raw, ckpt.read_weights(resume, ema=False), resume)
        ema.load(ckpt.read_weights(resume, ema=True), resume)
        state = ckpt.read_state(resume)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        # load_state_dict wrote the saved run's numbers into `schedule`; this run's
        # --max-steps decides where the decay starts, so install a fresh one.
        scheduler.lr_lambdas[0] = WarmupStableDecay(cfg.warmup_steps, cfg.max_steps, decay_steps)
        _set_rng_state(state["rng"])
        step = int(state["step"])
        reporter.debug(f"resuming {run} at step {step} from {resume}")
        if step >= cfg.max_steps:
            return resume
    if dd.main:
        _truncate_metrics(run / METRICS, step)

    model_ddp: torch.nn.Module = raw
    if dd.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model_ddp = DistributedDataParallel(
            raw, device_ids=[device.index] if device.type == "cuda" else None
        )

    if cfg.bf16 is None:
        use_bf16 = torch.cuda.is_bf16_supported() if device.type == "cuda" else CPU_BF16_DEFAULT
    else:
        use_bf16 = cfg.bf16
    workers = cfg.workers if cfg.workers is not None else (4 if device.type == "cuda" else 0)
    loader = torch.utils.data.DataLoader(
        _Stream(ds, cfg.seed, usable),
        batch_size=cfg.batch_size // (dd.world * cfg.accum),
        sampler=_Slots(step, cfg.max_steps, cfg.batch_size, cfg.accum, dd.world, dd.rank),
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    spec = cfg.aug_spec if cfg.augment else None
    shape = (mcfg.chunk, mcfg.action_dim)
    train_meta = {"identity": cfg.identity(), "settings": _settings(cfg), "world": dd.world}

    reporter.info(
        f"training {mcfg.n_patches}-token {type(raw.encoder).__name__} policy, "
        f"{raw.n_params() / 1e6:.1f}M parameters, on {len(usable)} samples at {ds.info.fps:g} fps; "
        f"{dd.world} process(es) on {device}, bf16 {'on' if use_bf16 else 'off'}"
    )
    model_ddp.train()
    batches = iter(loader)
    window_loss, window_steps, window_t0 = 0.0, 0, time.perf_counter()
    last_saved: Path | None = resume
    with _progress(reporter if dd.main else None, step, cfg.max_steps) as bar:
        while step < cfg.max_steps:
            step_loss = torch.zeros((), device=device)
            for m in range(cfg.accum):
                batch = next(batches)
                noise, t, params = sample_randomness(
                    cfg.seed, batch["sample"].tolist(), shape, mcfg, spec
                )
                images = batch["frame"].to(device, non_blocking=True).float().div_(255.0)
                if spec is not None:
                    images = aug.apply(images, params)
                pixels = images.sub_(0.5).div_(0.5)
                actions = _targets(batch["actions"], mcfg.action_layout).to(device)
                mask = batch["mask"].to(device)
                sync = m == cfg.accum - 1 or dd.world == 1
                no_sync = contextlib.nullcontext() if sync else model_ddp.no_sync()  # type: ignore[operator]
                with (
                    no_sync,
                    torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16),
                ):
                    loss = model_ddp(pixels, actions, mask, noise.to(device), t.to(device))
                    (loss / cfg.accum).backward()
                step_loss += loss.detach() / cfg.accum
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(
                    [p for p in raw.parameters() if p.requires_grad], cfg.grad_clip
                )
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            ema.update(raw, step)
            step += 1
            if dd.main:
                bar(step)
            window_loss += float(step_loss)
            window_steps += 1
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                elapsed = time.perf_counter() - window_t0
                loss_mean = dd.mean(window_loss / window_steps, device)
                sps = window_steps * cfg.batch_size / max(elapsed, 1e-9)
                lr = scheduler.get_last_lr()[0]
                if dd.main:
                    _append_metrics(
                        run / METRICS,
                        {"step": step, "loss": loss_mean, "lr": lr, "samples_per_s": sps},
                    )
                    bar(step, loss=loss_mean, sps=sps)
                    if not reporter.interactive:
                        reporter.debug(
                            f"step {step}/{cfg.max_steps} loss {loss_mean:.4f} lr {lr:.2e} "
                            f"{sps:.1f} samples/s"
                        )
                window_loss, window_steps, window_t0 = 0.0, 0, time.perf_counter()
            if step % cfg.save_every == 0 or step == cfg.max_steps:
                dest = ckpt.step_dir(run, step)
                if dd.main:
                    state = {
                        "step": step,
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "rng": _rng_state(),
                    }
                    ckpt.save(
                        dest, mcfg, raw.state_dict(), ema.shadow, state, train_meta, step=step
                    )
                    ckpt.link_last(run, dest)
                    ckpt.prune(run, cfg.keep)
                dd.barrier()
                last_saved = dest
    assert last_saved is not None
    return last_saved


def _settings(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["aug_spec"] = asdict(cfg.aug_spec)
    return d


def _append_metrics(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records past the checkpoint we resume from: the killed run's, redone now."""
    if not path.exists():
        return
    keep = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= step
    ]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)


@contextlib.contextmanager
def _progress(reporter: Reporter | None, start: int, total: int) -> Iterator[Any]:
    """A rich bar with the loss and samples/s, on a terminal only."""
    if reporter is None or not reporter.interactive:
        yield lambda step, **fields: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[sps]:.1f} samples/s"),
        TimeRemainingColumn(),
        console=reporter.console,
        transient=True,
    ) as bar:
        task = bar.add_task("train", total=total, completed=start, loss=float("nan"), sps=0.0)
        yield lambda step, **fields: bar.update(task, completed=step, **fields)
