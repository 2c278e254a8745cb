"""The extraction scores: accuracy, F1 per button, R² per axis, seen and held-out skins."""

from __future__ import annotations

import numpy as np

from nitrogen_cli import eval_extraction as ee
from nitrogen_cli.actions import BUTTON_INDEX, ELEMENTS, Actions


def pair(pred: Actions, true: Actions, skin: str = "builtin/xbox-white", held=None) -> ee.Pair:
    n = len(true)
    return ee.Pair("v", skin, pred, true, np.ones(n, bool), np.ones(len(ELEMENTS), bool), n, held)


def test_scores_count_what_they_should() -> None:
    rng = np.random.default_rng(0)
    true = Actions.zeros(200)
    south, west = BUTTON_INDEX["south"], BUTTON_INDEX["west"]
    true.buttons[:50, south] = True
    true.buttons[:4, west] = True  # rare: 4 pressed frames
    true.j_left[:, 0] = rng.uniform(-1, 1, 200)
    pred = Actions(true.buttons.copy(), true.j_left + rng.normal(0, 0.05, (200, 2)), true.j_right)
    pred.buttons[:10, south] = False  # 10 misses
    fig = ee.figures([pair(pred, true)])
    assert fig["frames"] == 200
    assert np.isclose(fig["button_accuracy"], 1 - 10 / (200 * 17))
    assert np.isclose(fig["f1"]["south"]["f1"], 2 * 40 / (2 * 40 + 10))
    assert fig["f1"]["west"]["pressed"] == 4 and fig["min_f1"] == fig["f1"]["south"]["f1"]
    assert 0.98 < fig["stick_r2"]["lx"] < 1
    # the truth never moves these axes: R² would only measure noise
    assert np.isnan(fig["stick_r2"]["ly"]) and np.isnan(fig["stick_r2"]["rx"])


def test_seen_and_held_out_skins_are_reported_apart() -> None:
    true = Actions.zeros(50)
    true.buttons[:25, 0] = True
    wrong = Actions.zeros(50)
    report = ee.evaluate(
        [pair(true, true, "builtin/xbox-white", False), pair(wrong, true, "ds3/ds3", True)]
    )
    assert report["seen"]["button_accuracy"] == 1.0
    assert report["held_out"]["button_accuracy"] < 1.0
    assert report["held_out_skins"] == ["ds3/ds3"]
    cols, rows = ee.skin_rows(report)
    names = [r[0] for r in rows]
    assert names == ["builtin/xbox-white", "ds3/ds3", "seen", "held_out", "all"]
    assert rows[1][cols.index("held_out")] is True
    assert ee.skin_group("builtin/xbox-white") == "builtin/xbox"
    assert ee.skin_group("ds3/ds3_black") == "ds3"


def test_a_skin_the_parser_never_trained_on_is_held_out_whether_or_not_it_was_named() -> None:
    """A preset folder the parser was never given (upstream's gamecube, judged here as a
    held-out preset) is as new to it as one its training held out; it was reported with
    the seen skins, since the actions file named only the groups held out."""
    meta = {"held_out": ["ds3"], "trained": ["builtin/xbox", "nes"]}
    new = {
        s: ee.new_to_parser(meta, s) for s in ("builtin/xbox-white", "ds3/ds3", "gamecube/gamecube")
    }
    assert new == {"builtin/xbox-white": False, "ds3/ds3": True, "gamecube/gamecube": True}
    # an older actions file names only what was held out
    assert ee.new_to_parser({"held_out": ["ds3"]}, "gamecube/gamecube") is False
    assert ee.new_to_parser(None, "ds3/ds3") is None
