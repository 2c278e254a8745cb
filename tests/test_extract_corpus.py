"""Extraction on real corpus videos and real input-overlay presets, scored like eval does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nitrogen_cli import eval_extraction as ee
from nitrogen_cli import formats, overlays
from nitrogen_cli.actions import Actions, State
from nitrogen_cli.parser import extract as ex
from nitrogen_cli.parser.oracle import overlay_from_truth
from nitrogen_cli.parser.synth import random_states
from tests.test_extract import make_case


def passes(fig: dict) -> bool:
    """The bar a short video must clear: buttons 98% right, F1 0.9 for every button
    pressed in at least 5 frames, R² 0.9 on every stick axis that moves."""
    f1 = [v["f1"] for v in fig["f1"].values() if v["pressed"] >= 5]
    r2 = [v for v in fig["stick_r2"].values() if np.isfinite(v)]
    return (
        fig["button_accuracy"] >= 0.98
        and min(f1, default=1.0) >= 0.9
        and min(r2, default=1.0) >= 0.9
    )


def corpus_video(tmp: Path) -> tuple[Path, Path]:
    """A short Doom corpus video whose overlay shows both sticks and never moves."""
    from nitrogen_cli import corpus

    for seed in range(60):
        for spec in corpus.plan_corpus(
            ["DoomBasic"], 0.15, seed=seed, canvas=(1280, 720), fps=30, video_seconds=(8, 8)
        ):
            if spec.template is None or len(spec.placements) != 1 or spec.opacity < 0.6:
                continue
            shows = overlays.get_template(spec.template).shows
            if "j_left" in shows and "j_right" in shows:
                return corpus.make_video(spec, tmp, command="test")
    raise AssertionError("no corpus plan with a stick-showing overlay")


@pytest.mark.slow
def test_a_corpus_video_reads_right_and_a_blind_guess_does_not(tmp_path: Path) -> None:
    mp4, truth = corpus_video(tmp_path)
    ov = overlay_from_truth(truth, tmp_path / f"{mp4.stem}.overlay.h5")
    dst = tmp_path / f"{mp4.stem}.actions.h5"
    ex.extract(ov, dst)
    pair = ee.load_pair(dst, truth)
    assert pair.scored.sum() > 0.5 * len(pair.scored)
    assert pair.true.buttons[pair.scored].any(), "the player presses something"
    fig = ee.figures([pair])
    assert passes(fig), fig
    # all released and centred: the same bar must stop it
    pair.pred = Actions.zeros(len(pair.true))
    assert not passes(ee.figures([pair]))


@pytest.mark.slow
def test_a_real_preset_round_trips(tmp_path: Path, shared_presets: Path) -> None:
    """A held-out input-overlay preset, drawn in known states, reads back."""
    t = next(t for t in overlays.load_folder(shared_presets / "ds3") if t.id == "ds3/ds3_black")
    states = [State()] * 15 + random_states(np.random.default_rng(7), t.shows, 75)
    _, ov, truth = make_case(tmp_path, t, states, width=260, opacity=0.9, size=(560, 360))
    dst = tmp_path / "ds3.actions.h5"
    ex.extract(ov, dst)
    got, _ = formats.read_actions_file(dst)
    acc = (got.buttons == truth.buttons).mean()
    assert acc >= 0.98
    for name in ("j_left", "j_right"):
        p, y = getattr(got, name), getattr(truth, name)
        r2 = 1 - ((p - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum()
        assert r2 >= 0.9, (name, r2)
