"""The policy network and its flow-matching helpers, at the tiny preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nitrogen_cli.actions import Actions
from nitrogen_cli.policy import augment as aug
from nitrogen_cli.policy import checkpoint as ckpt
from nitrogen_cli.policy.infer import Policy
from nitrogen_cli.policy.model import (
    NitroGenPolicy,
    euler,
    interpolate,
    masked_mse,
    preset,
    step_buckets,
)
from nitrogen_cli.policy.toy import toy_actions
from nitrogen_cli.policy.train import WarmupStableDecay, sample_randomness

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_euler_is_exact_for_a_constant_velocity() -> None:
    x0 = torch.randn(3, 16, 21, dtype=torch.float64)
    v = torch.randn(3, 16, 21, dtype=torch.float64)
    seen: list[int] = []

    def field(x: torch.Tensor, i: int) -> torch.Tensor:
        seen.append(i)
        return v

    for steps in (1, 7, 16):
        seen.clear()
        out = euler(field, x0, steps)
        assert torch.allclose(out, x0 + v, atol=1e-12, rtol=0)
        assert seen == list(range(steps))
    with pytest.raises(ValueError):
        euler(lambda x, i: v, x0, 0)


def test_time_convention() -> None:
    noise, action = torch.randn(2, 4, 21), torch.randn(2, 4, 21)
    x0, target = interpolate(noise, action, torch.zeros(2))
    x1, _ = interpolate(noise, action, torch.ones(2))
    assert torch.equal(x0, noise) and torch.equal(x1, action)
    assert torch.equal(target, action - noise)
    # Step i of k sees t = i / k, as an integer bucket out of 1000.
    assert step_buckets(16, 1000).tolist()[:3] == [0, 62, 125]
    assert step_buckets(3, 1000).tolist() == [0, 333, 666]


def test_masked_mse_ignores_padding_and_averages_per_sample() -> None:
    pred, target = torch.zeros(2, 4, 1), torch.ones(2, 4, 1)
    pred[0, 2:] = 100.0  # padded positions: must not count
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    assert masked_mse(pred, target, mask).item() == pytest.approx(1.0)
    # The loss of a batch is the mean of its halves' losses (what DDP relies on).
    whole = masked_mse(pred, target * 3, mask)
    halves = (
        masked_mse(pred[:1], target[:1] * 3, mask[:1])
        + masked_mse(pred[1:], target[1:] * 3, mask[1:])
    ) / 2
    assert whole.item() == pytest.approx(halves.item())


def test_presets() -> None:
    small = preset("small")
    assert (small.image_size, small.patch_size, small.vit_width, small.vit_depth) == (
        128,
        16,
        256,
        6,
    )
    assert (small.vit_heads, small.dit_width, small.dit_depth, small.dit_heads) == (4, 256, 4, 4)
    assert small.chunk == 16 and small.action_dim == 21 and small.n_patches == 64
    big = preset("nitrogen-500m", chunk=18)
    assert (big.image_size, big.chunk) == (256, 18)
    with torch.device("meta"):
        n = NitroGenPolicy(big).n_params()
    assert 450e6 < n < 520e6
    with pytest.raises(ValueError, match="chunk"):
        preset("tiny", chunk=100)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_cached_sampling_matches_the_naive_path() -> None:
    torch.manual_seed(0)
    cfg = preset("tiny")
    model = NitroGenPolicy(cfg).eval()
    pixels = torch.randn(3, 3, cfg.image_size, cfg.image_size)
    noise = torch.randn(3, cfg.chunk, cfg.action_dim)
    for steps in (1, 5, 16):
        fast = model.sample(pixels, noise, steps)
        slow = model.sample_naive(pixels, noise, steps)
        assert fast.shape == (3, cfg.chunk, 21)
        assert (fast - slow).abs().max().item() < 1e-5


def test_augment_is_identity_at_rest_and_stays_in_range() -> None:
    images = torch.rand(2, 3, 32, 32)
    same = aug.apply(images, torch.from_numpy(aug.identity(2)))
    assert torch.allclose(same, images, atol=1e-5)
    rng = np.random.default_rng(0)
    params = torch.from_numpy(np.stack([aug.draw(rng, aug.AugmentSpec()) for _ in range(2)]))
    out = aug.apply(images, params)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, images, atol=1e-2)
    assert np.degrees(np.abs(params[:, 3].numpy())).max() <= 5.0


def test_save_and_load_round_trip_to_identical_actions(tmp_path) -> None:
    torch.manual_seed(3)
    cfg = preset("tiny")
    model = NitroGenPolicy(cfg)
    frames = np.random.default_rng(0).integers(0, 256, (2, 48, 40, 3), dtype=np.uint8)
    before = Policy(model).predict_flat(frames, euler_steps=4, seed=11)
    dest = ckpt.save(tmp_path / "ck", cfg, model.state_dict(), ema=model.state_dict(), step=0)
    loaded = Policy.load(dest)
    after = loaded.predict_flat(frames, euler_steps=4, seed=11)
    assert np.array_equal(before, after)
    chunks = loaded.predict(frames, euler_steps=4, seed=11)
    assert len(chunks) == 2 and all(isinstance(c, Actions) and len(c) == cfg.chunk for c in chunks)
    assert chunks[0].equals(Actions.from_flat(after[0]))
    # A different seed gives different noise, hence different raw actions.
    assert not np.array_equal(after, loaded.predict_flat(frames, euler_steps=4, seed=12))


@pytest.mark.slow
def test_overfits_eight_samples() -> None:
    """8 frames, each with its own random 16-action chunk: sampling recovers them.

    Buttons exactly and sticks within 0.1 means the velocity field is right to a few
    hundredths everywhere along the path: the flow loss falls about 180x. Each step
    sees every sample 8 times, each time with its own noise and flow time. Measured
    worst stick error over 2 data seeds x 4 noise seeds: 0.067; with 4 draws a step and
    800 steps it passed by luck (0.10-0.16 for 4 of 10 seed pairs).
    """
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = preset("tiny")
    frames = rng.integers(0, 256, (8, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
    target = toy_actions(8 * cfg.chunk, rng).to_flat().reshape(8, cfg.chunk, 21)
    model = NitroGenPolicy(cfg).train()
    pixels = NitroGenPolicy.normalize(torch.from_numpy(frames).permute(0, 3, 1, 2)).repeat(
        8, 1, 1, 1
    )
    actions = torch.from_numpy(target).repeat(8, 1, 1)
    mask = torch.ones(64, cfg.chunk, dtype=torch.bool)
    steps = 1200
    opt = torch.optim.AdamW(
        model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.0, fused=True
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupStableDecay(20, steps, steps // 2))
    losses = []
    for step in range(steps):
        noise, t, _ = sample_randomness(
            0, range(step * 64, step * 64 + 64), (cfg.chunk, 21), cfg, None
        )
        loss = model(pixels, actions, mask, noise, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert np.mean(losses[-50:]) < np.mean(losses[:20]) / 30
    got = Policy(model).predict_flat(frames, euler_steps=16, seed=0)
    wrong = int(((got[..., :17] > 0.5) != (target[..., :17] > 0.5)).sum())
    stick_err = float(np.abs(got[..., 17:] - target[..., 17:]).max())
    assert wrong == 0 and stick_err < 0.1, f"{wrong} wrong buttons, stick error {stick_err:.3f}"
