"""Train the action parser on synthetic clips made while it trains.

Worker processes render clips (synth.make_clip) from the training skins and pass them to
the trainer, which keeps the latest few hundred in a ring buffer and draws every batch
from it, so generation and training overlap on separate cores. The trainer takes a new
clip every `clip_every` steps, from the workers in turn, and waits for it if need be: what
it sees is fixed by the seed and the worker count, not by the machine's speed, so one
command gives one checkpoint. Skins are grouped
(`builtin/<family>` for the built-in skins, the preset folder for input-overlay presets);
whole groups are held out, and the trainer reports how it reads clips of held-out skins.

    python -m nitrogen_cli.parser.train --steps 6000 --out parser-out/parser
    tools/train-parser ...   (the same, from a fresh clone)
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import queue
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_HOLDOUT = ("builtin/switch", "builtin/snes")
GAMES = ("Breakout", "MsPacman", "Enduro", "Seaquest", "Boxing", "Riverraid", "DoomBasic")


@dataclass
class TrainConfig:
    steps: int = 20000
    clip_every: float = 4.0  # steps per new clip (the trainer waits for it)
    minutes: float = 0.0  # a time budget: stop (and anneal) by then; makes runs machine-bound
    batch: int = 384  # button crops per step
    thumb_batch: int = 64
    stick_batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    buffer: int = 240  # clips kept for sampling
    warmup_clips: int = 24  # clips to wait for before the first step
    workers: int = 1
    seed: int = 0
    frames: int = 40  # per clip
    recolour: float = 0.4  # share of clips drawn with a recoloured skin
    gain_jitter: float = 0.3  # share of button crops read with a wrong opacity (x0.5 to x1.3)
    val_clips: int = 24
    val_every: int = 2000
    templates: tuple[str, ...] = ()
    builtin: bool = True
    holdout: tuple[str, ...] = DEFAULT_HOLDOUT
    only: tuple[str, ...] = ()  # use only these skin groups (tests; empty: all)
    games: tuple[str, ...] = GAMES  # games whose frames are drawn behind the overlays
    model: dict[str, Any] = field(default_factory=dict)  # ParserConfig overrides
    members: int = 1  # networks trained one after another (seeds seed, seed+1, ...), averaged


def group_of(template_id: str) -> str:
    """`builtin/<family>` for built-in skins, the preset folder otherwise."""
    head, _, rest = template_id.partition("/")
    if head == "builtin":
        return f"builtin/{rest.split('-')[0]}"
    return head


def template_groups(
    dirs: Sequence[str], builtin: bool, only: Sequence[str] = ()
) -> dict[str, list[Any]]:
    """Templates by skin group (only the groups in `only`, when given)."""
    from nitrogen_cli import overlays

    pool = overlays.load_templates([Path(d) for d in dirs], builtin and not only)
    if builtin and only:  # draw only the built-in skins asked for (each takes a while)
        pool += [overlays.builtin_template(i) for i in overlays.skin_ids() if group_of(i) in only]
    groups: dict[str, list[Any]] = {}
    for t in pool:
        g = group_of(t.id)
        if (not only or g in only) and t.shows:
            groups.setdefault(g, []).append(t)
    return groups


def split(
    groups: dict[str, list[Any]], holdout: Sequence[str]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    train = {g: ts for g, ts in groups.items() if g not in holdout}
    held = {g: ts for g, ts in groups.items() if g in holdout}
    return train, held


def trained_groups(cfg: TrainConfig) -> list[str]:
    """The skin groups the network trains on: a skin of any other group, held out or
    never among its templates (a preset folder it was not given), is new to it."""
    return sorted(split(template_groups(cfg.templates, cfg.builtin, cfg.only), cfg.holdout)[0])


def pick(rng: np.random.Generator, groups: dict[str, list[Any]]) -> Any:
    names = sorted(groups)
    members = groups[names[int(rng.integers(len(names)))]]
    return members[int(rng.integers(len(members)))]


# -- clip workers ---------------------------------------------------------------------------
def _worker(cfg: TrainConfig, ccfg: Any, k: int, out: Any, stop: Any) -> None:
    import cv2
    from threadpoolctl import threadpool_limits

    from nitrogen_cli.parser import synth

    cv2.setNumThreads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    # numpy's BLAS on one thread: two workers each spinning BLAS threads on 2 cores beside
    # the trainer once livelocked inside a matrix product (a clean-clone test run)
    threadpool_limits(1)
    rng = np.random.default_rng([cfg.seed, 1000 + k])
    groups, _ = split(template_groups(cfg.templates, cfg.builtin, cfg.only), cfg.holdout)
    bgs = synth.Backgrounds.build(rng, cfg.games)
    misses = 0
    while not stop.is_set():
        if misses >= 200:  # nothing usable in a row: stop, and the trainer says so
            raise SystemExit(f"train-parser: worker {k}: {misses} clips in a row failed")
        t = pick(rng, groups)
        if rng.random() < cfg.recolour:
            t = synth.recolour(rng, t)
        try:
            clip = synth.make_clip(rng, t, bgs, ccfg)
        except Exception as exc:  # a skin the clip maker cannot use: say so, go on
            print(f"train-parser: worker {k}: {t.id}: {exc}", file=sys.stderr)
            misses += 1
            continue
        if clip is None:
            misses += 1
            continue
        misses = 0
        clip["template"] = t.id
        while not stop.is_set():
            try:
                out.put(clip, timeout=0.5)
                break
            except queue.Full:
                continue


def _next_clip(q: Any, procs: list[Any], wait: float = 1.0) -> dict:
    """The next clip, or an error once no worker is left to make one (never a silent hang)."""
    while True:
        try:
            return q.get(timeout=wait)
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                codes = [p.exitcode for p in procs]
                raise RuntimeError(f"every clip worker has stopped (exit codes {codes})") from None


def clip_config(cfg: TrainConfig) -> Any:
    from nitrogen_cli.parser.model import ParserConfig
    from nitrogen_cli.parser.synth import ClipConfig

    m = ParserConfig.from_dict(cfg.model)
    return ClipConfig(
        frames=cfg.frames,
        size=m.size,
        stick_size=m.stick_size,
        grid=m.grid,
        stick_highpass=m.stick_highpass,
        stick_floor=m.stick_floor,
    )


# -- batches ----------------------------------------------------------------------------------
def _pairs(
    rng: np.random.Generator, clips: list[dict], key: str, n: int, mask_key: str | None = None
):
    """n random (clip, frame, slot) picks among clips that have slots for `key`."""
    usable = []
    for c in clips:
        slots = c[key].shape[1]
        if slots == 0:
            continue
        ok = np.arange(slots) if mask_key is None else np.flatnonzero(c[mask_key])
        if len(ok):
            usable.append((c, ok))
    if not usable:
        return []
    picks = rng.integers(len(usable), size=n)
    out = []
    for j in np.unique(picks):
        c, ok = usable[j]
        m = int((picks == j).sum())
        frames = rng.integers(c[key].shape[0], size=m)
        slots = ok[rng.integers(len(ok), size=m)]
        out.append((c, frames, slots))
    return out


def button_batch(
    rng: np.random.Generator,
    clips: list[dict],
    n: int,
    thumbs: bool = False,
    gain_jitter: float = 0.0,
):
    """n crops with their looks, gain, background and label. A share `gain_jitter` of the
    crops is given a gain 0.5 to 1.3 times the clip's (at most 1.05): a video calibrated
    partly on a card's frames gets its opacity that wrong (0.47 for 1), and networks
    trained on right gains alone then read a never-pressed trigger as held."""
    import torch

    key = "thumb_obs" if thumbs else "btn_obs"
    picks = _pairs(rng, clips, key, n, "thumb_shown" if thumbs else None)
    if not picks:
        return None
    obs, looks, gain, bg, label = [], [], [], [], []
    for c, f, s in picks:
        obs.append(c[key][f, s])
        if thumbs:
            looks.append(c["thumb_looks"][f, s])
            label.append(c["thumb_label"][f, s])
        else:
            looks.append(c["btn_looks"][s])
            label.append(c["btn_label"][f, s])
        g = np.repeat(c["gain"][None], len(f), 0)
        if gain_jitter > 0:
            hit = rng.random(len(f)) < gain_jitter
            fac = np.exp(rng.uniform(np.log(0.5), np.log(1.3), len(f)))
            g = np.where(hit[:, None], np.minimum(g * fac[:, None], 1.05), g)
        gain.append(g)
        bg.append(c["thumb_bg" if thumbs else "btn_bg"][s])
    t = lambda a: torch.as_tensor(np.concatenate(a), dtype=torch.float32)  # noqa: E731
    return (
        t(obs).permute(0, 3, 1, 2).contiguous(),
        t(looks).permute(0, 1, 4, 2, 3).contiguous(),
        t(gain),
        t(bg).permute(0, 3, 1, 2).contiguous(),
        t(label),
    )


def stick_batch(rng: np.random.Generator, clips: list[dict], n: int):
    import torch

    picks = _pairs(rng, clips, "stick_xy", n)
    if not picks:
        return None
    maps = np.concatenate([c["stick_maps"][f, s] for c, f, s in picks])
    xy = np.concatenate([c["stick_xy"][f, s] for c, f, s in picks])
    return torch.as_tensor(maps), torch.as_tensor(xy)


def heat_target(xy: Any, grid: int) -> Any:
    """(B, G*G) soft one-hot: the true position splatted bilinearly onto its 4 cells."""
    import torch

    g = (xy.clamp(-1, 1) + 1) * (grid - 1) / 2
    lo = g.floor().clamp(0, grid - 2)
    fr = g - lo
    lo = lo.long()
    t = torch.zeros(len(xy), grid, grid)
    b = torch.arange(len(xy))
    for dy in (0, 1):
        for dx in (0, 1):
            w = (fr[:, 0] if dx else 1 - fr[:, 0]) * (fr[:, 1] if dy else 1 - fr[:, 1])
            t[b, lo[:, 1] + dy, lo[:, 0] + dx] += w
    return t.reshape(len(xy), -1)


def losses(net: Any, rng: np.random.Generator, clips: list[dict], cfg: TrainConfig) -> dict:
    import torch
    import torch.nn.functional as F

    out: dict[str, Any] = {}
    b = button_batch(rng, clips, cfg.batch, gain_jitter=cfg.gain_jitter)
    if b is not None:
        logit = net.buttons(*b[:4])
        out["button"] = F.binary_cross_entropy_with_logits(logit, b[4])
    # stick clicks are read without the jitter: `make parser`'s vote read V1, L2 and the
    # per-skin corpus with 334, 167 and 244 button errors so, 390, 199 and 311 with it
    th = button_batch(rng, clips, cfg.thumb_batch, thumbs=True)
    if th is not None:
        logit = net.buttons(*th[:4])
        out["thumb"] = F.binary_cross_entropy_with_logits(logit, th[4])
    s = stick_batch(rng, clips, cfg.stick_batch)
    if s is not None:
        maps, xy = s
        pred, logits = net.sticks(maps)
        G = logits.shape[-1]
        target = heat_target(xy, G)
        ce = -(target * torch.log_softmax(logits.reshape(len(xy), -1), dim=1)).sum(1).mean()
        out["stick_ce"] = 0.3 * ce
        out["stick_l1"] = 4.0 * (pred - xy).abs().mean()
    return out


# -- evaluation on held-out clips --------------------------------------------------------------
def evaluate(net: Any, clips: list[dict]) -> dict[str, float]:
    """Button and click accuracy, stick mean error and R² over every frame of `clips`."""
    import torch

    correct = total = 0
    t_correct = t_total = 0
    err, true = [], []
    with torch.inference_mode():
        for c in clips:
            F_, nb = c["btn_label"].shape
            gain = torch.as_tensor(c["gain"]).expand(F_, 3)
            for s in range(nb):
                bg = torch.as_tensor(c["btn_bg"][s]).permute(2, 0, 1)[None].expand(F_, -1, -1, -1)
                obs = torch.as_tensor(c["btn_obs"][:, s], dtype=torch.float32).permute(0, 3, 1, 2)
                looks = torch.as_tensor(c["btn_looks"][s], dtype=torch.float32)
                looks = looks.permute(0, 3, 1, 2)[None].expand(F_, -1, -1, -1, -1)
                pred = net.buttons(obs, looks, gain, bg) > 0
                correct += int((pred.numpy() == c["btn_label"][:, s]).sum())
                total += F_
            for s in range(c["stick_xy"].shape[1]):
                xy, _ = net.sticks(torch.as_tensor(c["stick_maps"][:, s]))
                err.append(xy.numpy() - c["stick_xy"][:, s])
                true.append(c["stick_xy"][:, s])
                if c["thumb_shown"][s]:
                    obs = torch.as_tensor(c["thumb_obs"][:, s], dtype=torch.float32).permute(
                        0, 3, 1, 2
                    )
                    looks = torch.as_tensor(c["thumb_looks"][:, s], dtype=torch.float32)
                    bg = torch.as_tensor(c["thumb_bg"][s]).permute(2, 0, 1)[None]
                    bg = bg.expand(F_, -1, -1, -1)
                    pred = net.buttons(obs, looks.permute(0, 1, 4, 2, 3), gain, bg) > 0
                    t_correct += int((pred.numpy() == c["thumb_label"][:, s]).sum())
                    t_total += F_
    out = {"button_acc": correct / max(total, 1), "thumb_acc": t_correct / max(t_total, 1)}
    if err:
        e, y = np.concatenate(err), np.concatenate(true)
        out["stick_mae"] = float(np.abs(e).mean())
        var = y.var(axis=0).sum()
        out["stick_r2"] = float(1 - (e**2).mean(axis=0).sum() / max(var, 1e-9))
    return out


def val_clips(cfg: TrainConfig, n: int, seed: int) -> list[dict]:
    """Clips of held-out skins (none when nothing is held out)."""
    from nitrogen_cli.parser import synth

    _, held = split(template_groups(cfg.templates, cfg.builtin, cfg.only), cfg.holdout)
    if not held or n <= 0:
        return []
    rng = np.random.default_rng([cfg.seed, seed])
    bgs = synth.Backgrounds.build(rng, cfg.games[-2:], frames=80)
    ccfg = clip_config(cfg)
    out = []
    while len(out) < n:
        clip = synth.make_clip(rng, pick(rng, held), bgs, ccfg)
        if clip is not None:
            out.append(clip)
    return out


# -- the loop ---------------------------------------------------------------------------------
def train(cfg: TrainConfig, out: str | Path, log: Any = print) -> dict[str, Any]:
    import torch

    from nitrogen_cli.parser.model import ParserConfig, ParserNet, save

    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 0])
    net = ParserNet(ParserConfig.from_dict(cfg.model))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ctx = mp.get_context("spawn")  # fork after torch or BLAS threads ran can deadlock
    qs = [ctx.Queue(maxsize=4) for _ in range(cfg.workers)]  # one each: taken in turn
    stop = ctx.Event()
    ccfg = clip_config(cfg)
    procs = [
        ctx.Process(target=_worker, args=(cfg, ccfg, k, qs[k], stop), daemon=True)
        for k in range(cfg.workers)
    ]
    for p in procs:
        p.start()
    t0 = time.time()
    buffer: deque[dict] = deque(maxlen=cfg.buffer)
    seen = 0
    history: list[dict[str, Any]] = []
    try:
        val = val_clips(cfg, cfg.val_clips, 7)
        log(f"train-parser: {len(val)} held-out clips ready ({time.time() - t0:.0f} s)")
        warm = min(cfg.warmup_clips, cfg.buffer)
        while seen < warm:
            buffer.append(_next_clip(qs[seen % len(qs)], procs))
            seen += 1
        log(f"train-parser: buffer warm ({seen} clips, {time.time() - t0:.0f} s)")
        running: dict[str, float] = {}
        budget = cfg.minutes * 60 - (time.time() - t0) if cfg.minutes > 0 else 0.0
        t_start = time.time()
        step = 0
        while step < cfg.steps:
            step += 1
            while seen < warm + int(step / cfg.clip_every):
                buffer.append(_next_clip(qs[seen % len(qs)], procs))
                seen += 1
            frac = step / cfg.steps
            if budget > 0:  # the schedule follows whichever runs out first
                frac = max(frac, (time.time() - t_start) / budget)
            last = frac >= 1.0
            lr = cfg.lr * min(1.0, step / 300) * 0.5 * (1 + math.cos(math.pi * frac))
            for g in opt.param_groups:
                g["lr"] = lr
            parts = losses(net, rng, list(buffer), cfg)
            loss = sum(parts.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            for k, v in parts.items():
                v = float(v.detach())
                running[k] = 0.98 * running.get(k, v) + 0.02 * v
            if step % 200 == 0 or last:
                msg = " ".join(f"{k} {v:.4f}" for k, v in running.items())
                took = time.time() - t0
                log(f"step {step}/{cfg.steps} clips {seen} {took:.0f}s lr {lr:.2e} {msg}")
            if val and (step % cfg.val_every == 0 or last):
                net.eval()
                m = evaluate(net, val)
                net.train()
                history.append({"step": step, "seconds": round(time.time() - t0, 1), **m})
                log(f"  held-out: {m}")
            if last:
                break
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    wall = time.time() - t0
    meta = {
        "train": _listed(cfg),
        "trained_groups": trained_groups(cfg),
        "steps": step,
        "clips_seen": seen,
        "wall_seconds": round(wall, 1),
        "command": " ".join(sys.argv),
        "held_out": history[-1] if history else {},
        "history": history,
        "torch": torch.__version__,
    }
    save(net, out, meta)
    log(f"train-parser: wrote {Path(out).with_suffix('.safetensors')} ({wall / 60:.1f} min)")
    return meta


def _listed(cfg: TrainConfig) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}


def train_vote(cfg: TrainConfig, out: str | Path, log: Any = print) -> dict[str, Any]:
    """`cfg.members` networks, each trained by `train` with seeds cfg.seed, cfg.seed + 1,
    ..., saved as one that averages them (`ParserNet.vote`). A single seed's network reads
    some videos far worse than another's, and which ones differs by seed; their mean is
    steadier. Each member is saved beside `out` as it finishes (a rerun of a stopped run
    starts from the first member missing) and removed once the whole is written."""
    from nitrogen_cli.parser.model import ParserNet, load, read_info, save

    if cfg.members <= 1:
        return train(cfg, out, log)
    t0 = time.time()
    base = Path(out).with_suffix("")
    parts, metas = [], []
    for k in range(cfg.members):
        # a time budget is the whole run's: each member gets its share
        mcfg = replace(cfg, seed=cfg.seed + k, members=1, minutes=cfg.minutes / cfg.members)
        part = base.with_name(f"{base.name}-member{k}")
        done = part.with_suffix(".safetensors").is_file() and part.with_suffix(".json").is_file()
        meta = read_info(part) if done else {}
        if meta.get("train") != _listed(mcfg):
            log(f"train-parser: member {k + 1} of {cfg.members} (seed {mcfg.seed})")
            meta = train(mcfg, part, log)
        else:
            log(f"train-parser: member {k + 1} of {cfg.members} is there already ({part})")
        parts.append(part)
        metas.append(meta)
    net = ParserNet.vote([load(p) for p in parts])
    val = val_clips(cfg, cfg.val_clips, 7)
    held = {"step": cfg.steps, **evaluate(net, val)} if val else {}
    wall = time.time() - t0
    meta = {
        "train": _listed(cfg),
        "trained_groups": trained_groups(cfg),
        "steps": cfg.steps,
        "clips_seen": sum(int(m.get("clips_seen", 0)) for m in metas),
        "wall_seconds": round(wall, 1),
        "command": " ".join(sys.argv),
        "held_out": held,
        "members": [
            {k: m.get(k) for k in ("steps", "clips_seen", "wall_seconds", "held_out")}
            for m in metas
        ],
        "torch": metas[0].get("torch"),
    }
    save(net, out, meta)
    for p in parts:
        for suffix in (".safetensors", ".json"):
            p.with_suffix(suffix).unlink(missing_ok=True)
    log(f"train-parser: wrote {Path(out).with_suffix('.safetensors')} ({wall / 60:.1f} min)")
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train-parser", description=__doc__.split("\n\n")[0])
    d = TrainConfig()
    p.add_argument("--out", "-o", default="parser-out/parser")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument(
        "--minutes",
        type=float,
        default=d.minutes,
        help="Time budget (0: none; shared among --members): stop by then; the result "
        "then depends on the machine.",
    )
    p.add_argument(
        "--clip-every",
        type=float,
        default=d.clip_every,
        help="Steps per new clip; the trainer waits for it.",
    )
    p.add_argument("--workers", "-j", type=int, default=d.workers)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--members",
        type=int,
        default=d.members,
        help="Networks trained one after another (seeds SEED, SEED+1, ...) and averaged.",
    )
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--buffer", type=int, default=d.buffer)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument(
        "--gain-jitter",
        type=float,
        default=d.gain_jitter,
        help="Share of button crops (not stick clicks) read with a wrong opacity (x0.5 "
        "to x1.3), as a video calibrated partly on a card is (0: none).",
    )
    p.add_argument("--templates", "-t", action="append", default=[])
    p.add_argument("--no-builtin", action="store_true")
    p.add_argument(
        "--holdout",
        default=",".join(d.holdout),
        help="Comma-separated skin groups to leave out of training and report on "
        "(builtin/<family> or a preset folder name).",
    )
    p.add_argument("--val-clips", type=int, default=d.val_clips)
    p.add_argument("--val-every", type=int, default=d.val_every)
    a = p.parse_args(argv)
    cfg = TrainConfig(
        steps=a.steps,
        minutes=a.minutes,
        clip_every=a.clip_every,
        workers=a.workers,
        seed=a.seed,
        members=a.members,
        frames=a.frames,
        buffer=a.buffer,
        lr=a.lr,
        batch=a.batch,
        gain_jitter=a.gain_jitter,
        templates=tuple(a.templates),
        builtin=not a.no_builtin,
        holdout=tuple(h for h in a.holdout.split(",") if h),
        val_clips=a.val_clips,
        val_every=a.val_every,
    )
    train_vote(cfg, a.out, log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
