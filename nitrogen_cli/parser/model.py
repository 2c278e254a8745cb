"""The action-parser network: small enough for a CPU, told the layout, one for every skin.

It never sees a skin's pixels on their own, only a crop next to the looks the template
itself says the crop should have, so a skin it never trained on is no harder than one
it did. Two heads:

ButtonNet (classification): for one element in one frame, is the crop the element's
  pressed look or its released one? Inputs are the crop (3 x S x S) and the two looks
  (premultiplied RGBA, 2 x 4 x S x S), drawn as the video would show them with the
  video's calibrated gain over its estimated background. A per-pixel comparator (1x1
  convolutions) sees
  the crop, both expectations and both residuals scaled by how much the looks differ;
  its features are pooled where the looks differ and by two strided convolutions. Stick
  clicks use the same head, with looks taken at the stick's cell.

StickNet (segmentation): the crop of a stick's travel area is correlated (zero-normalised)
  with the stick drawn at each cell of a G x G grid, released and clicked: two G x G
  heat maps. Their best, sharpened, plus a correction from three small convolutions,
  gives one map of logits; a soft-argmax over them, in a window around the
  correlation's own peak, reads the position below one cell.

    net = ParserNet(ParserConfig())
    logits = net.buttons(obs, looks, gain, bg)         # (B,)
    xy, heat = net.sticks(maps)                        # (B, 2), (B, G, G)
    net = load()                                       # the shipped checkpoint
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_NAME = "parser"
FORMAT = "nitrogen-parser"


@dataclass(frozen=True)
class ParserConfig:
    size: int = 16  # S: button crops are S x S
    stick_size: int = 32  # Ss: stick crops are Ss x Ss
    grid: int = 15  # G: stick cells per axis
    width: int = 16  # comparator channels
    stick_width: int = 16  # heat-map refiner channels
    window: int = 2  # soft-argmax window: peak cell +- this
    stick_highpass: float = 2.0  # blur sigma stick crops lose before matching (0: none)
    stick_floor: float = 0.1  # least weight of a pixel no stick position changes (1: even)
    members: int = 1  # networks trained apart (seeds) whose readings are averaged

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParserConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


BUTTON_INPUTS = 32  # channels the comparator sees per pixel (see ButtonNet.inputs)


class ButtonNet(nn.Module):
    def __init__(self, cfg: ParserConfig) -> None:
        super().__init__()
        c = cfg.width
        self.pixel = nn.Sequential(
            nn.Conv2d(BUTTON_INPUTS, c, 1), nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU()
        )
        self.conv = nn.Sequential(
            nn.Conv2d(c, c, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Linear(c + 4 * c, 32), nn.ReLU(), nn.Linear(32, 1))

    @staticmethod
    def prepare(looks: torch.Tensor, gain: torch.Tensor, bg: torch.Tensor) -> dict:
        """What a crop is compared with, which depends on the element (and video) alone:
        computed once per element when many frames are read.

        The looks are drawn with the video's gain over the estimated background
        (er, ep); `keep` weighs the pixels a press does not change, `where` those it
        does; `sigma` is how much the two looks differ.
        """
        g = gain[:, :, None, None]
        b = bg[:, :, None, None] if bg.dim() == 2 else bg
        pr, ar = looks[:, 0, :3], looks[:, 0, 3:4]
        pp, ap = looks[:, 1, :3], looks[:, 1, 3:4]
        er = pr * g + (1 - ar * g) * b
        ep = pp * g + (1 - ap * g) * b
        mag = (ep - er).abs().sum(1, keepdim=True) + (ap - ar).abs()
        keep = (1 - mag / (mag.amax(dim=(2, 3), keepdim=True) + 1e-6)).clamp(0, 1) ** 2
        d = ep - er
        sigma = d.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + 0.01
        gm = g.mean(1, keepdim=True)
        return {
            "er": er,
            "ep": ep,
            "keep": keep,
            "sigma": sigma,
            "fixed": torch.cat([d / sigma, ar * gm, ap * gm], dim=1),
            "where": mag / (mag.sum(dim=(2, 3), keepdim=True) + 1e-6),
        }

    @staticmethod
    def inputs(obs: torch.Tensor, prep: dict) -> torch.Tensor:
        """(B, 32, S, S) comparator inputs. A second copy of the looks is fitted to the
        crop on the pixels a press does not change (per channel a gain and an offset,
        held close to 1 and 0), so that local background and opacity errors cancel. The
        crop, both pairs of looks and the residuals (scaled by how much the looks
        differ) go in."""
        er, ep, sigma = prep["er"], prep["ep"], prep["sigma"]
        fr, fp = _local_fit(obs, er, ep, prep["keep"])
        return torch.cat(
            [
                obs,
                er,
                ep,
                fr,
                fp,
                (obs - er) / sigma,
                (obs - ep) / sigma,
                (obs - fr) / sigma,
                (obs - fp) / sigma,
                prep["fixed"],
            ],
            dim=1,
        )

    def compare(self, obs: torch.Tensor, prep: dict) -> torch.Tensor:
        """Crops (B, 3, S, S) and prepared looks (each with B rows) -> logits (B,).

        Without gradients, many crops go through in chunks: the per-pixel layers are bound
        by memory traffic, and a chunk's tensors stay in cache (2x faster at 1500 crops,
        same logits)."""
        if len(obs) > COMPARE_CHUNK and not torch.is_grad_enabled():
            return torch.cat(
                [
                    self._compare(
                        obs[i : i + COMPARE_CHUNK],
                        {k: v[i : i + COMPARE_CHUNK] for k, v in prep.items()},
                    )
                    for i in range(0, len(obs), COMPARE_CHUNK)
                ]
            )
        return self._compare(obs, prep)

    def fold(self, prep: dict) -> dict:
        """`prep` plus the comparator's first layer folded into it, for reading without
        gradients: that layer is linear in its inputs, and all but the crop and the two
        locally fitted looks are fixed per element, so per crop it takes 9 channels to
        16 (plus a fixed map) instead of 32."""
        w = self.pixel[0].weight[:, :, 0, 0]  # (c, 32), blocks in `inputs` order
        b = self.pixel[0].bias
        blk = [w[:, 3 * i : 3 * i + 3] for i in range(9)]  # obs er ep fr fp, 4 residuals
        fixed = w[:, 27:]
        inv = 1 / prep["sigma"].reshape(-1, 1, 1)  # (n, 1, 1)
        d1, d2, d3, d4 = blk[5:9]
        w9 = torch.cat(
            [blk[0] + (d1 + d2 + d3 + d4) * inv, blk[3] - d3 * inv, blk[4] - d4 * inv], dim=2
        )  # (n, c, 9): on the crop and the two fitted looks
        mix = lambda m, x: torch.einsum("nck,nkhw->nchw", m, x)  # noqa: E731
        const = (
            mix(blk[1] - d1 * inv, prep["er"])
            + mix(blk[2] - d2 * inv, prep["ep"])
            + torch.einsum("ck,nkhw->nchw", fixed, prep["fixed"])
            + b[None, :, None, None]
        )
        keep = ("er", "ep", "keep", "where")  # what the folded comparator still reads
        n, c = const.shape[:2]
        return {
            **{k: prep[k] for k in keep},
            # pixels-major (n, S * S, c) and (n, 9, c): one matrix product per crop
            "w9": w9.transpose(1, 2).contiguous(),
            "const": const.permute(0, 2, 3, 1).reshape(n, -1, c).contiguous(),
        }

    def _first(self, obs: torch.Tensor, prep: dict) -> torch.Tensor:
        """The per-pixel layers' output, (B, c, S, S) (channels-last when folded)."""
        if "w9" not in prep or torch.is_grad_enabled():
            return self.pixel(self.inputs(obs, prep))
        B, _, S, _ = obs.shape
        fr, fp = _local_fit(obs, prep["er"], prep["ep"], prep["keep"])
        x = torch.cat([obs, fr, fp], dim=1).permute(0, 2, 3, 1).reshape(B, S * S, 9)
        y = torch.baddbmm(prep["const"], x, prep["w9"]).relu_()  # (B, S * S, c)
        second = self.pixel[2]
        w2 = second.weight[:, :, 0, 0]
        f = torch.addmm(second.bias, y.view(B * S * S, -1), w2.t()).relu_()
        return f.view(B, S, S, -1).permute(0, 3, 1, 2)

    def _compare(self, obs: torch.Tensor, prep: dict) -> torch.Tensor:
        f = self._first(obs, prep)
        pooled = (f * prep["where"]).sum(dim=(2, 3))
        h = self.conv(f)
        feats = torch.cat([pooled, h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.head(feats).squeeze(1)

    def forward(
        self, obs: torch.Tensor, looks: torch.Tensor, gain: torch.Tensor, bg: torch.Tensor
    ) -> torch.Tensor:
        """obs (B, 3, S, S), looks (B, 2, 4, S, S), gain (B, 3), bg (B, 3, S, S) (the
        background under the crop; or (B, 3)) -> logits (B,): above 0 means pressed."""
        return self.compare(obs, self.prepare(looks, gain, bg))


COMPARE_CHUNK = 128  # crops per pass when many are compared without gradients


def _local_fit(
    obs: torch.Tensor, er: torch.Tensor, ep: torch.Tensor, w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample and channel, the gain a and offset c that best map `er` onto `obs` on
    the pixels weighted by `w` (ridge: a towards 1, c towards 0); applied to both looks."""
    sw = w.sum(dim=(2, 3), keepdim=True) + 1e-6
    me = (w * er).sum(dim=(2, 3), keepdim=True) / sw
    mo = (w * obs).sum(dim=(2, 3), keepdim=True) / sw
    de, do = er - me, obs - mo
    cov = (w * de * do).sum(dim=(2, 3), keepdim=True) / sw
    var = (w * de * de).sum(dim=(2, 3), keepdim=True) / sw
    lam = 0.004  # a flat patch (var << lam) keeps its gain; it still fits the offset
    a = ((cov + lam) / (var + lam)).clamp(0.5, 1.5)
    c = mo - a * me
    return a * er + c, a * ep + c


PEAK_TIE = 0.005  # stick correlations this close to the best tie (soft_argmax; 0.002-0.01 alike)


class StickNet(nn.Module):
    def __init__(self, cfg: ParserConfig) -> None:
        super().__init__()
        c = cfg.stick_width
        self.grid = cfg.grid
        self.window = cfg.window
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, 1, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)  # start from the correlation itself
        nn.init.zeros_(self.net[-1].bias)
        self.log_scale = nn.Parameter(torch.tensor(3.0))  # sharpness of the correlation
        axis = torch.linspace(-1, 1, cfg.grid)
        gy, gx = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("coords", torch.stack([gx, gy]), persistent=False)  # (2, G, G)

    def forward(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """maps (B, 2, G, G) correlations (released, clicked) -> (xy (B, 2) in [-1, 1],
        logits (B, G, G)). The logits are the sharpened best correlation plus a learned
        correction; the reading is a soft-argmax near their peak."""
        base = maps.amax(dim=1, keepdim=True)
        base = base - base.amax(dim=(2, 3), keepdim=True)
        x = torch.cat([maps, base], dim=1)
        logits = (self.log_scale.exp() * base + self.net(x)).squeeze(1)
        return soft_argmax(logits, self.coords, self.window, base.squeeze(1)), logits


def soft_argmax(
    logits: torch.Tensor, coords: torch.Tensor, window: int, around: torch.Tensor | None = None
) -> torch.Tensor:
    """Expected (x, y) under the softmax of `logits` (B, G, G), within `window` cells of
    their peak: a far secondary peak must not pull the reading towards it.

    Given `around` (B, G, G, the correlation), the peak is the logits' best among the
    cells where the correlation is within PEAK_TIE of its own best: where the
    correlation is a plateau with one low rise (a pixel-art
    stick's clicked look, the pixel hidden, is the same at every cell, and a diagonal
    push lights three pixels dimly) the learned correction moved the peak across the map
    (corpus R2 c36-0009: down-right read as left in 117 of 428 frames). Where the
    correlation cannot choose (n64-pixel's unused right stick: every cell alike, up to
    noise), the correction still does: Q2 c35-0008 read that stick in a corner in all
    2839 frames at the correlation's peak alone, and off in 108 with exact ties only."""
    B, G, _ = logits.shape
    flat = logits.reshape(B, -1)
    if around is not None:
        best = around.reshape(B, -1)
        flat = flat.masked_fill(best < best.amax(dim=1, keepdim=True) - PEAK_TIE, float("-inf"))
    peak = flat.argmax(dim=1)
    py, px = peak // G, peak % G
    idx = torch.arange(G, device=logits.device)
    near_y = (idx[None, :] - py[:, None]).abs() <= window
    near_x = (idx[None, :] - px[:, None]).abs() <= window
    mask = near_y[:, :, None] & near_x[:, None, :]
    z = logits.masked_fill(~mask, float("-inf"))
    p = torch.softmax(z.reshape(B, -1), dim=1).reshape(B, 1, G, G)
    return (p * coords[None]).sum(dim=(2, 3))


class ButtonVote(nn.Module):
    """Several ButtonNets trained apart, their logits averaged. Where a crop fits neither
    look (a background that changed after calibration) each seed's network guesses, and
    seeds guess differently: the mean of three read a fresh corpus with 196 button errors
    where its members made 1709, 211 and 384 (NOTES)."""

    prepare = staticmethod(ButtonNet.prepare)
    SHARED = ("er", "ep", "keep", "where")  # what every member's folded comparator reads

    def __init__(self, cfg: ParserConfig) -> None:
        super().__init__()
        self.members = nn.ModuleList(ButtonNet(cfg) for _ in range(cfg.members))

    def fold(self, prep: dict) -> dict:
        out = {k: prep[k] for k in self.SHARED}
        for i, m in enumerate(self.members):
            f = m.fold(prep)
            out[f"w9.{i}"], out[f"const.{i}"] = f["w9"], f["const"]
        return out

    def _of(self, i: int, prep: dict) -> dict:
        if f"w9.{i}" not in prep:
            return prep
        return {
            **{k: prep[k] for k in self.SHARED},
            "w9": prep[f"w9.{i}"],
            "const": prep[f"const.{i}"],
        }

    def compare(self, obs: torch.Tensor, prep: dict) -> torch.Tensor:
        logits = [m.compare(obs, self._of(i, prep)) for i, m in enumerate(self.members)]
        return torch.stack(logits).mean(0)

    def forward(
        self, obs: torch.Tensor, looks: torch.Tensor, gain: torch.Tensor, bg: torch.Tensor
    ) -> torch.Tensor:
        return self.compare(obs, self.prepare(looks, gain, bg))


class StickVote(nn.Module):
    """Several StickNets trained apart: their heat maps averaged, one position read off the
    mean. Averaging positions instead put a pixel-art stick, which members read at two
    neighbouring cells, between them, where its click's looks fit neither (L2 c29-0017:
    167 false clicks, against none)."""

    def __init__(self, cfg: ParserConfig) -> None:
        super().__init__()
        self.members = nn.ModuleList(StickNet(cfg) for _ in range(cfg.members))

    def forward(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.stack([m(maps)[1] for m in self.members]).mean(0)
        first = self.members[0]  # every member reads the same grid and window
        return soft_argmax(logits, first.coords, first.window, maps.amax(dim=1)), logits


class ParserNet(nn.Module):
    def __init__(self, cfg: ParserConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or ParserConfig()
        one = self.cfg.members <= 1
        self.button = ButtonNet(self.cfg) if one else ButtonVote(self.cfg)
        self.stick = StickNet(self.cfg) if one else StickVote(self.cfg)

    @classmethod
    def vote(cls, nets: list[ParserNet]) -> ParserNet:
        """One network that averages `nets` (one config, each trained apart)."""
        cfg = nets[0].cfg
        if any(asdict(n.cfg) != asdict(cfg) for n in nets) or cfg.members != 1:
            raise ValueError("only single networks of one config can vote together")
        out = cls(ParserConfig(**{**asdict(cfg), "members": len(nets)}))
        if len(nets) == 1:
            out.load_state_dict(nets[0].state_dict())
            return out
        for i, n in enumerate(nets):
            out.button.members[i].load_state_dict(n.button.state_dict())
            out.stick.members[i].load_state_dict(n.stick.state_dict())
        return out

    def buttons(
        self, obs: torch.Tensor, looks: torch.Tensor, gain: torch.Tensor, bg: torch.Tensor
    ) -> torch.Tensor:
        return self.button(obs, looks, gain, bg)

    def sticks(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.stick(maps)


# -- checkpoints: safetensors weights + a JSON config beside them -------------------------
def save(net: ParserNet, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write `<path>.safetensors` and `<path>.json` (config, parameter count, `meta`)."""
    from safetensors.torch import save_file

    from nitrogen_cli.batch import atomic_path

    base = Path(path).with_suffix("")
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    with atomic_path(base.with_suffix(".safetensors")) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    info = {
        "format": FORMAT,
        "config": asdict(net.cfg),
        "parameters": sum(int(v.numel()) for v in state.values()),
        **(meta or {}),
    }
    with atomic_path(base.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=2) + "\n")
    return base.with_suffix(".safetensors")


def default_path() -> Path:
    return WEIGHTS_DIR / f"{DEFAULT_NAME}.safetensors"


def read_info(path: str | Path | None = None) -> dict[str, Any]:
    base = Path(path or default_path()).with_suffix("")
    return json.loads(base.with_suffix(".json").read_text())


def load(path: str | Path | None = None) -> ParserNet:
    """A checkpoint (default: the one shipped with the package), in eval mode."""
    from safetensors.torch import load_file

    from nitrogen_cli.batch import NitrogenError

    p = Path(path or default_path()).with_suffix(".safetensors")
    if not p.exists():
        raise NitrogenError(f"no parser checkpoint at {p} (train one: tools/train-parser)")
    info = read_info(p)
    if info.get("format") != FORMAT:
        raise NitrogenError(f"{p}: not a parser checkpoint")
    net = ParserNet(ParserConfig.from_dict(info["config"]))
    state = load_file(str(p))
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise NitrogenError(
            f"{p}: checkpoint does not match its config "
            f"(missing {missing}, unexpected {unexpected})"
        )
    net.eval()
    return net


def to_tensor(a: Any) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float32)


__all__ = [
    "ButtonNet",
    "ParserConfig",
    "ParserNet",
    "StickNet",
    "default_path",
    "load",
    "read_info",
    "save",
    "soft_argmax",
]
