"""The synthetic corpus: plans, the canvas before encoding, videos against their truth,
determinism, and the tools/make-corpus script. Real games, real H.264, real HDF5."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import av
import h5py
import numpy as np
import pytest

from nitrogen_cli import corpus, formats
from nitrogen_cli.actions import TRIGGER_THRESHOLD, State
from nitrogen_cli.corpus import AFK, CARD, MENU, PLAY, Compositor, Placement, Segment
from nitrogen_cli.overlays import get_template

REPO = Path(__file__).resolve().parents[1]
TINY = (320, 180)


# -- planning ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plans() -> list[list[corpus.VideoSpec]]:
    return [corpus.plan_corpus(None, 10, seed=s) for s in range(5)]


def test_plan_covers_the_minutes_and_the_games(plans: list[list[corpus.VideoSpec]]) -> None:
    from nitrogen_cli.envs import game_ids

    for specs in plans:
        total = sum(s.seconds for s in specs)
        assert abs(total - 600) < 1.0
        assert all(20 - 0.05 <= s.seconds <= 90 for s in specs)
        main = [s.games[0] for s in specs]
        assert set(main) <= set(game_ids())
        # Each video goes to the game with the least time so far: all get one in turn.
        assert len(set(main)) == min(len(specs), len(game_ids()))
        assert [s.id for s in specs] == [f"c{specs[0].seed}-{k:04d}" for k in range(len(specs))]
    two = corpus.plan_corpus("Breakout,nitrogen/DoomBasic-v0", 10, seed=0)
    seconds = Counter()
    for s in two:
        seconds[s.games[0]] += s.seconds
    assert set(seconds) == {"nitrogen/Breakout-v0", "nitrogen/DoomBasic-v0"}
    assert abs(seconds["nitrogen/Breakout-v0"] - seconds["nitrogen/DoomBasic-v0"]) <= 90


def test_plan_draws_within_the_ranges(plans: list[list[corpus.VideoSpec]]) -> None:
    specs = [s for p in plans for s in p]
    for s in specs:
        assert s.canvas in corpus.CANVASES and s.fps in (30, 60)
        assert 18 <= s.crf <= 32
        assert s.segments[0].start == 0 and s.segments[-1].end == s.frames
        assert all(a.end == b.start for a, b in zip(s.segments, s.segments[1:], strict=False))
        if s.template is None:
            assert s.placements == () and all(g.placement == -1 for g in s.segments)
            continue
        assert 0.4 <= s.opacity <= 1.0
        t = get_template(s.template)
        cw, ch = s.canvas
        for p in s.placements:
            w, h = round(t.size[0] * p.scale), round(t.size[1] * p.scale)
            assert 0 <= p.x <= cw - w and 0 <= p.y <= ch - h
            assert w <= 0.35 * cw + 1
            assert w >= 0.10 * cw - 1 or h >= 0.5 * ch - 1  # narrower only when height-bound
            assert h <= 0.5 * ch + 1
    none = sum(s.template is None for s in specs) / len(specs)
    assert 0.08 <= none <= 0.3
    found = Counter(corpus.PHASES[g.phase] for s in specs for g in s.segments)
    assert found["afk"] and found["menu"] and found["card"]
    assert any(len(s.games) > 1 for s in specs)
    assert any(len(s.placements) > 1 for s in specs)
    assert any(g.placement == -1 and g.phase == PLAY for s in specs for g in s.segments)


def test_plan_is_a_function_of_the_seed(plans: list[list[corpus.VideoSpec]]) -> None:
    again = corpus.plan_corpus(None, 10, seed=0)
    assert [s.to_json() for s in again] == [s.to_json() for s in plans[0]]
    assert [s.to_json() for s in plans[1]] != [s.to_json() for s in plans[0]]
    spec = plans[0][0]
    assert corpus.VideoSpec.from_json(spec.to_json()) == spec


def test_bad_requests_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(corpus.CorpusError, match="unknown game"):
        corpus.plan_corpus("Breakout,NoSuchGame", 1, seed=0)
    with pytest.raises(corpus.CorpusError, match="minutes"):
        corpus.plan_corpus("Breakout", 0, seed=0)
    with pytest.raises(corpus.CorpusError, match="no skin"):  # not a corpus of no overlays
        corpus.plan_corpus("Breakout", 1, seed=0, templates=[tmp_path], builtin=False)


# -- the canvas before encoding ----------------------------------------------------------
def game_frames(n: int = 3) -> list[np.ndarray]:
    from nitrogen_cli.envs import make_env

    env = make_env("Breakout", fps=30, disable_env_checker=True)
    obs, _ = env.reset(seed=0)
    out = [obs.copy()]
    for _ in range(n - 1):
        obs, *_ = env.step(State(pressed=frozenset({"south", "dpad_left"})))
        out.append(obs.copy())
    env.close()
    return out


STATES = [
    State(pressed=frozenset({"south", "dpad_up", "left_shoulder"}), j_left=(0.7, -0.4)),
    State(pressed=frozenset({"east", "start"}), j_right=(-1.0, 0.3), triggers=(0.55, 1.0)),
]


def check_overlay(base: np.ndarray, out: np.ndarray, r, state: State, x: int, y: int, op: float):
    """Outside the bbox the canvas is the game frame; inside, only pixels under rendered
    alpha > 0 change, each by the blend of the overlay's colour, and every one that blend
    moves by a grey level or more does change."""
    w, h = r.size
    outside = np.ones(base.shape[:2], bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(out[outside], base[outside])
    prem = r.premultiplied(state).astype(np.float64)
    alpha = prem[..., 3] * op
    region, before = out[y : y + h, x : x + w].astype(np.float64), base[y : y + h, x : x + w]
    changed = (region != before).any(axis=2)
    assert not changed[alpha == 0].any()  # nothing changes where the overlay is clear
    expected = prem[..., :3] * 255 * op + before * (1 - alpha[..., None])
    assert np.abs(region - expected).max() <= 1.0  # the blend of its colour over the frame
    visible = (np.abs(expected - before) >= 1.0).any(axis=2)
    assert changed[visible].all()  # every change worth a grey level shows
    return changed


@pytest.mark.parametrize("skin", ["builtin/xbox-white", "builtin/pixel-grey"])
@pytest.mark.parametrize("background", ["black", "solid", "blur"])
def test_canvas_outside_bbox_is_the_game_and_inside_only_alpha_differs(
    skin: str, background: str
) -> None:
    t = get_template(skin)
    frames = game_frames()
    comp = Compositor(
        (640, 360), {"aspect": "4:3"}, {"kind": background, "colour": [30, 10, 40]}, fps=30
    )
    placements = [(10, 240, 0.25 * 640 / t.size[0], 1.0), (500, 8, 0.2 * 640 / t.size[0], 0.45)]
    for i, (img, state, (x, y, scale, op)) in enumerate(
        zip(frames, [*STATES, State()], placements + placements[:1], strict=True)
    ):
        r = t.renderer(scale)
        out = comp.frame(img, (r, state, x, y, op)).copy()
        base = comp.base(img)
        changed = check_overlay(base, out, r, state, x, y, op)
        assert changed.any(), i
        # What is on screen outside the overlay is the game frame, laid in its rectangle.
        gx, gy, gw, gh = comp.rect(img.shape)
        assert (gx, gy, gw, gh) == (80, 0, 480, 360)  # 4:3, pillarboxed
    # A card, then the game again: nothing of the card or the last overlay is left behind.
    card = corpus.card_image(640, 360, np.random.default_rng(0))
    assert np.array_equal(comp.frame(None, None, card), card)
    assert np.array_equal(comp.frame(frames[0]), comp.base(frames[0]))


# -- one video against its truth ---------------------------------------------------------
KEPT = (5, 29, 40, 60, 70, 85, 119)  # frames whose canvases the fixture keeps whole


@dataclasses.dataclass
class Tiny:
    spec: corpus.VideoSpec
    mp4: Path
    truth: Path
    changed: dict[int, np.ndarray]  # per frame: pixels the overlay changed
    canvases: dict[int, tuple[np.ndarray, np.ndarray]]  # (canvas, canvas without overlay)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    """4 s at 640x360@30: play, a pause menu, AFK with the overlay hidden, a card, then
    another game with the overlay moved and resized."""
    base = corpus.plan_corpus("Breakout", 0.1, seed=3, canvas=(640, 360), fps=30)[0]
    t = get_template("builtin/xbox-white")
    spec = dataclasses.replace(
        base,
        games=("nitrogen/Breakout-v0", "nitrogen/DoomBasic-v0"),
        frames=120,
        template=t.id,
        opacity=0.8,
        placements=(Placement(12, 250, 150 / t.size[0]), Placement(470, 10, 160 / t.size[0])),
        segments=(
            Segment(0, 30, 0, PLAY, 0),
            Segment(30, 50, 0, MENU, 0),
            Segment(50, 65, 0, AFK, -1),
            Segment(65, 80, 1, CARD, -1),
            Segment(80, 120, 1, PLAY, 1),
        ),
        background={"kind": "blur", "colour": [0, 0, 0]},
        player="auto",
    )
    changed: dict[int, np.ndarray] = {}
    canvases: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def keep(i: int, canvas: np.ndarray, without: np.ndarray) -> None:
        changed[i] = (canvas != without).any(axis=2)
        if i in KEPT:
            canvases[i] = (canvas.copy(), without.copy())

    mp4, truth = corpus.make_video(spec, tmp_path_factory.mktemp("video"), on_frame=keep)
    return Tiny(spec, mp4, truth, changed, canvases)


def drawn_state(acts, triggers: np.ndarray, i: int) -> State:
    """The State of truth row i, analogue triggers included."""
    s = State.from_actions(acts, i)
    return dataclasses.replace(s, triggers=(float(triggers[i, 0]), float(triggers[i, 1])))


@pytest.mark.slow
def test_each_canvas_shows_exactly_the_truth(tiny: Tiny) -> None:
    """Before encoding, every frame differs from the overlay-free canvas only inside the
    truth's bbox, and there by exactly the truth's state drawn with the truth's skin."""
    with formats.open_file(tiny.truth, "truth") as f:
        acts, _ = formats.read_actions(f)
        trig = formats.read_triggers(f)
        boxes = formats.read_bbox_per_frame(f)
        ov = formats.read_overlay(f)
    t = get_template(ov["template"])
    assert len(tiny.changed) == tiny.spec.frames
    for i, mask in tiny.changed.items():
        x, y, w, h = boxes[i].astype(int)
        inside = np.zeros_like(mask)
        inside[y : y + h, x : x + w] = True
        assert not mask[~inside].any(), i
        assert mask.any() == bool(w), i  # a shown overlay always changes something
    for i in KEPT:
        canvas, without = tiny.canvases[i]
        x, y, w, h = boxes[i].astype(int)
        if not w:
            assert np.array_equal(canvas, without)
            continue
        p = next(p for p in tiny.spec.placements if (p.x, p.y) == (x, y))
        r = t.renderer(p.scale)
        assert r.size == (w, h)
        check_overlay(without, canvas, r, drawn_state(acts, trig, i), x, y, ov["opacity"])


@pytest.mark.slow
def test_the_video_is_the_canvas(tiny: Tiny) -> None:
    """What decodes is what was composed (H.264 at CRF <= 32 keeps it within a few levels)."""
    from nitrogen_cli.video import stream_frames

    for i, img in stream_frames(tiny.mp4):
        if i in tiny.canvases:
            err = img.astype(np.float64) - tiny.canvases[i][0]
            psnr = 10 * np.log10(255**2 / max(float((err**2).mean()), 1e-9))
            assert psnr > 28, (i, psnr)


@pytest.mark.slow
def test_video_decodes_to_as_many_frames_as_truth_rows(tiny: Tiny) -> None:
    spec, mp4, truth = tiny.spec, tiny.mp4, tiny.truth
    with av.open(str(mp4)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
        assert stream.format.name == "yuv420p"
        assert float(stream.average_rate) == 30
        decoded = sum(1 for _ in c.decode(stream))
    with formats.open_file(truth, "truth") as f:
        n = f["actions/buttons"].shape[0]
        assert decoded == n == spec.frames
        assert np.array_equal(f["actions/frame_index"][()], np.arange(n))
        formats.verify_input(f, mp4)  # the truth recorded this very mp4


@pytest.mark.slow
def test_truth_layout_and_what_each_frame_shows(tiny: Tiny) -> None:
    spec, mp4, truth = tiny.spec, tiny.mp4, tiny.truth
    t = get_template(spec.template)
    with formats.open_file(truth, "truth") as f:
        acts, _ = formats.read_actions(f)
        trig = formats.read_triggers(f)
        ov = formats.read_overlay(f)
        meta = formats.read_meta(f)
        boxes = formats.read_bbox_per_frame(f)
        visible = formats.read_overlay_visible(f)
        game_index, games = formats.read_meta_array(f, "game_index")
        phase, phases = formats.read_meta_array(f, "phase")
        atlas = formats.read_atlas_png(f)
    n = spec.frames
    assert trig.shape == (n, 2) and boxes.shape == (n, 4) and visible.shape == (n,)
    for name, i in (("left_trigger", 0), ("right_trigger", 1)):
        assert np.array_equal(acts.button(name), trig[:, i] >= TRIGGER_THRESHOLD)
    # /overlay
    assert ov["found"] is True and ov["template"] == t.id and ov["layout"] == t.layout
    assert ov["shows"] == list(t.shows)
    assert ov["video"] == str(mp4.resolve())
    assert (ov["fps"], ov["frame_count"], ov["width"], ov["height"]) == (30, n, 640, 360)
    w0, h0 = (
        round(t.size[0] * spec.placements[0].scale),
        round(t.size[1] * spec.placements[0].scale),
    )
    w1, h1 = (
        round(t.size[0] * spec.placements[1].scale),
        round(t.size[1] * spec.placements[1].scale),
    )
    assert ov["bbox"] == [12, 250, w0, h0]  # the box most frames show (50 vs 40)
    assert np.allclose(ov["transform"], [[w0 / t.size[0], 0, 12], [0, h0 / t.size[1], 250]])
    assert ov["opacity"] == 0.8 and ov["scale"] == spec.placements[0].scale
    assert atlas == t.atlas_png
    # per frame: where the overlay is, and what was played
    assert np.array_equal(boxes[:50], np.tile([12, 250, w0, h0], (50, 1)))
    assert not boxes[50:80].any() and not visible[50:80].any()
    assert np.array_equal(boxes[80:], np.tile([470, 10, w1, h1], (40, 1)))
    assert visible[:50].all() and visible[80:].all()
    assert games == list(spec.games) and phases == list(corpus.PHASES)
    assert np.array_equal(game_index, np.repeat([0, 0, 0, 1, 1], [30, 20, 15, 15, 40]))
    assert np.array_equal(phase, np.repeat([PLAY, MENU, AFK, CARD, PLAY], [30, 20, 15, 15, 40]))
    idle = acts[50:80]
    assert not idle.buttons.any() and not idle.j_left.any() and not idle.j_right.any()
    menu = acts[30:50]
    assert menu.button("start")[0] and menu.button("start")[-1]  # opened and closed
    assert acts[:30].buttons.any() or acts[:30].j_left.any()  # the player plays
    assert acts[80:].buttons.any() or np.abs(acts[80:].j_left).sum() > 0
    # /meta
    assert meta["game"] == "nitrogen/Breakout-v0" and meta["games"] == list(spec.games)
    assert meta["fps"] == 30 and meta["canvas"] == [640, 360] and meta["crf"] == spec.crf
    assert meta["seed"] == spec.seed and meta["opacity"] == 0.8 and meta["player"] == "auto"
    assert set(meta["human"]) == set(spec.human)
    kinds = [e["kind"] for e in meta["events"]]
    for kind in ("menu", "afk", "card", "overlay_hidden", "overlay_moved", "switch"):
        assert kind in kinds
    assert meta["spec"] == json.loads(spec.to_json())


# -- a whole corpus: determinism, parallel runs, resume ----------------------------------
def datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


def content_attrs(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        ov = formats.read_overlay(f)
        ov.pop("video", None)
        return {"overlay": repr(ov), "meta": repr(formats.read_meta(f))}


def small_corpus(out: Path, seed: int, jobs: int) -> list[Path]:
    return corpus.make_corpus(
        "Breakout,DoomBasic",
        0.1,
        out,
        seed=seed,
        jobs=jobs,
        canvas=TINY,
        fps=30,
        video_seconds=(2.5, 3.5),
    )


@pytest.mark.slow
def test_same_seed_same_truth_whatever_the_jobs(tmp_path: Path) -> None:
    a = small_corpus(tmp_path / "a", 5, jobs=1)
    b = small_corpus(tmp_path / "b", 5, jobs=2)
    c = small_corpus(tmp_path / "c", 6, jobs=1)
    assert len(a) == len(b) >= 2 and [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b, strict=True):
        ta, tb = pa.with_name(pa.stem + ".truth.h5"), pb.with_name(pb.stem + ".truth.h5")
        da, db = datasets(ta), datasets(tb)
        assert da.keys() == db.keys()
        for name in da:
            assert np.array_equal(da[name], db[name]), name
        assert content_attrs(ta) == content_attrs(tb)
    tc = [p.with_name(p.stem + ".truth.h5") for p in c]
    ta = [p.with_name(p.stem + ".truth.h5") for p in a]
    assert any(
        not np.array_equal(datasets(x)["actions/buttons"], datasets(y)["actions/buttons"])
        or not np.array_equal(datasets(x)["actions/j_left"], datasets(y)["actions/j_left"])
        for x, y in zip(ta, tc, strict=False)
    )
    assert content_attrs(ta[0]) != content_attrs(tc[0])
    # A rerun keeps what is there.
    before = [p.stat().st_mtime_ns for p in a]
    assert small_corpus(tmp_path / "a", 5, jobs=1) == a
    assert [p.stat().st_mtime_ns for p in a] == before


# -- the script ------------------------------------------------------------------------
def base_python() -> str:
    """An interpreter outside the venv (the one the venv was made from)."""
    for cand in (
        Path(sys.base_prefix) / "bin" / "python3",
        Path(sys.base_prefix) / "bin" / "python",
    ):
        if cand.exists():
            return str(cand)
    pytest.skip("no interpreter outside the venv")


@pytest.mark.slow
def test_script_makes_videos_and_prints_their_paths(tmp_path: Path) -> None:
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in this checkout")
    out = tmp_path / "c"
    cmd = [
        base_python(),
        str(REPO / "tools" / "make-corpus"),
        "--games",
        "Pong",
        "--minutes",
        "0.05",
        "--out",
        str(out),
        "--seed",
        "2",
        "--canvas",
        "320x180",
        "--fps",
        "30",
        "-j",
        "1",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    assert lines == [str(out / "c2-0000.mp4")]
    assert (out / "c2-0000.truth.h5").is_file()
    assert "made in" in res.stderr
    again = subprocess.run([*cmd, "-q"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.split() == lines and again.stderr == ""


def test_script_usage_errors() -> None:
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in this checkout")
    res = subprocess.run(
        [
            base_python(),
            str(REPO / "tools" / "make-corpus"),
            "--games",
            "NoSuchGame",
            "--out",
            "/nonexistent/x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.startswith("Error: ") and "NoSuchGame" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_script_without_venv_says_make_install(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    shutil.copy(REPO / "tools" / "make-corpus", tools / "make-corpus")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    res = subprocess.run(
        [base_python(), str(tools / "make-corpus"), "--minutes", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert res.returncode == 2
    assert "make install" in res.stderr
