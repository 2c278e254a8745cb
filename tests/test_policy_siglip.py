"""The SigLIP / SigLIP-2 encoder path: a tiny tower saved to a local folder, loaded offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nitrogen_cli.policy import checkpoint as ckpt
from nitrogen_cli.policy.infer import Policy
from nitrogen_cli.policy.toy import write_toy
from nitrogen_cli.policy.train import TrainConfig, TrainError, train

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.slow
def test_tiny_siglip2_trains_offline(offline: None, tmp_path: Path) -> None:
    torch.manual_seed(0)
    conf = transformers.Siglip2VisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_patches=16,
        patch_size=8,
    )
    transformers.Siglip2VisionModel(conf).save_pretrained(tmp_path / "siglip2")
    toy = write_toy(tmp_path / "toy.dataset.h5", n_frames=32, segment_len=16, scenes=2)
    cfg = TrainConfig(
        [str(toy)],
        str(tmp_path / "run"),
        preset="tiny",
        encoder_path=str(tmp_path / "siglip2"),
        freeze_encoder=True,
        max_steps=120,
        batch_size=8,
        lr=2e-3,
        warmup=5,
        augment=False,
        log_every=20,
        save_every=120,
    )
    final = train(cfg)
    policy = Policy.load(final)
    assert policy.config.encoder == "siglip"
    assert policy.config.encoder_config["model_type"] == "siglip2_vision_model"
    pixels = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert policy.model.encoder(pixels).shape == (3, 16, 32)  # (32 / 8)² tokens, width 32
        assert policy.model.context(pixels).shape == (3, 16, 32)
    # The frozen tower still holds the weights saved in the folder.
    saved = transformers.Siglip2VisionModel.from_pretrained(
        tmp_path / "siglip2", local_files_only=True
    )
    trained = ckpt.read_weights(final, ema=False)
    for k, v in saved.state_dict().items():
        assert torch.equal(trained[f"encoder.model.{k}"], v), k
    losses = [
        json.loads(x)["loss"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert losses[-1] < losses[0] * 0.7, losses
    frames = np.random.default_rng(0).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    assert len(policy.predict(frames, euler_steps=2, seed=0)[0]) == 16


def test_siglip_v1_tower_gives_tokens(offline: None, tmp_path: Path) -> None:
    conf = transformers.SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    transformers.SiglipVisionModel(conf).save_pretrained(tmp_path / "siglip")
    from nitrogen_cli.policy.model import NitroGenPolicy
    from nitrogen_cli.policy.train import model_config

    cfg, weights, _ = model_config(
        TrainConfig([], "", preset="tiny", encoder_path=str(tmp_path / "siglip"))
    )
    model = NitroGenPolicy(cfg)
    model.load_state_dict(weights, strict=False)
    with torch.no_grad():
        assert model.context(torch.zeros(2, 3, 32, 32)).shape == (2, 16, 32)


def test_a_hub_name_is_refused(offline: None) -> None:
    with pytest.raises(ValueError, match="not a local folder"):
        from nitrogen_cli.policy.train import model_config

        model_config(
            TrainConfig([], "", preset="tiny", encoder_path="google/siglip2-base-patch16-256")
        )
    assert TrainError  # the CLI reports it as one line (see test_train)
