"""The released NitroGen checkpoint (`ng.pt`) <-> our checkpoint directory.

Facts taken from the public MineDojo/NitroGen source (nitrogen/flow_matching_transformer/
nitrogen.py and modules.py, nitrogen/mm_tokenizers.py, nitrogen/cfg.py,
nitrogen/inference_session.py); none of its code is used. `ng.pt` is a torch pickle
holding {"model": state dict, "ckpt_config": {model_cfg, tokenizer_cfg, modality_cfg, ...}}.
Its state dict has these groups, each of which maps onto a module here:

    vision_encoder.*            a SigLIP vision tower           -> encoder.* (our ViT)
    vl_self_attention_model.*   the mixer, pre-norm blocks      -> mixer.*
    model.*                     the DiT (AdaLN, attn1, ff)      -> dit.*
    action_encoder.W1..W3       per-embodiment linears (W, b)   -> action_in.fc1..fc3
    action_decoder.layer1..2    per-embodiment linears          -> action_out.fc1..fc2
    position_embedding.weight   learned action positions        -> action_pos.weight
    game_embedding.weight       game-id token (when trained so) -> game_embedding.weight

Every block of the mixer and of the DiT carries its own copy of one sinusoidal table
(`pos_embed.pe`); we keep one table per stack and check that the copies agree. The
per-embodiment linears hold W as (1, in, out); we store the transposed (out, in).
Shapes give every width and depth; head counts, the self/cross interleave, the flow
matching constants, the chunk length and `old_layout` come from ckpt_config. SigLIP's
head count is not saved anywhere in ng.pt: SigLIP uses heads of 64 channels, so we
take width / 64. Import then export gives back the same tensors, dtypes included.
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nitrogen_cli.batch import NitrogenError
from nitrogen_cli.policy import checkpoint as ckpt
from nitrogen_cli.policy.model import NitroGenPolicy, PolicyConfig, preset

SIGLIP_HEAD_DIM = 64
# Config classes a pickled ckpt_config may name (module, class), from the public source.
_NG_CLASSES = (
    ("nitrogen.cfg", "CkptConfig"),
    ("nitrogen.cfg", "ModalityConfig"),
    ("nitrogen.flow_matching_transformer.nitrogen", "NitroGen_Config"),
    ("nitrogen.flow_matching_transformer.modules", "DiTConfig"),
    ("nitrogen.flow_matching_transformer.modules", "SelfAttentionTransformerConfig"),
    ("nitrogen.mm_tokenizers", "NitrogenTokenizerConfig"),
    ("nitrogen.mm_tokenizers", "GameMappingConfig"),
)


class ImportCheckpointError(NitrogenError):
    """A released checkpoint that cannot be converted, said in one line."""


# -- reading ng.pt without running its pickled code ---------------------------------------
class _Record:
    """Stands in for a pickled (pydantic) config object: keeps its state, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state


def _standin(module: str, name: str) -> type:
    cls = type(name, (_Record,), {})
    cls.__module__, cls.__qualname__ = module, name
    return cls


_STANDINS = [_standin(m, n) for m, n in _NG_CLASSES]


class _LenientUnpickler(pickle.Unpickler):
    """Only with --trust-pickle: NitroGen's own classes become records, others load as is."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "nitrogen" or module.startswith("nitrogen."):
            return _standin(module, name)
        return super().find_class(module, name)


class _LenientPickle:
    Unpickler = _LenientUnpickler
    load = staticmethod(lambda fh, **kw: _LenientUnpickler(fh, **kw).load())


def plain(obj: Any) -> Any:
    """Records (and pydantic dumps) -> plain dicts and lists, recursively."""
    if isinstance(obj, _Record):
        state = obj.__dict__.get("_state")
        if isinstance(state, dict) and "__dict__" in state:  # pydantic v2 pickles this way
            state = state["__dict__"]
        return plain(state)
    if hasattr(obj, "model_dump"):
        return plain(obj.model_dump())
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, set):
        return sorted(plain(v) for v in obj)
    return obj


def read_ng(path: str | Path, trust_pickle: bool = False) -> tuple[dict[str, Tensor], dict]:
    """(state dict, ckpt_config as a plain dict) from a released checkpoint file.

    Loads with weights_only=True: tensors, plain containers and NitroGen's own config
    classes (as inert records) only. A file that needs anything else is refused unless
    `trust_pickle`, which runs the pickle (only do that for a file from a trusted source).
    """
    p = Path(path)
    if not p.is_file():
        raise ImportCheckpointError(f"{p}: no such file")
    try:
        with torch.serialization.safe_globals(_STANDINS):
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:  # not a class safe loading refuses: the bytes are no checkpoint
            why = re.search(
                r"WeightsUnpickler error:\s*(.+?)\s*(?:Check the doc|$)", str(exc), re.S
            )
            raise ImportCheckpointError(
                f"{p}: not a readable torch checkpoint ({_brief(why.group(1) if why else exc)})"
            ) from None
        if not trust_pickle:
            raise ImportCheckpointError(
                f"{p}: holds a pickled object {found.group(1)} that safe (weights-only) "
                "loading refuses; rerun with --trust-pickle only if you trust where this "
                "file came from"
            ) from None
        try:
            obj = torch.load(
                p, map_location="cpu", weights_only=False, pickle_module=_LenientPickle
            )
        except Exception as exc2:
            raise ImportCheckpointError(
                f"{p}: unreadable even as a trusted pickle ({exc2})"
            ) from None
    except Exception as exc:
        raise ImportCheckpointError(
            f"{p}: not a readable torch checkpoint ({_brief(exc)})"
        ) from None
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        state, config = obj["model"], plain(obj.get("ckpt_config") or {})
    elif isinstance(obj, Mapping) and all(isinstance(v, Tensor) for v in obj.values()):
        state, config = obj, {}
    else:
        raise ImportCheckpointError(f"{p}: no 'model' state dict inside")
    state = dict(state)
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise ImportCheckpointError(f"{p}: state dict entry {bad[0]} is not a tensor")
    return state, config if isinstance(config, dict) else {}


# -- the key map ----------------------------------------------------------------------------
def _depth(state: Mapping[str, Tensor], prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pat.match(k))}
    return max(found) + 1 if found else 0


def _linear(ng: str, ours: str) -> list[tuple[str, str, str]]:
    return [(f"{ng}.weight", f"{ours}.weight", "copy"), (f"{ng}.bias", f"{ours}.bias", "copy")]


def _category(ng: str, ours: str) -> list[tuple[str, str, str]]:
    return [(f"{ng}.W", f"{ours}.weight", "cat_w"), (f"{ng}.b", f"{ours}.bias", "cat_b")]


def key_map(cfg: PolicyConfig) -> list[tuple[str, str, str]]:
    """(ng key, our key, transform) for every tensor of a model with config `cfg`."""
    rows: list[tuple[str, str, str]] = []
    v = "vision_encoder."
    rows += _linear(f"{v}embeddings.patch_embedding", "encoder.patch")
    rows += [(f"{v}embeddings.position_embedding.weight", "encoder.pos", "unsqueeze")]
    for i in range(cfg.vit_depth):
        a, b = f"{v}encoder.layers.{i}.", f"encoder.blocks.{i}."
        rows += _linear(f"{a}layer_norm1", f"{b}norm1")
        for x, y in (("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v"), ("out_proj", "out")):
            rows += _linear(f"{a}self_attn.{x}", f"{b}attn.{y}")
        rows += _linear(f"{a}layer_norm2", f"{b}norm2")
        rows += _linear(f"{a}mlp.fc1", f"{b}mlp.fc1") + _linear(f"{a}mlp.fc2", f"{b}mlp.fc2")
    rows += _linear(f"{v}post_layernorm", "encoder.norm")
    if cfg.vit_head:
        rows += [(f"{v}head.probe", "encoder.head.probe", "copy")]
        rows += [
            (f"{v}head.attention.in_proj_weight", "encoder.head.attn.in_proj_weight", "copy"),
            (f"{v}head.attention.in_proj_bias", "encoder.head.attn.in_proj_bias", "copy"),
        ]
        rows += _linear(f"{v}head.attention.out_proj", "encoder.head.attn.out_proj")
        rows += _linear(f"{v}head.layernorm", "encoder.head.norm")
        rows += _linear(f"{v}head.mlp.fc1", "encoder.head.mlp.fc1")
        rows += _linear(f"{v}head.mlp.fc2", "encoder.head.mlp.fc2")
    if cfg.n_games:
        rows += [("game_embedding.weight", "game_embedding.weight", "copy")]

    def attn(a: str, b: str) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        for x, y in (("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "out")):
            out += _linear(f"{a}attn1.{x}", f"{b}attn.{y}")
        return (
            out
            + _linear(f"{a}ff.net.0.proj", f"{b}mlp.fc1")
            + _linear(f"{a}ff.net.2", f"{b}mlp.fc2")
        )

    for i in range(cfg.mixer_depth):
        a, b = f"vl_self_attention_model.transformer_blocks.{i}.", f"mixer.blocks.{i}."
        rows += _linear(f"{a}norm1", f"{b}norm1") + _linear(f"{a}norm3", f"{b}norm2")
        rows += [*attn(a, b), (f"{a}pos_embed.pe", "mixer.pos_table", "shared")]
    rows += _linear("model.timestep_encoder.timestep_embedder.linear_1", "dit.time.fc1")
    rows += _linear("model.timestep_encoder.timestep_embedder.linear_2", "dit.time.fc2")
    for i in range(cfg.dit_depth):
        a, b = f"model.transformer_blocks.{i}.", f"dit.blocks.{i}."
        rows += _linear(f"{a}norm1.linear", f"{b}ada") + attn(a, b)
        rows += [(f"{a}pos_embed.pe", "dit.pos_table", "shared")]
        if cfg.dit_norm_affine:
            rows += _linear(f"{a}norm3", f"{b}norm2")
    rows += _linear("model.proj_out_1", "dit.ada_out") + _linear("model.proj_out_2", "dit.proj_out")
    rows += _category("action_encoder.W1", "action_in.fc1")
    rows += _category("action_encoder.W2", "action_in.fc2")
    rows += _category("action_encoder.W3", "action_in.fc3")
    rows += _category("action_decoder.layer1", "action_out.fc1")
    rows += _category("action_decoder.layer2", "action_out.fc2")
    rows += [("position_embedding.weight", "action_pos.weight", "copy")]
    return rows


# -- config from the checkpoint -------------------------------------------------------------
def ng_config(state: Mapping[str, Tensor], ng: Mapping[str, Any]) -> PolicyConfig:
    """Our config for a released state dict: shapes for sizes, ckpt_config for the rest."""
    model_cfg = dict(ng.get("model_cfg") or {})
    dit_cfg = dict(model_cfg.get("diffusion_model_cfg") or {})
    mix_cfg = dict(model_cfg.get("vl_self_attention_cfg") or {})
    tok_cfg = dict(ng.get("tokenizer_cfg") or {})
    mod_cfg = dict(ng.get("modality_cfg") or {})

    def need(key: str) -> Tensor:
        if key not in state:
            raise ImportCheckpointError(f"not a NitroGen checkpoint: no {key}")
        return state[key]

    patch = need("vision_encoder.embeddings.patch_embedding.weight")
    if patch.ndim != 4:
        raise ImportCheckpointError(
            f"vision patch embedding is {tuple(patch.shape)}; only SigLIP's convolution "
            "layout (width, 3, p, p) is supported"
        )
    vit_width, patch_size = int(patch.shape[0]), int(patch.shape[2])
    n_patches = int(need("vision_encoder.embeddings.position_embedding.weight").shape[0])
    grid = math.isqrt(n_patches)
    fc1 = need("vision_encoder.encoder.layers.0.mlp.fc1.weight")
    dit_width = int(need("model.timestep_encoder.timestep_embedder.linear_2.weight").shape[0])
    mixer_width = vit_width
    dit_heads = int(dit_cfg.get("num_attention_heads", 8))
    mixer_heads = int(mix_cfg.get("num_attention_heads", 8))
    for name, width, heads, hd in (
        ("DiT", dit_width, dit_heads, dit_cfg.get("attention_head_dim", 64)),
        ("mixer", mixer_width, mixer_heads, mix_cfg.get("attention_head_dim", 64)),
    ):
        if heads * int(hd) != width:
            raise ImportCheckpointError(
                f"{name} config says {heads} heads x {hd} but the weights are {width} wide"
            )
    action_dim = int(need("action_decoder.layer2.W").shape[2])
    if action_dim != 25:
        raise ImportCheckpointError(f"action vector has {action_dim} numbers, expected 25")
    for key in ("action_encoder.W1.W", "action_decoder.layer1.W"):
        if need(key).shape[0] != 1:
            raise ImportCheckpointError(
                f"{key} holds {need(key).shape[0]} embodiments; only 1 is supported"
            )
    pe = [k for k in state if k.endswith("pos_embed.pe")]
    lengths = {int(state[k].shape[1]) for k in pe}
    if len(lengths) > 1:
        raise ImportCheckpointError(
            "the mixer and the DiT have position tables of different lengths"
        )
    dit_depth = _depth(state, "model.transformer_blocks.")
    mixer_depth = _depth(state, "vl_self_attention_model.transformer_blocks.")
    if len(pe) != dit_depth + mixer_depth:
        raise ImportCheckpointError("some blocks lack a sinusoidal position table (unsupported)")
    chunk = int(model_cfg.get("action_horizon") or tok_cfg.get("action_horizon") or 16)
    cfg = preset(
        "nitrogen-500m",
        image_size=grid * patch_size,
        patch_size=patch_size,
        vit_width=vit_width,
        vit_depth=_depth(state, "vision_encoder.encoder.layers."),
        vit_heads=max(1, vit_width // SIGLIP_HEAD_DIM),
        vit_mlp_ratio=int(fc1.shape[0]) / vit_width,
        vit_head="vision_encoder.head.probe" in state,
        mixer_depth=mixer_depth,
        mixer_heads=mixer_heads,
        context_pad=int(tok_cfg.get("max_sequence_length", 300)),
        n_games=int(state["game_embedding.weight"].shape[0])
        if "game_embedding.weight" in state
        else 0,
        dit_width=dit_width,
        dit_depth=dit_depth,
        dit_heads=dit_heads,
        interleave=bool(dit_cfg.get("interleave_self_attention", False)),
        dit_norm_affine="model.transformer_blocks.0.norm3.weight" in state,
        max_positions=lengths.pop() if lengths else 512,
        max_actions=int(need("position_embedding.weight").shape[0]),
        time_freq_dim=int(
            need("model.timestep_encoder.timestep_embedder.linear_1.weight").shape[1]
        ),
        dropout=0.0,
        chunk=chunk,
        action_layout="ng25-old" if tok_cfg.get("old_layout") else "ng25",
        action_shift=int(mod_cfg.get("action_shift", 1)),
        beta_alpha=float(model_cfg.get("noise_beta_alpha", 1.5)),
        beta_beta=float(model_cfg.get("noise_beta_beta", 1.0)),
        noise_s=float(model_cfg.get("noise_s", 0.999)),
        timestep_buckets=int(model_cfg.get("num_timestep_buckets", 1000)),
    )
    # Which DiT blocks attend to the image shows in to_k's input width when widths differ.
    for i in range(dit_depth):
        k_in = int(need(f"model.transformer_blocks.{i}.attn1.to_k.weight").shape[1])
        cross = not (cfg.interleave and i % 2 == 1)
        if k_in != (mixer_width if cross else dit_width):
            raise ImportCheckpointError(
                f"DiT block {i} keys are {k_in} wide, which contradicts "
                f"interleave_self_attention={cfg.interleave}"
            )
    return cfg


# -- conversion both ways -------------------------------------------------------------------
def to_ours(state: Mapping[str, Tensor], cfg: PolicyConfig) -> tuple[dict[str, Tensor], dict]:
    """(our float32 weights, what export needs to give back the exact originals)."""
    rows = key_map(cfg)
    want = {r[0] for r in rows}
    extra_ok = {k for k in state if k == "vision_encoder.embeddings.position_ids"}
    missing = sorted(want - set(state))
    unused = sorted(set(state) - want - extra_ok)
    if missing or unused:
        parts = [_some(label, keys) for label, keys in (("missing", missing), ("unused", unused))]
        raise ImportCheckpointError("keys do not map: " + "; ".join(p for p in parts if p))
    ours: dict[str, Tensor] = {}
    for ng_key, our_key, how in rows:
        t = state[ng_key]
        if how == "cat_w":
            value = t[0].t()
        elif how == "cat_b":
            value = t[0]
        elif how == "unsqueeze":
            value = t[None]
        else:
            value = t
        value = value.detach().to(torch.float32).contiguous()
        if how == "shared" and our_key in ours:
            if not torch.equal(ours[our_key], value):
                raise ImportCheckpointError(f"{ng_key} differs from the other blocks' tables")
            continue
        ours[our_key] = value
    dtypes = {k: str(v.dtype).removeprefix("torch.") for k, v in state.items()}
    common = max(set(dtypes.values()), key=list(dtypes.values()).count)
    back = {
        "dtype": common,
        "dtypes": {k: d for k, d in dtypes.items() if d != common},
        "position_ids": "vision_encoder.embeddings.position_ids" in state,
    }
    return ours, back


def to_ng(weights: Mapping[str, Tensor], cfg: PolicyConfig) -> dict[str, Tensor]:
    """Our weights -> the released key layout (dtypes as they were, for an import)."""
    back = dict(cfg.extra.get("ng_export") or {})
    common = getattr(torch, back.get("dtype", "float32"))
    special = {k: getattr(torch, d) for k, d in (back.get("dtypes") or {}).items()}
    out: dict[str, Tensor] = {}
    for ng_key, our_key, how in key_map(cfg):
        t = weights[our_key]
        if how == "cat_w":
            t = t.t()[None]
        elif how == "cat_b":
            t = t[None]
        elif how == "unsqueeze":
            t = t[0]
        elif how == "shared":
            t = t.clone()
        out[ng_key] = t.to(special.get(ng_key, common)).contiguous()
    if back.get("position_ids"):
        key = "vision_encoder.embeddings.position_ids"
        out[key] = torch.arange(cfg.n_patches, dtype=special.get(key, torch.int64))[None]
    return out


def import_checkpoint(src: str | Path, dest: str | Path, trust_pickle: bool = False) -> Path:
    """Convert `ng.pt` into a checkpoint directory at `dest`; return it."""
    state, ng = read_ng(src, trust_pickle)
    cfg = ng_config(state, ng)
    if "vision_encoder.embeddings.position_ids" in state:
        ids = state["vision_encoder.embeddings.position_ids"]
        if not torch.equal(ids.flatten().long(), torch.arange(cfg.n_patches)):
            raise ImportCheckpointError("vision position_ids are not 0..N-1 (unsupported)")
    weights, back = to_ours(state, cfg)
    cfg.extra = {
        "imported_from": str(Path(src).resolve()),
        "ng_experiment": ng.get("experiment_name"),
        "ng_vision_encoder": (ng.get("model_cfg") or {}).get("vision_encoder_name"),
        "ng_config": ng,
        "ng_export": back,
    }
    model = NitroGenPolicy(cfg)
    ckpt.load_into(model, weights, src)  # proves the weights fit before anything is written
    return ckpt.save(dest, cfg, model.state_dict(), step=None)


def export_checkpoint(path: str | Path) -> dict[str, Any]:
    """{"model": state dict, "ckpt_config": ...} in the released layout, from our checkpoint."""
    p = ckpt.resolve(path)
    cfg = ckpt.read_config(p)
    if cfg.action_layout == "flat21":
        raise ImportCheckpointError(f"{p}: a flat21 policy has no released-layout equivalent")
    weights = ckpt.read_weights(p, ema=False)
    return {"model": to_ng(weights, cfg), "ckpt_config": cfg.extra.get("ng_config") or {}}


def _some(label: str, keys: list[str]) -> str:
    if not keys:
        return ""
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return f"{label} {', '.join(keys[:3])}{more}"


def _brief(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text[:160] if text else type(exc).__name__
