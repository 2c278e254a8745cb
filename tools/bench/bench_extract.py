"""Action extraction speed, against the floor: PyAV decoding the same file.

On 720p30 H.264 corpus videos (one overlay drawn opaque, one translucent), both measured
in the same run:
  - decode_fps: PyAV alone decoding every frame and converting it to RGB
    (thread_type="AUTO", frame.to_ndarray(format="rgb24"));
  - extract_fps: `extract()` on the same file (decode, crops, parsing, post-processing,
    writing the file), from the overlay file of its truth;
  - ratio = extract_fps / decode_fps (the goal: at least 0.7; the median of three
    alternated runs, each against the decodes either side of it), and the accuracy
    reached, so that speed is never bought with it.
The full run also measures peak memory (RSS) of extracting a one-hour 1080p video, made
by stream-copying a one-minute clip 60 times (PyAV remux, no re-encoding).

Run alone: `python tools/bench/bench_extract.py [--quick]`; `make bench` collects it.
`python tools/bench/bench_extract.py --skins [SECONDS] [--templates DIR] [--out DIR]` scores
every skin (built-in, and up to two per preset folder under DIR) on a short corpus video of
its own, from truth-built overlay files, and prints `nitrogen eval extraction`'s report
(per skin, seen and held out) as JSON; not part of `make bench` (some ten minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def decode_fps(path: Path) -> tuple[float, int]:
    """PyAV alone: every frame decoded (AUTO threads) and converted to RGB."""
    from nitrogen_cli import video

    t0 = time.perf_counter()
    n = video.decode_every_frame(path)
    return n / (time.perf_counter() - t0), n


def corpus_videos(out: Path, seconds: float, fps: int = 30) -> list[tuple[Path, Path, dict]]:
    """An opaque and a translucent overlay video, 1280x720 at `fps`, from the corpus."""
    from nitrogen_cli import corpus

    found: dict[bool, Any] = {}
    seed = 0
    while len(found) < 2 and seed < 50:
        specs = corpus.plan_corpus(
            ["DoomBasic", "Boxing"],
            minutes=2 * seconds / 60,
            seed=100 + seed,
            canvas=(1280, 720),
            fps=fps,
            video_seconds=(seconds, seconds),
        )
        for s in specs:
            if s.template is None or len(s.placements) != 1:
                continue
            key = s.opacity >= 1.0
            if key not in found:
                found[key] = s
        seed += 1
    made = []
    for _, spec in sorted(found.items()):
        mp4, truth = corpus.make_video(spec, out, command="bench")
        made.append((mp4, truth, {"template": spec.template, "opacity": spec.opacity}))
    return made


def measure(mp4: Path, truth: Path, out: Path, repeats: int = 3) -> dict[str, Any]:
    """Decode and extraction alternated `repeats` times; the ratio is the median of each
    extraction against the mean of the decodes either side of it (single runs on a
    shared 2-core machine spread by about 0.1)."""
    import statistics

    from nitrogen_cli import eval_extraction as ee
    from nitrogen_cli.parser import extract as ex
    from nitrogen_cli.parser.model import load
    from nitrogen_cli.parser.oracle import overlay_from_truth

    ov = overlay_from_truth(truth, out / f"{mp4.stem}.overlay.h5")
    net = load()
    dec, n = decode_fps(mp4)
    decs, exts, ratios = [dec], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = ex.extract(ov, out / f"{mp4.stem}.actions.h5", net=net)
        exts.append(n / (time.perf_counter() - t0))
        decs.append(decode_fps(mp4)[0])  # the machine may have been busier at one time
        ratios.append(exts[-1] / ((decs[-2] + decs[-1]) / 2))
    dec, ext = statistics.median(decs), statistics.median(exts)
    rep = ee.evaluate([ee.load_pair(result.path, truth)])["overall"]
    return {
        "frames": n,
        "decode_fps": round(dec, 1),
        "extract_fps": round(ext, 1),
        "ratio": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "crops_reused": round(result.stats.get("reused", 0.0), 3),
        "button_accuracy": rep["button_accuracy"],
        "stick_r2_mean": rep["stick_r2_mean"],
    }


def hour_rss(out: Path) -> dict[str, Any]:
    """Peak RSS of extracting one hour of 1080p30 (a 1-minute corpus clip, 60 times)."""
    from nitrogen_cli import corpus, video
    from nitrogen_cli.parser.oracle import overlay_from_truth

    spec = None
    for seed in range(200, 260):
        for s in corpus.plan_corpus(
            ["DoomBasic"], 1, seed=seed, canvas=(1920, 1080), fps=30, video_seconds=(60, 60)
        ):
            if s.template is not None and len(s.placements) == 1:
                spec = s
                break
        if spec:
            break
    assert spec is not None
    mp4, truth = corpus.make_video(spec, out, command="bench")
    hour = video.stream_copy(mp4, out / "hour.mp4", 60)
    ov = overlay_from_truth(truth, out / "hour.overlay.h5")
    import h5py

    with h5py.File(ov, "a") as f:  # the overlay now points at the hour-long file
        f["overlay"].attrs["video"] = str(hour.resolve())
        f["overlay"].attrs["frame_count"] = 60 * spec.frames
        f.attrs["nitrogen_inputs"] = json.dumps([])
    # the real CLI, as a child of a Python that reports its children's peak RSS
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.time()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(p.stderr)\n"
        "print(p.stdout.strip(), time.time() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(p.returncode)\n"
    )
    cli = [str(Path(sys.executable).with_name("nitrogen")), "extract-actions", "-q"]
    p = subprocess.run(
        [sys.executable, "-c", code, *cli, str(ov), "-o", str(out / "hour")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if p.returncode:
        raise RuntimeError(p.stderr[-2000:])
    written, seconds, kb = p.stdout.split()[-3:]
    import numpy as np

    from nitrogen_cli import formats

    with formats.open_file(written, "actions") as f:
        frames = len(f["actions/frame_index"])
        valid = formats.read_valid(f)
    decoded = frames if valid is None else int(np.sum(valid))
    return {
        "frames": int(frames),
        "decoded": int(decoded),
        "seconds": round(float(seconds), 1),
        "peak_rss_mb": round(int(kb) / 1024, 1),
    }


def skin_quality(out: Path, seconds: float, dirs: tuple[str, ...]) -> dict[str, Any]:
    """One `seconds`-long 1280x720 corpus video per skin, extracted through the CLI from a
    truth-built overlay file, scored against its truth."""
    import dataclasses

    import numpy as np

    from nitrogen_cli import corpus, overlays
    from nitrogen_cli import eval_extraction as ee
    from nitrogen_cli.parser.oracle import overlay_from_truth

    templates = overlays.load_templates(dirs, True)
    per_group: dict[str, int] = {}
    chosen = []
    for t in templates:
        if not (t.id.startswith("builtin/") or t.shows):
            continue
        group = t.id if t.id.startswith("builtin/") else t.id.split("/")[0]
        per_group[group] = per_group.get(group, 0) + 1
        if per_group[group] <= 2:
            chosen.append(t)
    games = ["DoomBasic", "Boxing", "Breakout", "MsPacman", "Enduro"]
    bases = [
        s
        for s in corpus.plan_corpus(
            games,
            40,
            seed=7,
            templates=dirs,
            canvas=(1280, 720),
            fps=30,
            video_seconds=(seconds, seconds),
        )
        if s.template is not None and len(s.placements) == 1
    ]
    overlays_made = []
    for n, t in enumerate(chosen):
        base = bases[n % len(bases)]
        place = corpus._placement(np.random.default_rng([99, n]), t.size, base.canvas, None)
        spec = dataclasses.replace(
            base,
            id=f"q-{n:03d}",
            k=1000 + n,
            template=t.id,
            placements=(place,),
            template_dirs=dirs,
        )
        if corpus.is_done(spec, out / "corpus"):  # a kept corpus (--out) is reused
            truth = corpus.paths(spec, out / "corpus")[1]
        else:
            _, truth = corpus.make_video(spec, out / "corpus", command="bench")
        ov = out / "ov" / f"{spec.id}.overlay.h5"
        overlays_made.append(ov if ov.is_file() else overlay_from_truth(truth, ov))
    cli = [str(Path(sys.executable).with_name("nitrogen")), "extract-actions", "-q", "-f"]
    p = subprocess.run(
        [*cli, *map(str, overlays_made), "-o", str(out / "act")], capture_output=True, text=True
    )
    if p.returncode:
        raise RuntimeError(p.stderr[-2000:])
    return ee.evaluate_files(p.stdout.split(), truth_dir=out / "corpus")


def run(quick: bool = False) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nitrogen-bench-extract-") as tmp:
        d = Path(tmp)
        for mp4, truth, info in corpus_videos(d, 10.0 if quick else 20.0):
            key = "opaque" if info["opacity"] >= 1 else "translucent"
            out[key] = {**info, **measure(mp4, truth, d)}
        ratios = [v["ratio"] for v in out.values()]
        out["ratio_min"] = min(ratios) if ratios else None
        if not quick:
            out["hour_1080p"] = hour_rss(d)
    return out


if __name__ == "__main__":
    if "--skins" in sys.argv:
        args = [a for a in sys.argv[1:] if a != "--skins"]
        dirs = tuple(args[i + 1] for i, a in enumerate(args) if a == "--templates")
        nums = [a for a in args if a.replace(".", "").isdigit()]
        keep = [args[i + 1] for i, a in enumerate(args) if a == "--out"]
        if keep:  # the corpus and overlay files stay there, and a rerun reuses them
            report = skin_quality(Path(keep[0]), float(nums[0]) if nums else 10.0, dirs)
        else:
            with tempfile.TemporaryDirectory(prefix="nitrogen-bench-skins-") as tmp:
                report = skin_quality(Path(tmp), float(nums[0]) if nums else 10.0, dirs)
        print(json.dumps(report, indent=2))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
