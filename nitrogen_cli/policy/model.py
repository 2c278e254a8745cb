"""The NitroGen policy network, in one readable file: frame -> image tokens -> action chunk.

    frame ──ViT (or SigLIP from a local folder)──▶ image tokens ──mixer──▶ context
    noise ──action encoder──▶ action tokens ──DiT (AdaLN on t, self-attn, cross-attn)──▶ velocity

The shape follows the paper's model (GR00T N1.5 adapted; NITROGEN.md section 2 item 5) so
that the released checkpoint maps onto it key for key (see import_ng.py), but every line
is written here. The numbers that differ between our sizes live in `PolicyConfig` and its
PRESETS.

Time convention (the only one in this project):
    t ∈ [0, 1]; t = 0 is pure noise, t = 1 is the action.
    x_t = (1 - t) · noise + t · action, and the network regresses the velocity
    v = action - noise (masked MSE). Training draws t = s · (1 - u), u ~ Beta(α, β),
    s = 0.999. Sampling integrates dx/dt = v from t = 0 to 1 with k Euler steps,
    t_i = i / k. The networks see t only as an integer bucket floor(t · 1000).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nitrogen_cli.actions import FLAT_DIM, NG_DIM
from nitrogen_cli.policy import PRESET_NAMES

ENCODERS = ("vit", "siglip")
ACTION_LAYOUTS = {"flat21": FLAT_DIM, "ng25": NG_DIM, "ng25-old": NG_DIM}
DEFAULT_EULER_STEPS = 16


@dataclass
class PolicyConfig:
    """Everything needed to rebuild the network; saved as config.json in a checkpoint."""

    # vision encoder
    encoder: str = "vit"  # "vit": written here; "siglip": transformers, from a local folder
    encoder_config: dict[str, Any] | None = None  # the SigLIP/SigLIP-2 vision config (saved)
    image_size: int = 128
    patch_size: int = 16
    vit_width: int = 256
    vit_depth: int = 6
    vit_heads: int = 4
    vit_mlp_ratio: float = 4.0
    vit_eps: float = 1e-6
    vit_head: bool = False  # SigLIP's attention-pool head; kept only so imports round-trip
    # token mixer over the image tokens
    mixer_depth: int = 2
    mixer_heads: int = 4
    context_pad: int = 0  # left-pad the image tokens with zeros to this many (released model)
    n_games: int = 0  # a game-id token before the image tokens (released model; 0 = none)
    # DiT action head
    dit_width: int = 256
    dit_depth: int = 4
    dit_heads: int = 4
    interleave: bool = True  # odd DiT blocks attend to the actions, even ones to the image
    dit_norm_affine: bool = False
    max_positions: int = 512  # length of the sinusoidal table added inside each block
    max_actions: int = 32  # rows of the learned action position embedding
    time_freq_dim: int = 256
    dropout: float = 0.0
    # actions
    chunk: int = 16
    action_layout: str = "flat21"  # flat21 (ours), ng25 / ng25-old (the released vector)
    action_shift: int = 0  # the chunk of frame i starts at action i + shift
    fps: float | None = None  # the frame rate the policy was trained at
    # flow matching
    beta_alpha: float = 1.5
    beta_beta: float = 1.0
    noise_s: float = 0.999
    timestep_buckets: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)  # provenance, e.g. of an import

    @property
    def action_dim(self) -> int:
        return ACTION_LAYOUTS[self.action_layout]

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def vision_width(self) -> int:
        if self.encoder == "siglip" and self.encoder_config:
            return int(self.encoder_config["hidden_size"])
        return self.vit_width

    @property
    def context_len(self) -> int:
        return max(self.context_pad, self.n_patches + (1 if self.n_games else 0))

    def validate(self) -> None:
        problems = []
        if self.encoder not in ENCODERS:
            problems.append(f"encoder must be one of {', '.join(ENCODERS)}")
        if self.action_layout not in ACTION_LAYOUTS:
            problems.append(f"action_layout must be one of {', '.join(ACTION_LAYOUTS)}")
        if self.image_size % self.patch_size:
            problems.append("image_size must be a multiple of patch_size")
        for name, width, heads in (
            ("vit", self.vit_width, self.vit_heads),
            ("mixer", self.vision_width, self.mixer_heads),
            ("dit", self.dit_width, self.dit_heads),
        ):
            if width % heads:
                problems.append(f"{name} width {width} is not divisible by {heads} heads")
        if self.chunk < 1 or self.chunk > min(self.max_actions, self.max_positions):
            problems.append(f"chunk {self.chunk} must lie in 1..{self.max_actions}")
        if self.context_len > self.max_positions:
            problems.append(f"{self.context_len} image tokens exceed max_positions")
        if self.encoder == "siglip" and not self.encoder_config:
            problems.append("the siglip encoder needs its vision config")
        if problems:
            raise ValueError("bad policy config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown policy config fields {unknown} (newer nitrogen?)")
        cfg = cls(**data)
        cfg.validate()
        return cfg


PRESETS: dict[str, PolicyConfig] = {
    # For tests: every part present once (a cross- and a self-attention DiT block), 16
    # image tokens, about 0.2M parameters. The DiT keeps most of the width: measured on
    # the overfit and loss tests, narrowing the encoder costs nothing, narrowing the DiT
    # slows learning more than it speeds a step.
    "tiny": PolicyConfig(
        image_size=32,
        patch_size=8,
        vit_width=32,
        vit_depth=1,
        vit_heads=2,
        mixer_depth=1,
        mixer_heads=2,
        dit_width=64,
        dit_depth=2,
        dit_heads=2,
        max_positions=64,
        time_freq_dim=64,
    ),
    # The CPU default: trains on a laptop.
    "small": PolicyConfig(),
    # The paper's shape (SigLIP-L/16 sized encoder at 256 px, 4-layer mixer,
    # 8-layer DiT with 16 heads of 64): about 480M parameters, for GPUs.
    "nitrogen-500m": PolicyConfig(
        image_size=256,
        patch_size=16,
        vit_width=1024,
        vit_depth=24,
        vit_heads=16,
        mixer_depth=4,
        mixer_heads=16,
        dit_width=1024,
        dit_depth=8,
        dit_heads=16,
    ),
}


assert tuple(PRESETS) == PRESET_NAMES


def preset(name: str, **overrides: Any) -> PolicyConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    cfg = replace(PRESETS[name], extra={}, **overrides)
    cfg.validate()
    return cfg


# -- sinusoids ------------------------------------------------------------------------------
def position_table(length: int, dim: int) -> Tensor:
    """(1, length, dim): sin at even channels, cos at odd, geometric frequencies."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(1, length, dim)
    table[0, :, 0::2] = torch.sin(pos * freq)
    table[0, :, 1::2] = torch.cos(pos * freq)
    return table


def timestep_features(buckets: Tensor, dim: int) -> Tensor:
    """The DiT's view of t: cos then sin features of the bucket, periods up to 10^4."""
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=buckets.device)
    freq = torch.exp(-math.log(10000.0) * k / (half - 1))
    angle = buckets.float()[:, None] * freq[None]
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)


def action_time_features(buckets: Tensor, dim: int) -> Tensor:
    """The action encoder's view of t: sin then cos features of the bucket."""
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=buckets.device)
    freq = torch.exp(-math.log(10000.0) * k / half)
    angle = buckets.float()[..., None] * freq
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)


# -- building blocks --------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head attention; keys and values come from `ctx` when given (cross-attention)."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim or dim, dim)
        self.v = nn.Linear(kv_dim or dim, dim)
        self.out = nn.Linear(dim, dim)
        # A key bias adds the same q·b to every logit of a query, which softmax ignores:
        # its gradient is rounding noise that Adam would turn into a random walk (and
        # into differences between DDP and one process). It stays, for imported weights,
        # but is never trained.
        self.k.bias.requires_grad_(False)

    def _split(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def kv(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of `src`, split into heads: what a cache keeps across steps."""
        return self._split(self.k(src)), self._split(self.v(src))

    def forward(
        self, x: Tensor, ctx: Tensor | None = None, kv: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        k, v = kv if kv is not None else self.kv(x if ctx is None else ctx)
        if k.shape[0] != x.shape[0]:  # a cache built for one frame serves a batch of noises
            k, v = k.expand(x.shape[0], -1, -1, -1), v.expand(x.shape[0], -1, -1, -1)
        y = F.scaled_dot_product_attention(self._split(self.q(x)), k, v)
        b, h, n, d = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, h * d))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


# -- vision encoder ---------------------------------------------------------------------------
class ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, mlp)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class AttentionPool(nn.Module):
    """SigLIP's pooling head: one learned probe attends over the tokens."""

    def __init__(self, dim: int, heads: int, mlp: int, eps: float) -> None:
        super().__init__()
        self.probe = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, mlp)

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.attn(self.probe.expand(len(tokens), -1, -1), tokens, tokens)[0]
        return (h + self.mlp(self.norm(h)))[:, 0]


class ViT(nn.Module):
    """A plain pre-norm ViT (SigLIP's layout): patches + learned positions, post-norm tokens."""

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        w, mlp = cfg.vit_width, round(cfg.vit_width * cfg.vit_mlp_ratio)
        self.patch = nn.Conv2d(3, w, cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.randn(1, cfg.n_patches, w) * 0.02)
        self.blocks = nn.ModuleList(
            ViTBlock(w, cfg.vit_heads, mlp, cfg.vit_eps) for _ in range(cfg.vit_depth)
        )
        self.norm = nn.LayerNorm(w, eps=cfg.vit_eps)
        # The policy reads the tokens, never the pooled vector (nor did the release); the
        # head exists only so that an imported SigLIP keeps all of its weights.
        self.head = AttentionPool(w, cfg.vit_heads, mlp, cfg.vit_eps) if cfg.vit_head else None
        if self.head is not None:
            self.head.requires_grad_(False)

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.patch(pixels).flatten(2).transpose(1, 2) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def pooled(self, pixels: Tensor) -> Tensor:
        if self.head is None:
            raise ValueError("this encoder has no pooling head")
        return self.head(self(pixels))


class HFVisionEncoder(nn.Module):
    """SigLIP or SigLIP-2 vision tower through transformers. Built from its saved config;
    pretrained weights come only from a local folder (never a hub download)."""

    def __init__(self, encoder_config: dict[str, Any], image_size: int, patch_size: int) -> None:
        super().__init__()
        config_cls, model_cls = _hf_classes(encoder_config.get("model_type", ""))
        self.naflex = model_cls.__name__.startswith("Siglip2")
        self.model = model_cls(config_cls.from_dict(encoder_config))
        self.grid = image_size // patch_size
        self.patch_size = patch_size
        self.interpolate = int(encoder_config.get("image_size", image_size)) != image_size
        if getattr(self.model, "head", None) is not None:
            self.model.head.requires_grad_(False)  # the pooled output is never used
        for name, p in self.model.named_parameters():
            if name.endswith("k_proj.bias"):
                p.requires_grad_(False)  # softmax ignores it (see Attention)

    def forward(self, pixels: Tensor) -> Tensor:
        if not self.naflex:
            out = self.model(pixel_values=pixels, interpolate_pos_encoding=self.interpolate)
            return out.last_hidden_state
        # SigLIP-2 (NaFlex) takes flattened patches, channels last within each patch.
        b, c, p, g = pixels.shape[0], pixels.shape[1], self.patch_size, self.grid
        patches = pixels.reshape(b, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, -1)
        mask = torch.ones(b, g * g, dtype=torch.long, device=pixels.device)
        shapes = torch.tensor([[g, g]] * b, dtype=torch.long, device=pixels.device)
        out = self.model(pixel_values=patches, pixel_attention_mask=mask, spatial_shapes=shapes)
        return out.last_hidden_state


def _hf_classes(model_type: str) -> tuple[Any, Any]:
    import transformers

    if model_type.startswith("siglip2"):
        return transformers.Siglip2VisionConfig, transformers.Siglip2VisionModel
    if model_type.startswith("siglip"):
        return transformers.SiglipVisionConfig, transformers.SiglipVisionModel
    raise ValueError(f"unsupported vision encoder type {model_type!r} (siglip or siglip2)")


def siglip_from_folder(path: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """(vision config, weights) of a SigLIP/SigLIP-2 saved in a local folder."""
    p = Path(path)
    if not p.is_dir():
        raise ValueError(
            f"--encoder-path {path} is not a local folder (nitrogen never downloads from a hub)"
        )
    from transformers import AutoConfig

    conf = AutoConfig.from_pretrained(p, local_files_only=True)
    conf = getattr(conf, "vision_config", conf)
    _, model_cls = _hf_classes(conf.model_type)
    model = model_cls.from_pretrained(p, local_files_only=True)
    return conf.to_dict(), {k: v.detach().clone() for k, v in model.state_dict().items()}


# -- token mixer ------------------------------------------------------------------------------
class MixerBlock(nn.Module):
    """Pre-norm self-attention over the image tokens, positions added to the normed input."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, 4 * dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x) + pos))
        return x + self.drop(self.mlp(self.norm2(x)))


class Mixer(nn.Module):
    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        w = cfg.vision_width
        self.blocks = nn.ModuleList(
            MixerBlock(w, cfg.mixer_heads, cfg.dropout) for _ in range(cfg.mixer_depth)
        )
        self.register_buffer("pos_table", position_table(cfg.max_positions, w))

    def forward(self, x: Tensor) -> Tensor:
        pos = self.pos_table[:, : x.shape[1]].to(x.dtype)
        for block in self.blocks:
            x = block(x, pos)
        return x


# -- DiT action head --------------------------------------------------------------------------
class TimestepEmbedding(nn.Module):
    def __init__(self, freq_dim: int, dim: int) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.fc1 = nn.Linear(freq_dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, buckets: Tensor) -> Tensor:
        h = timestep_features(buckets, self.freq_dim).to(self.fc1.weight.dtype)
        return self.fc2(F.silu(self.fc1(h)))


class DiTBlock(nn.Module):
    """AdaLN(t) -> attention (to the image tokens, or among the actions) -> MLP."""

    def __init__(self, dim: int, heads: int, ctx_dim: int | None, affine: bool, drop: float):
        super().__init__()
        self.cross = ctx_dim is not None
        self.ada = nn.Linear(dim, 2 * dim)  # -> scale, shift of the first norm
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = Attention(dim, heads, kv_dim=ctx_dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=affine)
        self.mlp = MLP(dim, 4 * dim)
        self.drop = nn.Dropout(drop)

    def modulation(self, temb: Tensor) -> Tensor:
        """(B, 2, D) scale and shift for time embedding `temb`; fixed for a given t."""
        return self.ada(F.silu(temb)).unflatten(-1, (2, -1))

    def forward(
        self,
        x: Tensor,
        mod: Tensor,
        pos: Tensor,
        ctx: Tensor | None = None,
        kv: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        scale, shift = mod[:, 0, None], mod[:, 1, None]
        h = self.norm1(x) * (1 + scale) + shift + pos
        if self.cross:
            x = x + self.drop(self.attn(h, ctx=ctx, kv=kv))
        else:
            x = x + self.drop(self.attn(h))
        return x + self.drop(self.mlp(self.norm2(x)))


class DiT(nn.Module):
    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        d = cfg.dit_width
        self.time = TimestepEmbedding(cfg.time_freq_dim, d)
        self.blocks = nn.ModuleList(
            DiTBlock(
                d,
                cfg.dit_heads,
                None if (cfg.interleave and i % 2 == 1) else cfg.vision_width,
                cfg.dit_norm_affine,
                cfg.dropout,
            )
            for i in range(cfg.dit_depth)
        )
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(d, 2 * d)  # -> shift, scale of the output norm
        self.proj_out = nn.Linear(d, d)
        self.register_buffer("pos_table", position_table(cfg.max_positions, d))

    def out_modulation(self, temb: Tensor) -> Tensor:
        return self.ada_out(F.silu(temb)).unflatten(-1, (2, -1))

    def forward(self, x: Tensor, buckets: Tensor, ctx: Tensor) -> Tensor:
        """The straightforward pass: everything recomputed, image keys and values included."""
        temb = self.time(buckets)
        pos = self.pos_table[:, : x.shape[1]].to(x.dtype)
        for block in self.blocks:
            x = block(x, block.modulation(temb), pos, ctx=ctx)
        return self.head(x, self.out_modulation(temb))

    def head(self, x: Tensor, mod: Tensor) -> Tensor:
        shift, scale = mod[:, 0, None], mod[:, 1, None]
        return self.proj_out(self.norm_out(x) * (1 + scale) + shift)


class ActionEncoder(nn.Module):
    """Noisy actions and t -> action tokens: fc1(a) ++ sincos(t) -> fc2 -> swish -> fc3."""

    def __init__(self, action_dim: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.fc1 = nn.Linear(action_dim, dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.fc3 = nn.Linear(dim, dim)

    def time_term(self, buckets: Tensor) -> Tensor:
        """fc2's share that depends on t alone (its bias included): (B, D)."""
        tau = action_time_features(buckets, self.dim).to(self.fc2.weight.dtype)
        return F.linear(tau, self.fc2.weight[:, self.dim :], self.fc2.bias)

    def forward(self, x: Tensor, buckets: Tensor, time_term: Tensor | None = None) -> Tensor:
        a = self.fc1(x)
        if time_term is None:
            tau = action_time_features(buckets, self.dim).to(a.dtype)
            tau = tau[:, None].expand(-1, x.shape[1], -1)
            h = self.fc2(torch.cat([a, tau], dim=-1))
        else:
            h = F.linear(a, self.fc2.weight[:, : self.dim]) + time_term[:, None]
        return self.fc3(F.silu(h))


class ActionDecoder(nn.Module):
    def __init__(self, dim: int, action_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, action_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.relu(self.fc1(x)))


# -- flow-matching helpers (LeRobot's manner: small, pure functions) --------------------------
def sample_time(u: Tensor, s: float) -> Tensor:
    """t = s · (1 - u) for u ~ Beta(α, β) drawn by the caller (so that it controls the RNG)."""
    return s * (1.0 - u)


def interpolate(noise: Tensor, actions: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """(x_t, target velocity) for the straight path from noise (t = 0) to action (t = 1)."""
    tt = t.view(-1, *([1] * (actions.ndim - 1)))
    return (1 - tt) * noise + tt * actions, actions - noise


def to_buckets(t: Tensor, buckets: int) -> Tensor:
    """floor(t · buckets): the integer view of t that the networks see."""
    return (t.double() * buckets).long()


def step_buckets(steps: int, buckets: int, device: torch.device | str = "cpu") -> Tensor:
    """The bucket of each Euler step's t_i = i / steps, in exact integer arithmetic."""
    return torch.tensor([i * buckets // steps for i in range(steps)], device=device)


def euler(velocity: Callable[[Tensor, int], Tensor], x: Tensor, steps: int) -> Tensor:
    """Integrate dx/dt = velocity(x, i) at t_i = i / steps, from t = 0 to 1."""
    if steps < 1:
        raise ValueError(f"Euler steps must be at least 1, got {steps}")
    dt = 1.0 / steps
    for i in range(steps):
        x = x + dt * velocity(x, i)
    return x


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean over samples of each sample's MSE over its real (unpadded) actions.

    Normalising per sample, not per batch, makes the loss of a batch the mean of the losses
    of its parts, so gradients averaged over DDP ranks equal those of one process.
    """
    err = (pred.float() - target.float()).pow(2).mean(-1)  # (B, T)
    m = mask.to(err.dtype)
    return ((err * m).sum(1) / m.sum(1).clamp(min=1.0)).mean()


# -- the policy -----------------------------------------------------------------------------
class NitroGenPolicy(nn.Module):
    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        cfg.validate()
        self.config = cfg
        if cfg.encoder == "vit":
            self.encoder: nn.Module = ViT(cfg)
        else:
            assert cfg.encoder_config is not None
            self.encoder = HFVisionEncoder(cfg.encoder_config, cfg.image_size, cfg.patch_size)
        self.game_embedding = (
            nn.Embedding(cfg.n_games, cfg.vision_width, padding_idx=0) if cfg.n_games else None
        )
        self.mixer = Mixer(cfg)
        self.action_in = ActionEncoder(cfg.action_dim, cfg.dit_width)
        self.action_pos = nn.Embedding(cfg.max_actions, cfg.dit_width)
        self.dit = DiT(cfg)
        self.action_out = ActionDecoder(cfg.dit_width, cfg.action_dim)
        self.apply(self._init)
        # Every residual branch starts at zero, so each block starts as the identity (as in
        # GPT-2 and DiT's adaLN-Zero): measured to halve the loss reached in a few hundred
        # steps at the tiny preset.
        for block in self.modules():
            if isinstance(block, (ViTBlock, MixerBlock, DiTBlock)):
                nn.init.zeros_(block.attn.out.weight)
                nn.init.zeros_(block.mlp.fc2.weight)

    @staticmethod
    def _init(m: nn.Module) -> None:
        # Linear layers keep torch's fan-in scaled default: a 0.02 normal shrinks the
        # signal through the action path's stack of narrow layers until nothing trains.
        if isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- context: everything that depends on the frame only --
    @staticmethod
    def normalize(frames: Tensor) -> Tensor:
        """uint8 (B, 3, S, S) -> floats in [-1, 1], the SigLIP convention."""
        return frames.float().div(255.0).sub(0.5).div(0.5)

    def context(self, pixels: Tensor, game: Tensor | None = None) -> Tensor:
        """Image tokens after the mixer: (B, L, vision width)."""
        x = self.encoder(pixels)
        b, _, w = x.shape
        if self.game_embedding is not None:
            ids = game if game is not None else torch.zeros(b, dtype=torch.long, device=x.device)
            x = torch.cat([self.game_embedding(ids)[:, None].to(x.dtype), x], dim=1)
        if self.config.context_pad > x.shape[1]:
            # The released tokenizer left-pads to a fixed length and never masks the pads.
            pad = x.new_zeros(b, self.config.context_pad - x.shape[1], w)
            x = torch.cat([pad, x], dim=1)
        return self.mixer(x)

    # -- velocity: the straightforward path (training, and the reference for sampling) --
    def velocity(self, x: Tensor, buckets: Tensor, ctx: Tensor) -> Tensor:
        h = self.action_in(x, buckets) + self.action_pos.weight[: x.shape[1]]
        return self.action_out(self.dit(h, buckets, ctx))

    def loss(
        self, pixels: Tensor, actions: Tensor, mask: Tensor, noise: Tensor, t: Tensor
    ) -> Tensor:
        """Flow-matching loss; `noise` and `t` come from the caller's RNG (resumable)."""
        ctx = self.context(pixels)
        x_t, target = interpolate(noise, actions, t)
        pred = self.velocity(x_t, to_buckets(t, self.config.timestep_buckets), ctx)
        return masked_mse(pred, target, mask)

    def forward(
        self, pixels: Tensor, actions: Tensor, mask: Tensor, noise: Tensor, t: Tensor
    ) -> Tensor:
        """The training loss (what DDP wraps)."""
        return self.loss(pixels, actions, mask, noise, t)

    # -- sampling --
    @torch.no_grad()
    def sample_naive(self, pixels: Tensor, noise: Tensor, steps: int) -> Tensor:
        """Euler sampling that recomputes everything at every step (the reference path)."""
        buckets = step_buckets(steps, self.config.timestep_buckets, noise.device)

        def v(x: Tensor, i: int) -> Tensor:
            ctx = self.context(pixels)
            return self.velocity(x, buckets[i].repeat(x.shape[0]), ctx)

        return euler(v, noise, steps)

    @torch.no_grad()
    def sample(self, pixels: Tensor, noise: Tensor, steps: int) -> Tensor:
        """Euler sampling that computes once what no step changes.

        Once per chunk: the image tokens and mixer, and each cross-attention block's keys
        and values. Once per call for all steps together (they depend on t alone): the
        timestep embedding, every AdaLN modulation and the action encoder's time term.
        Per step only the action tokens go through the DiT.
        """
        if steps < 1:
            raise ValueError(f"Euler steps must be at least 1, got {steps}")
        ctx = self.context(pixels)
        dit = self.dit
        kvs = [blk.attn.kv(ctx) if blk.cross else None for blk in dit.blocks]
        buckets = step_buckets(steps, self.config.timestep_buckets, noise.device)
        temb = dit.time(buckets)  # (steps, D)
        mods = [blk.modulation(temb) for blk in dit.blocks]  # each (steps, 2, D)
        out_mod = dit.out_modulation(temb)
        time_terms = self.action_in.time_term(buckets)  # (steps, D)
        pos = dit.pos_table[:, : noise.shape[1]].to(noise.dtype)
        act_pos = self.action_pos.weight[: noise.shape[1]]

        def v(x: Tensor, i: int) -> Tensor:
            h = self.action_in(x, buckets[i : i + 1], time_terms[i : i + 1]) + act_pos
            for blk, mod, kv in zip(dit.blocks, mods, kvs, strict=True):
                h = blk(h, mod[i : i + 1], pos, kv=kv)
            return self.action_out(dit.head(h, out_mod[i : i + 1]))

        return euler(v, noise, steps)
