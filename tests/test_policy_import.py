"""`nitrogen import-checkpoint`: a tiny checkpoint with the released key structure.

The builder below writes the key names and shapes of the public NitroGen model (a SigLIP
vision tower, a mixer and a DiT of diffusers-style blocks, per-embodiment linears) at a
tiny size. The vision tower is a real transformers SiglipVisionModel, so the converted
encoder can be checked number for number against it.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nitrogen_cli.cli import app
from nitrogen_cli.policy import checkpoint as ckpt
from nitrogen_cli.policy.import_ng import (
    ImportCheckpointError,
    export_checkpoint,
    import_checkpoint,
)
from nitrogen_cli.policy.infer import Policy

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

VISION, DIT, HEADS = 64, 48, 2  # SigLIP uses 64-channel heads: a 64-wide tower has one
MIXER_LAYERS, DIT_LAYERS, PE_LEN, MAX_SEQ, GAMES = 2, 4, 64, 32, 3


def siglip() -> torch.nn.Module:
    torch.manual_seed(0)
    conf = transformers.SiglipVisionConfig(
        hidden_size=VISION,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=1,
        image_size=32,
        patch_size=8,
    )
    return transformers.SiglipVisionModel(conf).eval()


def sinusoid(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-np.log(10000.0) / dim))
    pe = torch.zeros(1, length, dim)
    pe[0, :, 0::2], pe[0, :, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


def tiny_ng_state(vision: torch.nn.Module) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.1

    sd = {f"vision_encoder.{k}": v.detach().clone() for k, v in vision.state_dict().items()}

    def lin(prefix: str, out: int, inp: int) -> None:
        sd[f"{prefix}.weight"], sd[f"{prefix}.bias"] = r(out, inp), r(out)

    def block(prefix: str, dim: int, kv: int) -> None:
        lin(f"{prefix}.attn1.to_q", dim, dim)
        lin(f"{prefix}.attn1.to_k", dim, kv)
        lin(f"{prefix}.attn1.to_v", dim, kv)
        lin(f"{prefix}.attn1.to_out.0", dim, dim)
        lin(f"{prefix}.ff.net.0.proj", 4 * dim, dim)
        lin(f"{prefix}.ff.net.2", dim, 4 * dim)
        sd[f"{prefix}.pos_embed.pe"] = sinusoid(PE_LEN, dim)

    for i in range(MIXER_LAYERS):
        p = f"vl_self_attention_model.transformer_blocks.{i}"
        sd[f"{p}.norm1.weight"], sd[f"{p}.norm1.bias"] = 1 + r(VISION), r(VISION)
        sd[f"{p}.norm3.weight"], sd[f"{p}.norm3.bias"] = 1 + r(VISION), r(VISION)
        block(p, VISION, VISION)
    lin("model.timestep_encoder.timestep_embedder.linear_1", DIT, 256)
    lin("model.timestep_encoder.timestep_embedder.linear_2", DIT, DIT)
    for i in range(DIT_LAYERS):
        p = f"model.transformer_blocks.{i}"
        lin(f"{p}.norm1.linear", 2 * DIT, DIT)
        block(p, DIT, DIT if i % 2 == 1 else VISION)  # interleaved: odd blocks self-attend
    lin("model.proj_out_1", 2 * DIT, DIT)
    lin("model.proj_out_2", DIT, DIT)
    for name, inp, out in (("W1", 25, DIT), ("W2", 2 * DIT, DIT), ("W3", DIT, DIT)):
        sd[f"action_encoder.{name}.W"], sd[f"action_encoder.{name}.b"] = r(1, inp, out), r(1, out)
    for name, inp, out in (("layer1", DIT, DIT), ("layer2", DIT, 25)):
        sd[f"action_decoder.{name}.W"], sd[f"action_decoder.{name}.b"] = r(1, inp, out), r(1, out)
    sd["position_embedding.weight"] = r(MAX_SEQ, DIT).to(torch.bfloat16)  # a second dtype
    game = r(GAMES, VISION)
    game[0] = 0  # padding_idx 0: the unconditional game
    sd["game_embedding.weight"] = game
    return sd


def ng_config() -> dict:
    return {
        "experiment_name": "tiny",
        "model_cfg": {
            "hidden_size": DIT,
            "action_dim": 25,
            "action_horizon": 18,
            "noise_beta_alpha": 1.6,
            "noise_beta_beta": 0.8,
            "noise_s": 0.999,
            "num_timestep_buckets": 1000,
            "vision_encoder_name": "google/siglip2-large-patch16-256",
            "vision_hidden_size": VISION,
            "diffusion_model_cfg": {
                "num_attention_heads": HEADS,
                "attention_head_dim": DIT // HEADS,
                "num_layers": DIT_LAYERS,
                "interleave_self_attention": True,
                "cross_attention_dim": VISION,
            },
            "vl_self_attention_cfg": {
                "num_attention_heads": HEADS,
                "attention_head_dim": VISION // HEADS,
                "num_layers": MIXER_LAYERS,
            },
        },
        "tokenizer_cfg": {"max_sequence_length": 20, "action_horizon": 18, "old_layout": True},
        "modality_cfg": {"action_per_chunk": 18, "action_shift": 3},
    }


@pytest.fixture(scope="module")
def tiny_ng(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, torch.nn.Module]:
    vision = siglip()
    state = tiny_ng_state(vision)
    path = tmp_path_factory.mktemp("ng") / "ng.pt"
    torch.save({"model": state, "ckpt_config": ng_config()}, path)
    return path, state, vision


def test_import_and_export_round_trip(tiny_ng, tmp_path: Path) -> None:
    path, state, _ = tiny_ng
    result = CliRunner().invoke(app, ["import-checkpoint", str(path), "-o", str(tmp_path / "ck")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / "ck")
    cfg = ckpt.read_config(tmp_path / "ck")
    assert (cfg.chunk, cfg.action_layout, cfg.action_shift) == (18, "ng25-old", 3)
    assert (cfg.vit_width, cfg.vit_depth, cfg.mixer_depth, cfg.dit_width, cfg.dit_depth) == (
        VISION,
        2,
        MIXER_LAYERS,
        DIT,
        DIT_LAYERS,
    )
    assert (cfg.context_pad, cfg.n_games, cfg.interleave, cfg.vit_head) == (20, GAMES, True, True)
    assert (cfg.beta_alpha, cfg.beta_beta, cfg.max_actions) == (1.6, 0.8, MAX_SEQ)
    back = export_checkpoint(tmp_path / "ck")
    assert back["ckpt_config"] == ng_config()
    assert set(back["model"]) == set(state)
    for key, value in state.items():
        got = back["model"][key]
        assert got.dtype == value.dtype and torch.equal(got, value), key


def test_imported_encoder_matches_siglip_and_policy_samples(tiny_ng, tmp_path: Path) -> None:
    path, _, vision = tiny_ng
    import_checkpoint(path, tmp_path / "ck")
    policy = Policy.load(tmp_path / "ck")
    pixels = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ours = policy.model.encoder(pixels)
        theirs = vision(pixel_values=pixels).last_hidden_state
    assert ours.shape == (2, 16, VISION)
    assert (ours - theirs).abs().max().item() < 1e-5
    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    fast = policy.predict_flat(frames, euler_steps=4, seed=0)
    slow = policy.predict_flat(frames, euler_steps=4, seed=0, naive=True)
    assert fast.shape == (2, 18, 21) and np.abs(fast - slow).max() < 1e-4
    chunks = policy.predict(frames, euler_steps=4, seed=0)
    assert len(chunks) == 2 and len(chunks[0]) == 18


def test_missing_and_unused_keys_are_refused(tiny_ng, tmp_path: Path) -> None:
    _, state, _ = tiny_ng
    lacking = dict(state)
    del lacking["model.transformer_blocks.1.ff.net.2.bias"]
    torch.save({"model": lacking, "ckpt_config": ng_config()}, tmp_path / "a.pt")
    with pytest.raises(ImportCheckpointError, match=r"missing model\.transformer_blocks\.1\.ff"):
        import_checkpoint(tmp_path / "a.pt", tmp_path / "a")
    extra = dict(state)
    extra["model.something_new.weight"] = torch.zeros(2)
    torch.save({"model": extra, "ckpt_config": ng_config()}, tmp_path / "b.pt")
    result = CliRunner().invoke(
        app, ["import-checkpoint", str(tmp_path / "b.pt"), "-o", str(tmp_path / "b")]
    )
    assert result.exit_code == 1
    assert (
        result.stderr.strip().count("\n") == 0
        and "unused model.something_new.weight" in result.stderr
    )
    assert not (tmp_path / "b").exists()


def test_corrupt_file_gets_one_line(tiny_ng, tmp_path: Path) -> None:
    path, _, _ = tiny_ng
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:5000])
    result = CliRunner().invoke(app, ["import-checkpoint", str(bad), "-o", str(tmp_path / "c")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("Error: ")
        and "not a readable torch checkpoint" in lines[0]
    )


def _module_class(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> type:
    """A class that pickles under `module.name`, as the released config objects do."""
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        mod_name = ".".join(parts[:i])
        if mod_name not in sys.modules:
            monkeypatch.setitem(sys.modules, mod_name, types.ModuleType(mod_name))
    cls = type(name, (), {})
    cls.__module__, cls.__qualname__ = module, name
    monkeypatch.setattr(sys.modules[module], name, cls, raising=False)
    return cls


def test_pickled_configs(tiny_ng, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, state, _ = tiny_ng
    # NitroGen's own config class loads safely (weights_only) as an inert record.
    ckpt_config = _module_class(monkeypatch, "nitrogen.cfg", "CkptConfig")()
    ckpt_config.__dict__.update(ng_config())
    torch.save({"model": state, "ckpt_config": ckpt_config}, tmp_path / "own.pt")
    import_checkpoint(tmp_path / "own.pt", tmp_path / "own")
    assert ckpt.read_config(tmp_path / "own").chunk == 18
    # Anything else must be trusted explicitly.
    other = _module_class(monkeypatch, "somewhere.else", "Thing")()
    torch.save({"model": state, "ckpt_config": ng_config(), "extra": other}, tmp_path / "x.pt")
    with pytest.raises(ImportCheckpointError, match=r"somewhere\.else\.Thing.*--trust-pickle"):
        import_checkpoint(tmp_path / "x.pt", tmp_path / "x")
    import_checkpoint(tmp_path / "x.pt", tmp_path / "x", trust_pickle=True)
    assert ckpt.read_config(tmp_path / "x").action_layout == "ng25-old"


def test_fine_tune_an_imported_checkpoint(tiny_ng, tmp_path: Path) -> None:
    """Contract actions become the released 25-number layout for the loss."""
    from nitrogen_cli.policy.toy import write_toy

    path, _, _ = tiny_ng
    start = import_checkpoint(path, tmp_path / "ck")
    toy = write_toy(tmp_path / "toy.dataset.h5", n_frames=24, segment_len=24, size=32)
    args = [
        "train",
        str(toy),
        "-o",
        str(tmp_path / "run"),
        "--init",
        str(start),
        "--max-steps",
        "2",
    ]
    result = CliRunner().invoke(app, [*args, "-b", "4", "--lr", "1e-3", "-q"])
    assert result.exit_code == 0, result.stderr
    final = Path(result.stdout.strip())
    cfg = ckpt.read_config(final)
    assert (cfg.action_layout, cfg.chunk, cfg.action_shift, cfg.fps) == ("ng25-old", 18, 3, 30.0)
    before, after = ckpt.read_weights(start), ckpt.read_weights(final, ema=False)
    assert not torch.equal(before["dit.proj_out.weight"], after["dit.proj_out.weight"])
    assert (
        len(Policy.load(final).predict(np.zeros((1, 32, 32, 3), np.uint8), euler_steps=2)[0]) == 18
    )
