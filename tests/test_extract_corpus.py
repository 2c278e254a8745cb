"""Extraction on real corpus videos and real input-overlay presets, scored like eval does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nitrogen_cli import eval_extraction as ee
from nitrogen_cli import formats, overlays
from nitrogen_cli.actions import BUTTON_INDEX, Actions, State
from nitrogen_cli.parser import extract as ex
from nitrogen_cli.parser.oracle import overlay_from_truth
from nitrogen_cli.parser.pipeline import Calibration
from nitrogen_cli.parser.synth import random_states
from tests.test_extract import make_case, r2


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


def preset_case(
    tmp: Path,
    shared_presets: Path,
    name: str,
    transform: list[list[float]] | None = None,
    **spec: object,
) -> tuple[Path, Path]:
    """A `../shared` preset's corpus clip from an explicit spec (`preset_clip`): its truth
    file and an overlay file made from the truth's own placement, or at `transform`
    (where detection placed it)."""
    import h5py

    from tests.test_detect import preset_clip

    mp4 = preset_clip(tmp, shared_presets, name, **spec)
    truth = mp4.with_suffix("").with_suffix(".truth.h5")
    ov = overlay_from_truth(truth, tmp / f"{name}.overlay.h5")
    if transform is not None:
        with h5py.File(ov, "r+") as f:
            f["overlay"].attrs["transform"] = transform
    return truth, ov


def segments_of(rows: list[tuple[int, int, int, int, int]]) -> list[dict[str, int]]:
    """A spec's segments from (start, end, game, phase, placement) rows."""
    keys = ("start", "end", "game", "phase", "placement")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def extracted(ov: Path, truth: Path, log: Callable[[str], None] | None = None) -> ee.Pair:
    """Extract an overlay file beside it and pair the actions with their truth."""
    dst = ov.with_name(ov.name.replace(".overlay.h5", ".actions.h5"))
    ex.extract(ov, dst, log=log)
    return ee.load_pair(dst, truth)


def misplace(
    ov: Path,
    shift: tuple[float, float],
    stretch: tuple[float, float],
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Move an overlay file's placement by `shift` video px and scale it by `stretch`
    (x, y), as detection's small errors do; the true transform is returned. Given the
    template's `size`, the box and every sample's box move with it, as detection writes
    them."""
    import h5py

    with h5py.File(ov, "r+") as f:
        true_t = f["overlay"].attrs["transform"].copy()
        off = true_t.copy()
        off[:, 2] += shift
        off[0, 0] *= stretch[0]
        off[1, 1] *= stretch[1]
        f["overlay"].attrs["transform"] = off
        if size is not None:
            box = np.array([off[0, 2], off[1, 2], off[0, 0] * size[0], off[1, 1] * size[1]])
            f["overlay"].attrs["bbox"] = box
            f["overlay/sample_bbox"][...] = box.astype(np.float32)
    return true_t


def corners_off(got: np.ndarray, true_t: np.ndarray, size: tuple[int, int]) -> float:
    """How far (video px) a placement puts the template canvas' corners from the truth's."""
    w, h = size
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64).T
    return float(np.abs(got @ corners - true_t @ corners).max())


def first_calibration(ov: Path, dst: Path) -> Calibration:
    """Extract an overlay file to `dst`; its first calibration."""
    return ex.extract(ov, dst, ex.ExtractConfig(keep_readings=True)).readings[4]


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
    pair = extracted(ov, truth)
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


@pytest.mark.slow
def test_a_trigger_pull_is_read_from_its_first_part_filled_frame(
    tmp_path: Path, shared_presets: Path
) -> None:
    """N2 c33-0018's spec, shorter: f710's trigger pulls ramp in over a frame drawn a
    third filled, which read -0.65 at the median, between the released readings (-5.7)
    and the pulled ones, and stayed released (113 of 1037 pulled frames missed). A frame
    beside a pull that reads clearly above the frames far from any pull is pulled too."""
    import h5py

    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "ramp",
        k=18,
        seed=33,
        fps=60,
        frames=600,
        crf=24,
        background={"kind": "black", "colour": [28, 9, 12]},
        display={"align": "center", "aspect": "4:3", "filter": "nearest", "zoom": 1.0},
        human={"dpad_prob": 0.588, "idle_rate": 0.021, "mistake_rate": 0.1, "reaction_s": 0.137},
        games=["nitrogen/DoomBasic-v0"],
        template="f710/f710-1080-HICON",
        opacity=1.0,
        placements=[{"x": 147, "y": 451, "scale": 0.34455}],
    )
    pair = extracted(ov, truth)
    with h5py.File(truth) as f:
        value = f["actions/triggers"][:, 1]
    rt = BUTTON_INDEX["right_trigger"]
    got, want = pair.pred.buttons[:, rt], pair.true.buttons[:, rt]
    ramp = want & (value < 0.5) & pair.scored  # part-filled pulled frames
    assert int(ramp.sum()) >= 10
    assert got[ramp].mean() >= 0.7, (int(got[ramp].sum()), int(ramp.sum()))  # 15 of 51 before
    assert int((got & ~want & pair.scored).sum()) <= 5


@pytest.mark.slow
def test_a_card_over_the_hidden_overlay_is_not_calibrated_on(tmp_path: Path) -> None:
    """V1 c31-0000's spec, shorter: the overlay shows for 27 frames, then a card hides it
    for 136. The card still correlated 0.61 with the overlay at rest (0.96 where it
    showed), above the 0.6 of the best that a calibration's frames needed, so 33 of its
    60 frames were the card's: gain 0.47 at opacity 1.0, and the right trigger read
    pressed in 294 frames where it was not."""
    from tests.test_detect import corpus_clip

    mp4 = corpus_clip(
        tmp_path,
        id="card",
        k=0,
        seed=31,
        fps=30,
        frames=300,
        canvas=[1920, 1080],
        crf=26,
        display={"align": "left", "aspect": "4:3", "filter": "linear", "zoom": 1.0},
        background={"kind": "black", "colour": [37, 33, 27]},
        player="auto",
        human={"dpad_prob": 0.12, "idle_rate": 0.016, "mistake_rate": 0.146, "reaction_s": 0.271},
        games=["nitrogen/DoomBasic-v0"],
        segments=[
            {"start": 0, "end": 27, "game": 0, "phase": 0, "placement": 0},
            {"start": 27, "end": 163, "game": 0, "phase": 3, "placement": -1},
            {"start": 163, "end": 300, "game": 0, "phase": 0, "placement": 0},
        ],
        template="builtin/ps-red",
        opacity=1.0,
        placements=[{"x": 1568, "y": 75, "scale": 0.553469}],
        builtin=True,
        template_dirs=[],
    )
    truth = mp4.with_suffix("").with_suffix(".truth.h5")
    ov = overlay_from_truth(truth, tmp_path / "card.overlay.h5")
    dst = tmp_path / "card.actions.h5"
    result = ex.extract(ov, dst, ex.ExtractConfig(keep_readings=True))
    cal = result.readings[4]
    assert abs(float(np.mean(cal.gain)) - 1.0) < 0.1, cal.gain
    pair = ee.load_pair(dst, truth)
    wrong = (pair.pred.buttons != pair.true.buttons) & pair.scored[:, None]
    assert int(wrong.sum()) <= 10, int(wrong.sum())


@pytest.mark.slow
def test_a_new_game_behind_a_see_through_skin_is_calibrated_anew(tmp_path: Path) -> None:
    """The background under a see-through skin is estimated once, from the first frames;
    a corpus video that switches games halfway read the second game's pixels through
    the skin as presses (corpus c24-0041: 667 false east presses). Where the overlay
    stands out much less than it did, the frames are calibrated on anew."""
    from tests.test_detect import corpus_clip

    mp4 = corpus_clip(
        tmp_path,
        id="switch",
        k=1,
        seed=24,
        fps=30,
        frames=240,
        canvas=[1280, 720],
        crf=23,
        display={"align": "center", "aspect": "4:3", "filter": "linear", "zoom": 1.0},
        background={"kind": "blur", "colour": [45, 25, 1]},
        player="auto",
        human={"dpad_prob": 0.4, "idle_rate": 0.0, "mistake_rate": 0.1, "reaction_s": 0.1},
        games=["nitrogen/DoomDefendTheCenter-v0", "nitrogen/Tennis-v0"],
        segments=[
            {"start": 0, "end": 120, "game": 0, "phase": 0, "placement": 0},
            {"start": 120, "end": 240, "game": 1, "phase": 0, "placement": 0},
        ],
        template="builtin/snes-outline",
        opacity=0.6,
        placements=[{"x": 84, "y": 28, "scale": 0.6591}],
        builtin=True,
        template_dirs=[],
    )
    truth = mp4.with_suffix("").with_suffix(".truth.h5")
    ov = overlay_from_truth(truth, tmp_path / "switch.overlay.h5")
    figs = {}
    # without the game around the outline's buttons to judge them by (bound.Surround,
    # which alone also reads this clip right)
    for drop in (0.0, ex.ExtractConfig().recal_drop):
        dst = tmp_path / f"switch-{drop}.actions.h5"
        result = ex.extract(ov, dst, ex.ExtractConfig(recal_drop=drop, bound=False))
        figs[drop] = (ee.figures([ee.load_pair(dst, truth)]), result.stats["recalibrated"])
    (once, n0), (again, n1) = figs.values()
    assert n0 == 0 and n1 >= 1
    assert passes(again), again
    assert not passes(once)


def read_as_named(
    tmp: Path, ov: Path, named: overlays.Template, ties: list[overlays.Template]
) -> tuple[Actions, dict]:
    """Extract an overlay file's video as if detection had named `named` and recorded
    `ties`: the actions, and which skin's looks each tied button was read by."""
    from nitrogen_cli import detect

    with formats.open_file(ov, "overlay") as f:
        o = formats.read_overlay(f)
    det = detect.Detection(
        o["video"],
        30.0,
        int(o["frame_count"]),
        int(o["width"]),
        int(o["height"]),
        True,
        template=named,
        ties=ties,
    )
    det.bbox = tuple(o["bbox"])  # type: ignore[assignment]
    det.transform = np.asarray(o["transform"])
    src = detect.write_detection(tmp / f"named-{len(ties)}.overlay.h5", det)
    dst = tmp / f"named-{len(ties)}.actions.h5"
    ex.extract(src, dst)
    got, _ = formats.read_actions_file(dst)
    with formats.open_file(dst, "actions") as f:
        return got, formats.read_meta(f)["pressed_looks_from"]


@pytest.mark.slow
def test_skins_tied_at_rest_read_presses_by_the_skin_the_video_shows(
    tmp_path: Path, shared_presets: Path
) -> None:
    """SNES and SNESAlt draw the same pixels at rest and their face buttons' presses
    differently, so detection names either and records the other as a tie (corpus
    videos read as SNES missed SNESAlt's south presses by the thousand). extract-actions
    reads those buttons against both skins' looks and takes the skin whose looks explain
    the crops better."""

    skins = {t.id: t for t in overlays.load_folder(shared_presets / "snes")}
    shown, named = skins["snes/SNESAlt"], skins["snes/SNES"]
    states = [State()] * 15 + random_states(np.random.default_rng(3), shown.shows, 105)
    _, ov, truth = make_case(tmp_path, shown, states, width=260, opacity=0.9, size=(560, 360))
    ex.extract(ov, tmp_path / "shown.actions.h5")
    got, _ = formats.read_actions_file(tmp_path / "shown.actions.h5")
    right = (got.buttons == truth.buttons).mean()  # the skin it shows, named
    accuracy = {}
    for ties in ([], [shown]):
        got, picked = read_as_named(tmp_path, ov, named, ties)
        accuracy[len(ties)] = (got.buttons == truth.buttons).mean()
        if ties:
            assert picked and set(picked.values()) == {"snes/SNESAlt"}, picked
    assert right >= 0.95
    # within 0.01: a button whose press the tied skins draw apart cannot have its frames
    # split by its press in calibration (calib.press_splits) unless both looks split them
    # alike, so the tie reads 0.974 where the skin named right reads 0.982 (both 0.973
    # before that rule)
    assert accuracy[1] >= right - 0.01, (right, accuracy)
    assert accuracy[0] < right - 0.05, (right, accuracy)


@pytest.mark.slow
def test_twin_layouts_tied_at_rest_read_start_where_the_video_lights_it(
    tmp_path: Path, shared_presets: Path
) -> None:
    """gameboy-pixel's `overlay` and `overlay-color` layouts draw one texture alike at
    rest and light start at different pixels; start is pressed too rarely for detection's
    samples to tell them apart, so it names one and records the other as a tie (corpus
    c25-0008, `overlay` named `overlay-color`: 12 of 12 start presses missed).
    extract-actions cuts start's looks from a box that covers both twins' and takes the
    twin whose press explains the crops."""

    lib = {t.id: t for t in overlays.load_folder(shared_presets / "gameboy-pixel")}
    shown = lib["gameboy-pixel/gameboy-color@overlay"]
    named = lib["gameboy-pixel/gameboy-color@overlay-color"]
    states = [State()] * 15 + random_states(np.random.default_rng(10), shown.shows, 105)
    _, ov, truth = make_case(tmp_path, shown, states, width=120, opacity=0.9, size=(560, 360))
    start = BUTTON_INDEX["start"]
    assert truth.buttons[:, start].sum() >= 10
    found = {}
    for ties in ([], [shown]):
        got, picked = read_as_named(tmp_path, ov, named, ties)
        hit = got.buttons[:, start] & truth.buttons[:, start]
        found[len(ties)] = (
            int(hit.sum()),
            int((got.buttons[:, start] != truth.buttons[:, start]).sum()),
        )
        if ties:
            assert picked.get("start") == shown.id, picked
    pressed = int(truth.buttons[:, start].sum())
    assert found[1][1] <= 2, (pressed, found)
    assert found[0][0] == 0, (pressed, found)


@pytest.mark.slow
def test_a_faint_skin_is_calibrated_on_where_it_shows_at_detections_opacity(
    tmp_path: Path, shared_presets: Path
) -> None:
    """A dark minimal skin over a dark game never stands out against the probe (its
    rest look over mid-grey); calibration waited for a frame that did, and corpus
    c25-0022 went unread but for its last frames (1692 of 1824 south presses missed).
    Frames where a calibration finds the overlay at the opacity detection fitted are
    calibrated on instead."""
    import h5py

    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "faint",
        k=22,
        seed=25,
        frames=240,
        crf=25,
        display={"align": "center", "aspect": "4:3", "filter": "linear", "zoom": 1.0},
        background={"kind": "blur", "colour": [22, 5, 29]},
        human={"dpad_prob": 0.1, "idle_rate": 0.0, "mistake_rate": 0.04, "reaction_s": 0.2},
        games=["nitrogen/Boxing-v0"],
        template="xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GIDless",
        opacity=0.65,
        placements=[{"x": 791, "y": 265, "scale": 0.2173}],
    )
    cfg = ex.ExtractConfig(calib_max=100)
    dst = tmp_path / "faint.actions.h5"
    ex.extract(ov, dst, cfg)
    pair = ee.load_pair(dst, truth)
    assert pair.true.buttons[pair.scored].any(), "the player presses something"
    fig = ee.figures([pair])
    assert passes(fig), fig
    # the same file without detection's opacity: calibrated on its last frames only
    with h5py.File(ov, "r+") as f:
        del f["overlay"].attrs["opacity"]
    ex.extract(ov, dst, cfg)
    assert not passes(ee.figures([ee.load_pair(dst, truth)]))


@pytest.mark.slow
def test_a_placement_a_pixel_off_is_aligned(tmp_path: Path, shared_presets: Path) -> None:
    """Detection placed corpus c25-0018's thin-lined skin 1 px low and 0.9% short; the
    calibration's alignment moved it a third of the way, the fitted opacity fell from
    0.83 to 0.55 and the right trigger's presses went unread (1146 of 1149)."""

    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "off",
        k=18,
        seed=25,
        frames=150,
        crf=27,
        display={"align": "center", "aspect": "native", "filter": "linear", "zoom": 1.0},
        background={"kind": "solid", "colour": [5, 24, 42]},
        human={"dpad_prob": 0.3, "idle_rate": 0.0, "mistake_rate": 0.05, "reaction_s": 0.2},
        games=["nitrogen/DoomMyWayHome-v0"],
        template="xbox-controller/xbox-controller",
        opacity=0.83,
        placements=[{"x": 1060, "y": 583, "scale": 0.1026}],
    )
    true_t = misplace(ov, (0.0, 1.0), (1.0, 0.991))
    dst = tmp_path / "off.actions.h5"
    cal = first_calibration(ov, dst)
    fig = ee.figures([ee.load_pair(dst, truth)])
    assert fig["f1"]["right_trigger"]["pressed"] >= 5
    assert passes(fig), fig
    assert abs(float(np.mean(cal.gain)) - 0.83) < 0.1, cal.gain
    # the canvas' bottom edge, where the misplacement was largest, back within 0.3 px
    h = overlays.load_folder(shared_presets / "xbox-controller")[0].size[1]
    got = cal.cmap.transform
    assert abs((got[1, 1] - true_t[1, 1]) * h + got[1, 2] - true_t[1, 2]) < 0.3


@pytest.mark.slow
def test_translucent_line_art_half_a_pixel_off_is_aligned(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Like Q2 c35-0009: a line-art skin at scale 0.1 and opacity 0.64 over a bright game,
    placed half a pixel off and 0.8% narrow. Its lines are thinner than the error: the
    gain fitted there is a fifth of the opacity, the model drawn at that gain is mostly
    the smooth background, and ECC followed the game's edges in it, to a place where the
    gain fell to 0.05. Judged against detection's opacity, the lines are drawn at it and
    the placement is aligned again, each step kept where it explains the overlay better."""

    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "thin",
        k=9,
        seed=35,
        frames=150,
        crf=21,
        display={"align": "center", "aspect": "4:3", "filter": "linear", "zoom": 1.0},
        background={"kind": "solid", "colour": [15, 15, 29]},
        human={"dpad_prob": 0.15, "idle_rate": 0.0, "mistake_rate": 0.05, "reaction_s": 0.12},
        games=["nitrogen/Tennis-v0"],
        template="xbox-controller/xbox-controller",
        opacity=0.64,
        placements=[{"x": 1000, "y": 560, "scale": 0.1024}],
    )
    true_t = misplace(ov, (0.5, 0.6), (0.992, 1.0))
    dst = tmp_path / "thin.actions.h5"
    cal = first_calibration(ov, dst)
    assert abs(float(np.mean(cal.gain)) / 0.64 - 1) < 0.2, cal.gain
    size = overlays.load_folder(shared_presets / "xbox-controller")[0].size
    assert corners_off(cal.cmap.transform, true_t, size) < 0.3
    fig = ee.figures([ee.load_pair(dst, truth)])
    assert passes(fig), fig
    assert fig["frame_accuracy"] >= 0.98, fig


@pytest.mark.slow
def test_a_placement_three_percent_short_over_a_still_maze_is_aligned(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Fresh corpus R2 c36-0007: a see-through skin over Ms. Pac-Man's maze, placed by
    detection 3% short and 3 px off (IoU 0.948). ECC's correction took it to within a
    pixel, but the fitted model explained the overlay's pixels no better there (over the
    maze seen through the overlay it explains any placement), so the correction was
    dropped: the right trigger read pressed in 97% of the frames and the left stick
    pinned to a corner (R² -2.2). The overlay's own detail lining up much better with the
    frames now keeps the correction."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "maze",
        k=7,
        seed=36,
        fps=60,
        frames=400,
        crf=24,
        display={"align": "center", "aspect": "4:3", "filter": "linear", "zoom": 1.0},
        background={"kind": "black", "colour": [30, 2, 19]},
        human={"dpad_prob": 0.263, "idle_rate": 0.012, "mistake_rate": 0.072, "reaction_s": 0.272},
        games=["nitrogen/MsPacman-v0"],
        template="xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GIDless",
        opacity=0.725,
        placements=[{"x": 595, "y": 486, "scale": 0.147734}],
    )
    size = overlays.load_folder(shared_presets / "xbox-kba-minimal")[0].size
    true_t = misplace(ov, (3.0, 2.86), (0.9703, 0.9789), size)
    dst = tmp_path / "maze.actions.h5"
    cal = first_calibration(ov, dst)
    assert corners_off(cal.cmap.transform, true_t, size) < 1.0
    fig = ee.figures([ee.load_pair(dst, truth)])
    assert passes(fig), fig


@pytest.mark.slow
def test_a_see_through_pad_over_a_red_score_board_keeps_its_opacity_and_arms_apart(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Fresh corpus R2 c36-0013: XBox-KBA (see-through, opacity 0.80) over Enduro's red
    score board, its d-pad's left arm held through most of the calibration. The clear
    pixels around the overlay miss the board, and the gain came out (1.35, 1.02, 0.99):
    a press was then expected brighter than the video can show it, the background under
    the arm took the press in, and all 390 left presses were missed. A gain far over
    detection's opacity is now fitted again at that opacity. The skin lights its d-pad's
    centre for every arm, inside each arm's box; once the left presses showed, they read
    as up and down too, until each arm was also compared with its neighbours' presses."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "board",
        k=13,
        seed=36,
        fps=30,
        frames=440,
        crf=28,
        display={"align": "center", "aspect": "native", "filter": "linear", "zoom": 1.0},
        background={"kind": "blur", "colour": [27, 29, 1]},
        human={"dpad_prob": 0.476, "idle_rate": 0.024, "mistake_rate": 0.082, "reaction_s": 0.11},
        player="noisy",
        games=["nitrogen/Enduro-v0"],
        template="xbox-kba-minimal/XBox-KBA@XBox_KBA_Minimal_03_GIDless",
        opacity=0.802,
        placements=[{"x": 423, "y": 486, "scale": 0.211934}],
    )
    dst = tmp_path / "board.actions.h5"
    cal = first_calibration(ov, dst)
    assert float(np.max(cal.gain)) < 1.0, cal.gain
    pair = ee.load_pair(dst, truth)
    m = pair.scored
    left = pair.true.buttons[m][:, BUTTON_INDEX["dpad_left"]]
    assert left.sum() >= 100, "the left arm is held for a while"
    for name in ("dpad_left", "dpad_up", "dpad_down"):
        j = BUTTON_INDEX[name]
        wrong = pair.pred.buttons[m][:, j] != pair.true.buttons[m][:, j]
        assert wrong.sum() <= 0.02 * m.sum(), (name, int(wrong.sum()))


@pytest.mark.slow
def test_a_new_game_under_see_through_buttons_alone_is_calibrated_anew(
    tmp_path: Path, shared_presets: Path
) -> None:
    """An opaque body with see-through buttons: after a game switch the overlay's own
    pixels correlate as before (presence 0.94 -> 0.90), but the new game under the
    buttons read as presses (corpus c26-0025: north, south and right trigger pressed
    in all 765 frames after the switch). Crops that the buttons' looks explain many
    times worse than usual are calibrated on anew."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "switch2",
        k=25,
        seed=26,
        frames=420,
        crf=28,
        display={"align": "center", "aspect": "4:3", "filter": "nearest", "zoom": 1.0},
        background={"kind": "blur", "colour": [24, 0, 11]},
        human={"dpad_prob": 0.15, "idle_rate": 0.0, "mistake_rate": 0.1, "reaction_s": 0.13},
        games=["nitrogen/Boxing-v0", "nitrogen/Tennis-v0"],
        segments=[
            {"start": 0, "end": 140, "game": 0, "phase": 0, "placement": 0},
            {"start": 140, "end": 420, "game": 1, "phase": 0, "placement": 0},
        ],
        template="xbox-controller/xbox-controller",
        opacity=1.0,
        placements=[{"x": 38, "y": 449, "scale": 0.1873}],
    )
    figs = {}
    for drop in (0.0, ex.ExtractConfig().recal_drop):
        dst = tmp_path / f"switch2-{drop}.actions.h5"
        # a short clip: a calibration not kept is tried again soon; without the game
        # around see-through buttons to judge them by (bound.Surround: 0.918 alone)
        cfg = ex.ExtractConfig(recal_drop=drop, recal_wait=60, bound=False)
        result = ex.extract(ov, dst, cfg)
        figs[drop] = (ee.figures([ee.load_pair(dst, truth)]), result.stats["recalibrated"])
    (once, n0), (again, n1) = figs.values()
    assert n0 == 0 and n1 >= 1
    # measured 0.858 without and 0.953 with; what is left is mostly the d-pad, held in
    # some of the frames calibrated on after the switch (NOTES.md)
    assert once["button_accuracy"] < 0.9, once
    assert again["button_accuracy"] >= 0.94, again


@pytest.mark.slow
def test_a_pause_menu_is_calibrated_on_apart_from_the_game_after_it(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Corpus c27-0018's spec (SNESAlt over Seaquest at opacity 0.82), cut short: a pause
    menu from frame 142 to 247. The overlay stands out less over it, so its frames were
    held back to calibrate on, until 32 had changed: the menu, mostly still, gave fewer
    than that, and the game after it, where the old calibration fits again, gave the
    rest. Calibrated on together, they kept the old calibration and the menu read as
    presses (east, 105 false frames here). The held frames now end where the old
    calibration fits again."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "menu",
        k=18,
        seed=27,
        frames=340,
        crf=30,
        display={"align": "left", "aspect": "4:3", "filter": "linear", "zoom": 1.0},
        background={"kind": "solid", "colour": [45, 0, 37]},
        human={"dpad_prob": 0.425, "idle_rate": 0.04, "mistake_rate": 0.15, "reaction_s": 0.296},
        games=["nitrogen/Seaquest-v0"],
        segments=[
            {"start": 0, "end": 142, "game": 0, "phase": 0, "placement": 0},
            {"start": 142, "end": 247, "game": 0, "phase": 2, "placement": 0},
            {"start": 247, "end": 340, "game": 0, "phase": 0, "placement": 0},
        ],
        template="snes/SNESAlt",
        opacity=0.815,
        placements=[{"x": 10, "y": 553, "scale": 0.285134}],
    )
    dst = tmp_path / "menu.actions.h5"
    result = ex.extract(ov, dst)
    pair = ee.load_pair(dst, truth)
    menu = np.zeros(len(pair.scored), bool)
    menu[142:247] = True
    wrong = (pair.pred.buttons != pair.true.buttons).any(axis=1)
    assert result.stats["recalibrated"] >= 1
    assert int(wrong[menu & pair.scored].sum()) <= 5
    assert passes(ee.figures([pair]))


@pytest.mark.slow
def test_a_still_card_is_calibrated_on_apart_from_the_game_after_it(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Corpus c25-0027's spec (SNES at opacity 0.54 over Doom, then Space Invaders), cut
    at frame 1700: cards at 956-1168 (the games switch behind it) and 1256-1469. A still
    card's frames repeat its first, so holding its frames back until 32 had changed took
    in the game after it: calibrated on together, the game's background was taken and
    the card read as presses (back and west, 213 frames each here; 639 errors in the
    corpus video). Held frames are now parted at cuts, each scene calibrated on as long
    as each of its frames lasts, and the game after the card goes on under the
    calibration that fits it best (the one taken before the card)."""
    segments = [
        (0, 251, 0, 0, 0),
        (251, 654, 0, 0, -1),  # the overlay hidden
        (654, 956, 0, 0, 0),
        (956, 1010, 0, 3, 0),  # a card
        (1010, 1168, 1, 3, 0),
        (1168, 1256, 1, 0, 0),
        (1256, 1469, 1, 3, 0),
        (1469, 1700, 1, 0, 0),
    ]
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "card",
        k=27,
        seed=25,
        fps=60,
        frames=1700,
        crf=28,
        display={"align": "center", "aspect": "4:3", "filter": "nearest", "zoom": 1.0},
        background={"kind": "black", "colour": [4, 15, 9]},
        human={"dpad_prob": 0.227, "idle_rate": 0.017, "mistake_rate": 0.152, "reaction_s": 0.287},
        player="noisy",
        games=["nitrogen/DoomMyWayHome-v0", "nitrogen/SpaceInvaders-v0"],
        segments=segments_of(segments),
        template="snes/SNES",
        opacity=0.537,
        placements=[{"x": 35, "y": 35, "scale": 0.171728}],
    )
    dst = tmp_path / "card.actions.h5"
    ex.extract(ov, dst)
    pair = ee.load_pair(dst, truth)
    card = np.zeros(len(pair.scored), bool)
    card[1256:1469] = True
    wrong = (pair.pred.buttons != pair.true.buttons).any(axis=1)
    assert int(wrong[card & pair.scored].sum()) <= 5
    assert passes(ee.figures([pair]))


@pytest.mark.slow
def test_a_game_switch_soon_after_a_miss_for_a_buttons_crops_is_calibrated_on(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Corpus c27-0011's spec (SNES, opaque but see-through between its parts, at CRF 32
    over Asteroids), with a card at 560 behind which the game switches to Riverraid. A
    recalibration held for a button's crops at frame 311 is not kept, and held off any
    other for 300 frames: the switch, where the overlay stands out much less (presence
    0.56), was then read on Asteroids' background, west pressed for 133 frames (85 in
    the corpus video). A miss for a button's crops now holds off only those."""
    segments = [(0, 560, 0, 0, 0), (560, 580, 0, 3, 0), (580, 620, 1, 3, 0), (620, 1000, 1, 0, 0)]
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "switch",
        k=11,
        seed=27,
        fps=60,
        frames=1000,
        crf=32,
        display={"align": "center", "aspect": "wide", "filter": "nearest", "zoom": 0.911},
        background={"kind": "black", "colour": [29, 20, 25]},
        human={"dpad_prob": 0.161, "idle_rate": 0.037, "mistake_rate": 0.19, "reaction_s": 0.219},
        games=["nitrogen/Asteroids-v0", "nitrogen/Riverraid-v0"],
        segments=segments_of(segments),
        template="snes/SNES",
        opacity=1.0,
        placements=[{"x": 857, "y": 519, "scale": 0.336124}],
    )
    pair = extracted(ov, truth)
    wrong = (pair.pred.buttons != pair.true.buttons).any(axis=1) & pair.scored
    assert int(wrong[560:].sum()) <= 5
    assert passes(ee.figures([pair]))


@pytest.mark.slow
def test_a_first_calibration_on_a_frame_or_few_is_made_again(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Corpus c27-0008's spec (xbox-controller at opacity 0.79 beside Pong, over a dark
    blur), placed where detection put it (1% tall, 0.6 px high): for its first 300 frames
    the overlay stood out little against the probe's grey, so the first calibration
    rested on the one frame near the best, and a pause menu at 600 read start pressed
    for 114 frames (116 in the corpus video). A first calibration on fewer than 8 frames
    is made again on the changed frames after it, and never gone back to (the resized
    clip below still goes that way). Since 0bdda22 this clip goes another: the faint
    overlay's trial calibration, under half of detection's opacity, is realigned to 0.7 of
    it and kept, on 60 frames."""
    segments = [(0, 600, 0, 0, 0), (600, 906, 0, 2, 0), (906, 1000, 0, 0, 0)]
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "thin",
        transform=[[0.0869140625, 0.0, 1074.0], [0.0, 0.087944664, 583.386364]],
        k=8,
        seed=27,
        fps=60,
        frames=1000,
        crf=18,
        display={"align": "center", "aspect": "4:3", "filter": "nearest", "zoom": 1.0},
        background={"kind": "blur", "colour": [10, 29, 38]},
        human={"dpad_prob": 0.177, "idle_rate": 0.037, "mistake_rate": 0.121, "reaction_s": 0.2},
        games=["nitrogen/Pong-v0"],
        segments=segments_of(segments),
        template="xbox-controller/xbox-controller-show-player",
        opacity=0.788,
        placements=[{"x": 1074, "y": 584, "scale": 0.086737}],
    )
    import h5py

    with h5py.File(ov, "r+") as f:
        f["overlay"].attrs["opacity"] = 0.82  # detection's fit
    logged: list[str] = []
    dst = tmp_path / "thin.actions.h5"
    ex.extract(ov, dst, log=logged.append)
    assert any(m.startswith("frame 0: faint overlay") and m.endswith(": kept") for m in logged)
    assert any(m.startswith("calibration: 60 frames") for m in logged), logged
    pair = ee.load_pair(dst, truth)
    start = BUTTON_INDEX["start"]
    false = pair.pred.buttons[:, start] & ~pair.true.buttons[:, start] & pair.scored
    assert int(false[600:906].sum()) <= 5


@pytest.mark.slow
def test_an_overlay_moved_partway_is_read_where_it_went(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Like corpus c26-0026 (ds3 moved 42 px and shrunk by 9% for 420 frames; 1117
    errors): the overlay moves a little for 300 frames, and back. Read at its usual box,
    the moved frames still half match there and read wrong; the samples that show it
    elsewhere now have those frames read there too, each frame taken from the placement
    where the overlay shows better, and the file records the box each frame was read at."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "moved",
        k=26,
        seed=26,
        fps=30,
        frames=900,
        crf=26,
        games=["nitrogen/Boxing-v0"],
        segments=[
            {"start": 0, "end": 360, "game": 0, "phase": 0, "placement": 0},
            {"start": 360, "end": 660, "game": 0, "phase": 0, "placement": 1},
            {"start": 660, "end": 900, "game": 0, "phase": 0, "placement": 0},
        ],
        template="ds3/ds3_white",
        opacity=0.76,
        placements=[
            {"x": 12, "y": 420, "scale": 0.38},
            {"x": 40, "y": 410, "scale": 0.345},
        ],
    )
    with formats.open_file(truth, "truth") as f:
        boxes = formats.read_bbox_per_frame(f)
    assert boxes is not None
    moved = np.zeros(len(boxes), bool)
    moved[360:660] = True
    home = boxes[0]
    assert 0.5 < float(ee._iou(boxes[360:361], home)[0]) < 0.8  # scored at either box

    dst = tmp_path / "moved.actions.h5"
    ex.extract(ov, dst)
    pair = ee.load_pair(dst, truth)
    assert pair.scored[moved].mean() > 0.95
    wrong = (pair.pred.buttons != pair.true.buttons).any(axis=1)
    assert int(wrong[moved & pair.scored].sum()) <= 10
    assert passes(ee.figures([pair]))
    with formats.open_file(dst, "actions") as f:
        read_at = formats.read_bbox_per_frame(f)
    assert read_at is not None
    inside = np.abs(read_at[380:640] - boxes[380:640]).max(axis=1) <= 2
    outside = np.abs(read_at[~moved] - home).max(axis=1) <= 2
    assert inside.mean() > 0.95 and outside.mean() > 0.95


@pytest.mark.slow
def test_an_overlay_resized_in_place_is_read_at_both_sizes(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Corpus M2 c32-0002's spec, with the truth's samples and placed where detection put
    it: the overlay stands 8% larger for its first 424 frames, overlapping its later box
    by 0.86. Boxes that close were taken for one (IoU 0.8 made one placement), and the
    first 424 frames were read at the later box: back and the right trigger, 475 errors.
    They are now read at both boxes (85)."""
    segments = [(0, 424, 0, 0, 0), (424, 1281, 0, 0, 1)]
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "resized",
        transform=[[0.1181640625, 0.0, 1016.0], [0.0, 0.117552335, 23.0]],
        k=2,
        seed=32,
        frames=1281,
        crf=20,
        display={"align": "center", "aspect": "4:3", "filter": "linear", "zoom": 1.0},
        background={"kind": "solid", "colour": [9, 39, 28]},
        human={"dpad_prob": 0.574, "idle_rate": 0.021, "mistake_rate": 0.06, "reaction_s": 0.159},
        games=["nitrogen/DoomDeadlyCorridor-v0"],
        segments=segments_of(segments),
        template="xbox-controller/xbox-controller-clear",
        opacity=0.703,
        placements=[
            {"x": 1003, "y": 16, "scale": 0.127245},
            {"x": 1016, "y": 23, "scale": 0.117769},
        ],
    )
    import h5py

    with h5py.File(ov, "r+") as f:
        f["overlay"].attrs["opacity"] = 0.55  # detection's fit
    logged: list[str] = []
    dst = tmp_path / "resized.actions.h5"
    ex.extract(ov, dst, log=logged.append)
    assert any(m.startswith("calibration: 1 frames") for m in logged), logged
    assert any("moved to [1003, 16, 261, 158]" in m for m in logged), logged
    pair = ee.load_pair(dst, truth)
    wrong = (pair.pred.buttons != pair.true.buttons) & pair.scored[:, None]
    assert int(wrong[:424].sum()) <= 150


@pytest.mark.slow
def test_an_overlay_first_shown_elsewhere_is_not_calibrated_on_there(
    tmp_path: Path, shared_presets: Path
) -> None:
    """Held-out Q2 c35-0012's spec: the overlay stands 18% larger over its later box for
    the first 300 frames. Read at the later box, those frames still half matched there
    and were taken as a faint overlay (gain 0.05, which detection's low opacity let
    pass), so every later frame was read through a nearly clear skin: 1011 errors, and
    the first frames' placement, calibrated at 1.0, was dropped as far off it. Frames
    that detection's samples show elsewhere are not calibrated on at the usual box."""
    import h5py

    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "grown",
        k=12,
        seed=35,
        fps=30,
        frames=900,
        crf=19,
        background={"kind": "black", "colour": [24, 6, 10]},
        display={"align": "center", "aspect": "4:3", "filter": "linear", "zoom": 1.0},
        human={"dpad_prob": 0.375, "idle_rate": 0.031, "mistake_rate": 0.088, "reaction_s": 0.108},
        games=["nitrogen/DoomMyWayHome-v0"],
        segments=segments_of([(0, 300, 0, 0, 0), (300, 900, 0, 0, 1)]),
        template="dualsense/dualsensewhite",
        opacity=1.0,
        placements=[
            {"x": 1054, "y": 551, "scale": 0.162606},
            {"x": 1091, "y": 580, "scale": 0.13721},
        ],
    )
    with h5py.File(ov, "r+") as f:
        f["overlay"].attrs["opacity"] = 0.1  # detection's fit, low enough to let it pass
    logged: list[str] = []
    pair = extracted(ov, truth, log=logged.append)
    assert not any("faint overlay" in m and m.endswith(": kept") for m in logged), logged
    wrong = (pair.pred.buttons != pair.true.buttons) & pair.scored[:, None]
    assert pair.scored.mean() > 0.9
    assert int(wrong.sum()) <= 20


@pytest.mark.slow
def test_a_stick_over_a_d_pad_is_not_taken_for_its_arms(
    tmp_path: Path, shared_presets: Path
) -> None:
    """A pixel preset's stick moves over its d-pad (nes-pixel's `-analog` look). Where
    the pairings of stick and d-pad barely differ (0.01-0.05 in correlation over Pong,
    against 0.28-0.38 where an arm is pressed), the stick alone explains the crop; read
    by the buttons' comparator there, the arms under the stick were pressed in a third
    of the frames (corpus c26-0024: 1213 false presses in 4898 frames)."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "nesanalog",
        k=24,
        seed=26,
        fps=60,
        frames=360,
        crf=22,
        display={"align": "center", "aspect": "wide", "filter": "linear", "zoom": 1.0},
        background={"kind": "black", "colour": [40, 2, 39]},
        human={"dpad_prob": 0.114, "idle_rate": 0.017, "mistake_rate": 0.075, "reaction_s": 0.214},
        games=["nitrogen/Pong-v0"],
        template="nes-pixel/nes@overlay-analog",
        opacity=0.543,
        placements=[{"x": 799, "y": 50, "scale": 25.380567}],
    )
    pair = extracted(ov, truth)
    arms = [BUTTON_INDEX[f"dpad_{d}"] for d in ("up", "down", "left", "right")]
    m = pair.scored
    false = (pair.pred.buttons[m][:, arms] & ~pair.true.buttons[m][:, arms]).sum()
    assert m.sum() > 300
    assert false <= 0.01 * m.sum(), false


@pytest.mark.slow
def test_a_resting_stick_is_not_moved_by_the_d_pad_arm_pressed_under_it(
    tmp_path: Path, shared_presets: Path
) -> None:
    """snes-pixel's stick rests on its d-pad while an arm is pressed. Where the pairings
    of stick and arms are too close to call, the stick was read alone, and alone it takes
    the lit arm for itself pushed there (corpus c26-0009: the stick never moves, yet it
    read 0.5 off centre whenever an arm was pressed). Now it is read among the pairings
    with the arms the buttons' own comparator sees pressed."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "snesanalog",
        k=9,
        seed=26,
        fps=60,
        frames=360,
        crf=28,
        canvas=[1920, 1080],
        display={"align": "center", "aspect": "native", "filter": "nearest", "zoom": 1.0},
        background={"kind": "black", "colour": [23, 15, 7]},
        human={"dpad_prob": 0.315, "idle_rate": 0.043, "mistake_rate": 0.159, "reaction_s": 0.144},
        player="noisy",
        games=["nitrogen/Tennis-v0"],
        template="snes-pixel/snes@overlay-analog",
        opacity=0.931,
        placements=[{"x": 42, "y": 42, "scale": 23.562451}],
    )
    pair = extracted(ov, truth)
    arms = [BUTTON_INDEX[f"dpad_{d}"] for d in ("up", "down", "left", "right")]
    m = pair.scored & pair.true.buttons[:, arms].any(axis=1)
    assert m.sum() > 60
    assert np.abs(pair.true.j_left[m]).max() == 0  # the player never moves the stick
    off = np.abs(pair.pred.j_left[m]).max(axis=1) > 0.2
    assert off.mean() <= 0.05, (int(off.sum()), int(m.sum()))


@pytest.mark.slow
def test_a_faint_pixel_stick_over_a_moving_game_reads_its_full_pushes(
    tmp_path: Path, shared_presets: Path
) -> None:
    """nes-pixel's one-pixel stick at opacity 0.45 over Doom. The candidates once carried
    the texture the calibration saw under the stick; the game moves on, and that fixed
    pattern pulled the reading towards the centre (corpus c24-0013: full pushes read as
    half, stick R² 0.36). The candidates now take the background's level only."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "nesfaint",
        k=13,
        seed=24,
        fps=30,
        frames=360,
        crf=20,
        display={"align": "center", "aspect": "4:3", "filter": "nearest", "zoom": 1.0},
        background={"kind": "solid", "colour": [45, 13, 28]},
        human={"dpad_prob": 0.555, "idle_rate": 0.043, "mistake_rate": 0.062, "reaction_s": 0.101},
        player="noisy",
        games=["nitrogen/DoomBasic-v0"],
        template="nes-pixel/nes@overlay-analog",
        opacity=0.449,
        placements=[{"x": 483, "y": 48, "scale": 18.498778}],
    )
    dst = tmp_path / "nesfaint.actions.h5"
    ex.extract(ov, dst)
    fig = ee.figures([ee.load_pair(dst, truth)])
    assert min(fig["stick_r2"]["lx"], fig["stick_r2"]["ly"]) >= 0.85, fig["stick_r2"]


@pytest.mark.slow
def test_frames_set_aside_before_the_calibration_are_read_through_it(
    tmp_path: Path, shared_presets: Path
) -> None:
    """xbox-controller-show-player over Pong: for its first 187 frames the skin did not
    stand out against the probe's grey (placed half a pixel off, as detection had it, its
    thin lines missed), so they waited while the calibration found its frames, and were
    then written released and centred unread (corpus c25-0006: the stick wrong in all of
    them). They are now read through the calibration."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "showplayer",
        k=6,
        seed=25,
        fps=60,
        frames=320,
        crf=24,
        display={"align": "left", "aspect": "4:3", "filter": "nearest", "zoom": 0.914},
        background={"kind": "black", "colour": [27, 31, 19]},
        human={"dpad_prob": 0.223, "idle_rate": 0.032, "mistake_rate": 0.164, "reaction_s": 0.168},
        player="auto",
        games=["nitrogen/Pong-v0"],
        template="xbox-controller/xbox-controller-show-player",
        opacity=1.0,
        placements=[{"x": 24, "y": 24, "scale": 0.143136}],
        segments=[
            {"start": 0, "end": 187, "game": 0, "phase": 0, "placement": 0},
            {"start": 187, "end": 320, "game": 0, "phase": 2, "placement": 0},
        ],
        transform=[[0.1431, 0.0, 24.5], [0.0, 0.1422, 24.6986]],  # half a pixel off
    )
    pair = extracted(ov, truth)
    first = np.zeros(len(pair.true), bool)
    first[:187] = True
    m = pair.scored & first
    assert m.sum() > 150
    assert np.abs(pair.true.j_left[m]).max() > 0.3  # the player moves the stick there
    err = np.abs(pair.pred.j_left[m] - pair.true.j_left[m]).max(axis=1)
    assert (err <= 0.15).mean() >= 0.9, float((err <= 0.15).mean())


@pytest.mark.slow
def test_a_stick_that_never_moves_reads_centred_where_read_off_centre(
    tmp_path: Path, shared_presets: Path
) -> None:
    """famicom's one-pixel red stick over its dark cross, never moved, placed as
    detection had it (1.5 px low, 1.4% narrow): its readings sit 0.3 low in every frame,
    too far out for a rest near the nominal centre, so it read pushed all video (corpus
    c28-0014, stick error 0.3 a frame)."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "famicom",
        k=14,
        seed=28,
        fps=60,
        frames=360,
        crf=29,
        display={"align": "center", "aspect": "4:3", "filter": "nearest", "zoom": 1.0},
        background={"kind": "black", "colour": [37, 35, 25]},
        human={"dpad_prob": 0.466, "idle_rate": 0.022, "mistake_rate": 0.197, "reaction_s": 0.229},
        player="auto",
        games=["nitrogen/Seaquest-v0"],
        template="nes-pixel/famicom@overlay-analog",
        opacity=0.867,
        placements=[{"x": 569, "y": 609, "scale": 8.336918}],
        transform=[[8.235, 0.0, 570.0], [0.0, 8.38, 610.479]],
    )
    pair = extracted(ov, truth)
    m = pair.scored
    assert m.sum() > 300
    assert np.abs(pair.true.j_left[m]).max() == 0  # the player never moves the stick
    err = np.abs(pair.pred.j_left[m]).mean(axis=0)
    assert err.max() <= 0.12, err


@pytest.mark.slow
def test_a_pixel_stick_pushed_half_way_is_not_read_clicked(
    tmp_path: Path, shared_presets: Path
) -> None:
    """gameboy's pixel-art stick pushed half way down snaps to one of two grid cells,
    while its reading sits within a few hundredths of the midpoint; the click was judged
    at the nearer cell, often the other one, where the crop matches neither look and
    read as a click (corpus L2 c29-0017: 255 false clicks, all at half pushes)."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "gameboy",
        k=17,
        seed=29,
        fps=60,
        frames=600,
        crf=21,
        display={"aspect": "wide", "zoom": 1.0, "align": "center", "filter": "linear"},
        background={"kind": "black", "colour": [23, 5, 22]},
        human={"reaction_s": 0.274, "mistake_rate": 0.144, "idle_rate": 0.008, "dpad_prob": 0.532},
        player="auto",
        games=["nitrogen/DoomHealthGathering-v0"],
        template="gameboy-pixel/gameboy@overlay-analog",
        opacity=0.8,
        placements=[{"x": 9, "y": 9, "scale": 18.947368}],
    )
    pair = extracted(ov, truth)
    m = pair.scored
    half = np.abs(np.hypot(*pair.true.j_left[m].T) - 0.5) < 0.1
    assert half.sum() >= 30, "the player pushes the stick half way"
    j = BUTTON_INDEX["left_thumb"]
    clicked = pair.pred.buttons[m][:, j] & ~pair.true.buttons[m][:, j]
    assert clicked.sum() <= 0.01 * m.sum(), (int(clicked.sum()), int(half.sum()))


@pytest.mark.slow
def test_a_pixel_stick_pushed_to_a_diagonal_is_read_where_its_correlation_peaks(
    tmp_path: Path, shared_presets: Path
) -> None:
    """snes-pixel's one-pixel stick pushed down-right lights three pixels dimly, and its
    clicked look (the pixel hidden) is the same at every cell: the heat map is a
    plateau with a low peak at the right cell, and the network's learned correction
    moved the reading across the map to the left (corpus R2 c36-0009: lx R² -0.26,
    117 of its first 428 frames off by more than 0.3). The correction now refines the
    reading near the correlation's own peak."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "snesdiag",
        k=9,
        seed=36,
        fps=60,
        frames=320,
        crf=26,
        display={"aspect": "wide", "zoom": 1.0, "align": "center", "filter": "nearest"},
        background={"kind": "black", "colour": [25, 1, 20]},
        human={"reaction_s": 0.185, "mistake_rate": 0.101, "idle_rate": 0.039, "dpad_prob": 0.406},
        player="auto",
        games=["nitrogen/Riverraid-v0"],
        template="snes-pixel/snes@overlay-analog",
        opacity=0.728,
        placements=[{"x": 402, "y": 448, "scale": 21.715735}],
    )
    pair = extracted(ov, truth)
    m = pair.scored
    true, pred = pair.true.j_left[m], pair.pred.j_left[m]
    diagonal = np.abs(true).min(axis=1) > 0.4
    assert diagonal.sum() >= 30, "the player pushes the stick to diagonals"
    off = np.abs(pred - true).max(axis=1) > 0.3
    assert off.sum() <= 0.02 * m.sum(), (int(off.sum()), int(diagonal.sum()))
    assert r2(pred[:, 0], true[:, 0]) >= 0.9


@pytest.mark.slow
def test_a_button_held_through_most_of_the_calibration_is_still_read(
    tmp_path: Path, shared_presets: Path
) -> None:
    """A "noisy" player mashes A through 60% of the frames calibration looks at: their
    median showed the pressed A, taken for the game behind it, so every press read as
    released (corpus K2 c28-0012: all 674 pressed frames missed). The frames split in
    two along A's own press, and the released group's median is the background."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "xbox",
        k=12,
        seed=28,
        fps=30,
        frames=600,
        crf=27,
        display={"align": "center", "aspect": "4:3", "filter": "nearest", "zoom": 0.857},
        background={"colour": [6, 26, 16], "kind": "black"},
        human={"dpad_prob": 0.103, "idle_rate": 0.016, "mistake_rate": 0.197, "reaction_s": 0.147},
        player="noisy",
        games=["nitrogen/Tennis-v0"],
        template="xbox-controller/xbox-controller-white",
        opacity=1.0,
        placements=[{"scale": 0.178722, "x": 49, "y": 449}],
    )
    pair = extracted(ov, truth)
    m = pair.scored
    j = BUTTON_INDEX["south"]
    true, pred = pair.true.buttons[m][:, j], pair.pred.buttons[m][:, j]
    assert true.mean() >= 0.3, "the player holds A a third of the time"
    f1 = 2 * (true & pred).sum() / max(int(true.sum() + pred.sum()), 1)
    assert f1 >= 0.95, (int(true.sum()), int((true & pred).sum()), int((~true & pred).sum()))


@pytest.mark.slow
def test_a_flash_behind_a_translucent_skin_is_not_read_as_presses(
    tmp_path: Path, shared_presets: Path
) -> None:
    """ds3 (a translucent body) over Doom at CRF 32: the game's flashes behind the buttons
    fitted their pressed looks better than the calibration's background under the
    released ones (corpus c27-0000: 117 false presses of eight buttons in runs of 2 to
    7 frames, none pressed). A crop most of whose press pixels lie outside the range any
    background leaves a pressed look shows no press (bound.py). Read without the
    trigger's ramp frames, which at CRF 32 add two frames beside pulls here that the
    truth has released."""
    truth, ov = preset_case(
        tmp_path,
        shared_presets,
        "flash",
        k=0,
        seed=27,
        frames=330,
        crf=32,
        display={"align": "center", "aspect": "4:3", "filter": "linear", "zoom": 0.92},
        background={"kind": "blur", "colour": [37, 10, 0]},
        human={"dpad_prob": 0.121, "idle_rate": 0.045, "mistake_rate": 0.089, "reaction_s": 0.187},
        games=["nitrogen/DoomDefendTheLine-v0"],
        template="ds3/ds3",
        opacity=1.0,
        placements=[{"x": 859, "y": 176, "scale": 0.259349}],
    )
    false = {}
    for bound in (False, True):
        dst = tmp_path / f"flash-{bound}.actions.h5"
        ex.extract(ov, dst, ex.ExtractConfig(bound=bound, ramps=False))
        pair = ee.load_pair(dst, truth)
        m, sb = pair.scored, pair.shown[: len(BUTTON_INDEX)]
        false[bound] = int((pair.pred.buttons[m][:, sb] & ~pair.true.buttons[m][:, sb]).sum())
    assert false[False] >= 10, false
    assert false[True] <= 2, false


@pytest.mark.slow
def test_a_trigger_held_part_pulled_through_a_recalibration_is_still_read(
    tmp_path: Path, shared_presets: Path
) -> None:
    """dualsense over a still dark game, calibrated released; then the right trigger is
    held at 0.6 in long pulls. The part fill spills into the shoulder's box, whose crops
    then fit ~100x worse than usual, so the frames are held and calibrated on anew: the
    new background under both boxes took the held fill in, and 0.6 pulls read released
    (203 of 300 missed; P2 c34-0005, xbox-one's trigger: 304 of 881). A frame there is now
    also seen through the trigger's part-filled looks."""
    import cv2

    t = next(
        t
        for t in overlays.load_folder(shared_presets / "dualsense")
        if t.id == "dualsense/dualsense"
    )
    pull = State(triggers=(0.0, 0.6))
    states = [State()] * 100 + ([pull] * 50 + [State()] * 8) * 6
    rng = np.random.default_rng(1)
    game = rng.integers(0, 256, (30, 44, 3), dtype=np.uint8)
    game = (cv2.resize(game, (480, 320), interpolation=cv2.INTER_CUBIC) * 0.3).astype(np.uint8)
    _, ov, truth = make_case(
        tmp_path, t, states, opacity=0.85, frames=np.stack([game] * len(states))
    )
    dst = tmp_path / "pull.actions.h5"
    ex.extract(ov, dst)
    got, _ = formats.read_actions_file(dst)
    j = BUTTON_INDEX["right_trigger"]
    pulled = truth.buttons[:, j]
    assert int(pulled.sum()) == 300
    assert int((pulled & ~got.buttons[:, j]).sum()) <= 10
    assert int((got.buttons != truth.buttons).sum()) <= 15
