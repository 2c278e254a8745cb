"""How well extract-actions read the overlays: actions files scored against corpus truth.

    report = evaluate_files(["c0-0001.actions.h5", ...], truth_dir="corpus/")
    report["overall"]["button_accuracy"], report["overall"]["stick_r2"]["lx"]

Scored frames: those the extraction decoded, where the truth shows the overlay at the
placement the actions file read (an overlay that moved elsewhere or vanished cannot be
read there; those frames are counted, not scored). Figures:
  - stick R² per axis (lx, ly, rx, ry), over the frames of templates that show the stick
    (nan for an axis the truth hardly moves: variance under MIN_VARIANCE, where R²
    measures only the reading's noise against the player's jitter; `stick_r2_raw` has
    them all);
  - button accuracy: the share of (frame, shown button) pairs read right; and the share
    of frames with every shown button right;
  - F1 per button (with its count of pressed frames), so that a rare button cannot hide
    behind the many frames where nothing is pressed;
  - the same per skin (template id), and over the skins the parser saw in training and
    those it never saw (the actions files record which skin groups were held out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_cli import formats
from nitrogen_cli.actions import BUTTONS, ELEMENTS, N_BUTTONS, STICKS, Actions
from nitrogen_cli.batch import NitrogenError, base_name

AXES = ("lx", "ly", "rx", "ry")
MIN_SUPPORT = 5  # pressed frames a button needs for its F1 to count in "min F1"
# An axis whose truth varies less than this (sd 0.1) is not scored: its R² is nan in the
# tables. There the player only jitters (a pushed stick's noise is sd 0.04) and R² would
# weigh sub-pixel reading noise against that tremor; `stick_r2_raw` keeps it anyway.
MIN_VARIANCE = 0.01


@dataclass
class Pair:
    """One video: what was read, what was true, and which frames and elements count."""

    id: str
    skin: str
    pred: Actions
    true: Actions
    scored: np.ndarray  # (N,) bool
    shown: np.ndarray  # (19,) bool over ELEMENTS
    frames: int  # rows of the truth
    held_out: bool | None = None  # was the skin's group left out of the parser's training?
    note: str = ""


def find_truth(actions_path: str | Path, truth_dir: str | Path) -> Path:
    return formats.find_truth(actions_path, truth_dir, "actions")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) with one box b (4,) or row by row with b (N, 4), [x, y, w, h]."""
    b = np.broadcast_to(b, a.shape)
    x0 = np.maximum(a[:, 0], b[:, 0])
    y0 = np.maximum(a[:, 1], b[:, 1])
    x1 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y1 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def load_pair(actions_path: str | Path, truth_path: str | Path) -> Pair:
    with formats.open_file(actions_path, "actions") as f:
        pred, pidx = formats.read_actions(f)
        valid = formats.read_valid(f)
        shown = formats.read_shown(f)
        ov = formats.read_overlay(f)
        read_at = formats.read_bbox_per_frame(f)  # where each frame was read, if it moved
        parser = formats.read_meta(f).get("parser") or {}
    with formats.open_file(truth_path, "truth") as f:
        true, tidx = formats.read_actions(f)
        tov = formats.read_overlay(f)
        visible = formats.read_overlay_visible(f)
        boxes = formats.read_bbox_per_frame(f)
    n = len(true)
    if len(tidx) and not np.array_equal(tidx, np.arange(n)):
        raise NitrogenError("truth frame_index is not 0..N-1")
    # the prediction on the truth's frame grid (first row per frame)
    at = np.full(n, -1, np.int64)
    ok = (pidx >= 0) & (pidx < n)
    if valid is not None:
        ok &= valid
    order = np.flatnonzero(ok)[::-1]
    at[pidx[order]] = order
    has = at >= 0
    p = Actions.zeros(n)
    p.buttons[has] = pred.buttons[at[has]]
    p.j_left[has] = pred.j_left[at[has]]
    p.j_right[has] = pred.j_right[at[has]]
    scored = has.copy()
    if visible is not None and len(visible) == n:
        scored &= visible
    bbox = ov.get("bbox")
    if boxes is not None and len(boxes) == n and bbox is not None:
        at_box = np.asarray(bbox, np.float64)
        if read_at is not None and len(read_at) >= n:
            at_box = read_at[:n]
        scored &= _iou(boxes, at_box) > 0.5
    if shown is None:
        tshows = tov.get("shows")
        shown = np.array([e in set(tshows) for e in ELEMENTS]) if tshows else np.ones(19, bool)
    note = ""
    if tov.get("template") and ov.get("template") != tov.get("template"):
        note = f"read as {ov.get('template')}, truth {tov.get('template')}"
    skin = str(tov.get("template") or ov.get("template") or "?")
    held_out = new_to_parser(parser, skin)
    shown = np.asarray(shown, bool)
    return Pair(base_name(truth_path), skin, p, true, scored, shown, n, held_out, note)


def new_to_parser(parser: Any, skin: str) -> bool | None:
    """Whether the parser never trained on this skin's group: held out of its training,
    or not among its templates at all (an input-overlay preset it was never given); None
    where the actions file does not say."""
    if not isinstance(parser, dict):
        return None
    if isinstance(parser.get("trained"), list):
        return skin_group(skin) not in set(parser["trained"])
    held = parser.get("held_out")
    return None if held is None else skin_group(skin) in set(held)


def skin_group(template_id: str) -> str:
    """`builtin/<family>` for a built-in skin, the preset folder otherwise (the groups the
    parser's training holds out)."""
    head, _, rest = template_id.partition("/")
    return f"builtin/{rest.split('-')[0]}" if head == "builtin" else head


# -- figures -----------------------------------------------------------------------------------
def _r2(pred: np.ndarray, true: np.ndarray, floor: float = MIN_VARIANCE) -> float:
    if len(true) < 2 or float(true.var()) < max(floor, 1e-9):
        return float("nan")
    sst = float(((true - true.mean()) ** 2).sum())
    return 1.0 - float(((pred - true) ** 2).sum()) / sst


def figures(pairs: Sequence[Pair]) -> dict[str, Any]:
    """Every figure over the pairs pooled (frames of all pairs together)."""
    ok_b, tot_b, exact, frames = 0, 0, 0, 0
    tp = np.zeros(N_BUTTONS)
    fp = np.zeros(N_BUTTONS)
    fn = np.zeros(N_BUTTONS)
    support = np.zeros(N_BUTTONS, np.int64)
    seen = np.zeros(N_BUTTONS, bool)
    axes: dict[str, tuple[list, list]] = {a: ([], []) for a in AXES}
    for p in pairs:
        m = p.scored
        if not m.any():
            continue
        sb = p.shown[:N_BUTTONS]
        pb, tb = p.pred.buttons[m][:, sb], p.true.buttons[m][:, sb]
        ok_b += int((pb == tb).sum())
        tot_b += int(pb.size)
        exact += int((pb == tb).all(axis=1).sum())
        frames += int(m.sum())
        pf, tf = p.pred.buttons[m], p.true.buttons[m]
        tp[sb] += (pf & tf).sum(0)[sb]
        fp[sb] += (pf & ~tf).sum(0)[sb]
        fn[sb] += (~pf & tf).sum(0)[sb]
        support[sb] += tf.sum(0)[sb]
        seen |= sb
        for k, stick in enumerate(STICKS):
            if not p.shown[N_BUTTONS + k]:
                continue
            pv = p.pred.j_left if stick == "j_left" else p.pred.j_right
            tv = p.true.j_left if stick == "j_left" else p.true.j_right
            for j in range(2):
                axes[AXES[2 * k + j]][0].append(pv[m, j])
                axes[AXES[2 * k + j]][1].append(tv[m, j])
    f1: dict[str, Any] = {}
    for i, b in enumerate(BUTTONS):
        if not seen[i]:
            continue
        denom = 2 * tp[i] + fp[i] + fn[i]
        f1[b] = {
            "f1": float(2 * tp[i] / denom) if denom else float("nan"),
            "pressed": int(support[i]),
            "predicted": int(tp[i] + fp[i]),
        }
    r2 = {
        a: _r2(np.concatenate(v[0]), np.concatenate(v[1])) if v[0] else float("nan")
        for a, v in axes.items()
    }
    raw = {
        a: _r2(np.concatenate(v[0]), np.concatenate(v[1]), 0.0) if v[0] else float("nan")
        for a, v in axes.items()
    }
    counted = [v["f1"] for v in f1.values() if v["pressed"] >= MIN_SUPPORT]
    finite = [v for v in r2.values() if np.isfinite(v)]
    return {
        "frames": frames,
        "button_accuracy": ok_b / tot_b if tot_b else float("nan"),
        "frame_accuracy": exact / frames if frames else float("nan"),
        "min_f1": float(np.nanmin(counted)) if counted else float("nan"),
        "stick_r2": r2,
        "stick_r2_raw": raw,
        "stick_r2_mean": float(np.mean(finite)) if finite else float("nan"),
        "f1": f1,
    }


def evaluate(pairs: Sequence[Pair]) -> dict[str, Any]:
    skins: dict[str, list[Pair]] = {}
    for p in pairs:
        skins.setdefault(p.skin, []).append(p)
    out: dict[str, Any] = {"overall": figures(pairs)}
    for label, flag in (("seen", False), ("held_out", True)):
        part = [p for p in pairs if p.held_out is flag]
        if part:
            out[label] = figures(part)
    return {
        **out,
        "skins": {s: figures(ps) for s, ps in sorted(skins.items())},
        "held_out_skins": sorted({p.skin for p in pairs if p.held_out}),
        "videos": [
            {
                "id": p.id,
                "skin": p.skin,
                "frames": p.frames,
                "scored": int(p.scored.sum()),
                **({"note": p.note} if p.note else {}),
            }
            for p in pairs
        ],
    }


def evaluate_files(actions: Sequence[str | Path], truth_dir: str | Path) -> dict[str, Any]:
    return evaluate([load_pair(a, find_truth(a, truth_dir)) for a in actions])


def skin_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The per-skin table, then `seen`, `held_out` (skins the parser never trained on, when
    the actions files say) and `all` rows: what `nitrogen eval extraction` prints."""
    cols = ["skin", "held_out", "frames", "button_acc", "frame_acc", "min_f1"]
    cols += [f"r2_{a}" for a in AXES]
    held = set(report.get("held_out_skins", []))
    totals = [(k, report[k]) for k in ("seen", "held_out") if k in report]
    rows = []
    for name, f in [*report["skins"].items(), *totals, ("all", report["overall"])]:
        mark = name in held if name in report["skins"] else "-"
        rows.append(
            [
                name,
                mark,
                f["frames"],
                f["button_accuracy"],
                f["frame_accuracy"],
                f["min_f1"],
                *[f["stick_r2"][a] for a in AXES],
            ]
        )
    return cols, rows


def button_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    cols = ["button", "f1", "pressed", "predicted"]
    rows = [[b, v["f1"], v["pressed"], v["predicted"]] for b, v in report["overall"]["f1"].items()]
    return cols, rows
