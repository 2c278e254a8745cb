"""`nitrogen train`: the loss falls, a killed run resumes exactly, DDP equals one process,
--init fine-tunes, and bad input gets one line. All at the tiny preset on toy datasets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from nitrogen_cli.cli import app
from nitrogen_cli.policy import checkpoint as ckpt
from nitrogen_cli.policy.toy import write_toy
from nitrogen_cli.policy.train import (
    METRICS,
    TrainConfig,
    WarmupStableDecay,
    train,
    usable_samples,
)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")
# Small and fast: 8 global samples a step, no augmentation unless a test wants it.
FAST = ["--preset", "tiny", "-b", "8", "--lr", "2e-3", "--warmup", "5", "-q"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy(
        tmp_path_factory.mktemp("toy") / "toy.dataset.h5", n_frames=48, segment_len=24, scenes=2
    )


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def weights(path: Path, name: str = ckpt.MODEL) -> dict[str, torch.Tensor]:
    return load_file(ckpt.resolve(path) / name)


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert set(a) == set(b)
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def env(threads: int | None = None) -> dict[str, str]:
    """A subprocess computes with as many threads as this process (bit-exact resumes)."""
    n = threads if threads is not None else torch.get_num_threads()
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(n))


@pytest.mark.slow
def test_loss_falls_tenfold(toy: Path, tmp_path: Path) -> None:
    # Measured: the ratio is 0.024-0.026 for this and two other toy seeds (lr 3e-3 and
    # 250 steps gave 0.027-0.073, too near the bound).
    args = ["train", str(toy), "-o", str(tmp_path / "run"), *FAST, "-b", "32", "--lr", "2e-3",
            "--max-steps", "300", "--decay", "0.5", "--no-augment", "--log-every", "25",
            "--save-every", "300"]  # fmt: skip
    code, out, err = cli(*args)
    assert code == 0, err
    final = Path(out.strip().splitlines()[-1])
    assert final == ckpt.step_dir(tmp_path / "run", 300) and (final / ckpt.EMA).is_file()
    assert (tmp_path / "run" / "last").resolve() == final
    records = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records] == list(range(25, 301, 25))
    assert all(r["samples_per_s"] > 0 and np.isfinite(r["loss"]) for r in records)
    # The mean loss of the last 25 steps against that of the first 25.
    assert records[-1]["loss"] < records[0]["loss"] / 10, [r["loss"] for r in records]
    # Rerunning a finished run does nothing and names the same checkpoint.
    code, out2, _ = cli(*args)
    assert code == 0 and out2 == out


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_parameters(toy: Path, tmp_path: Path) -> None:
    steps = ["--max-steps", "8", "--save-every", "1", "--log-every", "1", "--keep", "2"]
    args = ["train", str(toy), *FAST, *steps]
    # The uninterrupted run, in this process.
    code, _, err = cli(*args, "-o", str(tmp_path / "whole"))
    assert code == 0, err
    # The same command in a subprocess, killed once it has written step 2 (six steps,
    # each with a checkpoint, before it would end), then rerun.
    cmd = [sys.executable, "-m", "nitrogen_cli", *args, "-o", str(tmp_path / "cut")]
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not ckpt.step_dir(tmp_path / "cut", 2).exists():
        assert proc.poll() is None and time.time() < deadline, (
            proc.stderr.read().decode() if proc.stderr else ""
        )
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = ckpt.last(tmp_path / "cut")
    assert done is not None and int(done.name.split("-")[1]) < 8, "killed too late"
    code, out, err = cli(*args, "-o", str(tmp_path / "cut"))
    assert code == 0, err
    assert Path(out.strip().splitlines()[-1]) == ckpt.step_dir(tmp_path / "cut", 8)
    for name in (ckpt.MODEL, ckpt.EMA):
        assert max_diff(weights(tmp_path / "whole", name), weights(tmp_path / "cut", name)) <= 1e-5
    steps_logged = [
        json.loads(x)["step"] for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps_logged == list(range(1, 9))
    assert len(list((tmp_path / "cut" / "checkpoints").glob("step-*"))) == 2  # --keep 2


@pytest.mark.slow
def test_two_process_gloo_ddp_matches_one_process(toy: Path, tmp_path: Path) -> None:
    args = [str(toy), *FAST, "--max-steps", "4", "--save-every", "4", "--accum", "2"]
    code, _, err = cli("train", *args, "-o", str(tmp_path / "one"))
    assert code == 0, err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(port),
           "-m", "nitrogen_cli", "train", *args, "-o", str(tmp_path / "two")]  # fmt: skip
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Only rank 0 prints, and it prints the final checkpoint.
    assert proc.stdout.strip().splitlines() == [str(ckpt.step_dir(tmp_path / "two", 4))]
    assert json.loads((ckpt.step_dir(tmp_path / "two", 4) / ckpt.TRAIN).read_text())["world"] == 2
    diff = max_diff(weights(tmp_path / "one"), weights(tmp_path / "two"))
    # Float sums in another order (gloo's all-reduce against local accumulation): 1.1e-5
    # after 4 Adam steps on the 2026-12-05 machine, under 1e-5 on the earlier one. An
    # Adam step moves a weight by about the learning rate: 4e-4 to 1.6e-3 here (2e-3,
    # warming up over 5 steps), so unsynced ranks would sit far above this bound.
    assert diff <= 5e-5, diff
    assert (
        max_diff(weights(tmp_path / "one"), weights(tmp_path / "two", ckpt.EMA)) > 0
    )  # EMA differs


def test_init_fine_tunes_with_a_frozen_encoder(toy: Path, tmp_path: Path) -> None:
    code, out, err = cli("train", str(toy), "-o", str(tmp_path / "a"), *FAST, "--max-steps", "2")
    assert code == 0, err
    start = Path(out.strip())
    code, out, err = cli(
        "train",
        str(toy),
        "-o",
        str(tmp_path / "b"),
        *FAST[2:],
        "--max-steps",
        "2",
        "--init",
        str(tmp_path / "a"),
        "--init-weights",
        "model",
        "--freeze-encoder",
    )
    assert code == 0, err
    before, after = weights(start), weights(Path(out.strip()))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert not torch.equal(before["dit.proj_out.weight"], after["dit.proj_out.weight"])
    assert ckpt.read_meta(Path(out.strip()))["model"].extra["trained_from"] == str(start)


def one_line_error(code: int, err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    for w in words:
        assert w in lines[0], lines[0]


def test_bad_input_gets_one_line(toy: Path, tmp_path: Path) -> None:
    run = str(tmp_path / "r")
    # An empty dataset list.
    result = CliRunner().invoke(app, ["train", "-o", run, "--preset", "tiny"], input="")
    one_line_error(result.exit_code, result.stderr, "no dataset files")
    # A dataset whose action layout is not the contract's.
    bad = write_toy(tmp_path / "bad.dataset.h5", n_frames=8)
    with h5py.File(bad, "r+") as f:  # a 16-button layout, as from a foreign tool
        del f["actions/buttons"]
        f["actions/buttons"] = np.zeros((8, 16), bool)
    code, _, err = cli("train", str(bad), "-o", run, *FAST)
    one_line_error(code, err, str(bad), "(N, 17)")
    # Datasets at different frame rates, unless --fps resamples them.
    other = write_toy(tmp_path / "fast.dataset.h5", n_frames=16, fps=60.0)
    code, _, err = cli("train", str(toy), str(other), "-o", run, *FAST)
    one_line_error(code, err, "frame rate", "--fps")
    # A corrupt checkpoint.
    code, out, err = cli("train", str(toy), "-o", str(tmp_path / "a"), *FAST, "--max-steps", "1")
    assert code == 0, err
    broken = Path(out.strip())
    data = (broken / ckpt.EMA).read_bytes()
    (broken / ckpt.EMA).write_bytes(data[: len(data) // 2])
    code, _, err = cli(
        "train", str(toy), "-o", str(tmp_path / "b"), *FAST[2:], "--init", str(broken)
    )
    one_line_error(code, err, "damaged weights file")
    # An --init that does not fit the preset asked for.
    (broken / ckpt.EMA).write_bytes(data)
    code, _, err = cli(
        "train", str(toy), "-o", str(tmp_path / "c"), "--preset", "small", "--init", str(broken)
    )
    one_line_error(code, err, "incompatible", "--preset small")
    # A rerun into a run directory with different settings.
    code, _, err = cli(
        "train", str(toy), "-o", str(tmp_path / "a"), *FAST, "--max-steps", "1", "--seed", "5"
    )
    one_line_error(code, err, "different run", "seed")
    # Segments shorter than the shift: no frame has an action in reach.
    short = write_toy(tmp_path / "short.dataset.h5", n_frames=8, segment_len=2)
    code, _, err = cli("train", str(short), "-o", run, *FAST, "--shift", "3")
    one_line_error(code, err, "no frame has an action", "shift 3")
    assert not Path(run).exists()  # refused runs leave nothing behind


def test_frames_past_the_shift_are_left_out(tmp_path: Path) -> None:
    """With a shift, a segment's last frames see only padding: they are not trained on."""
    from nitrogen_cli.dataset import ChunkDataset

    data = write_toy(tmp_path / "toy.dataset.h5", n_frames=24, segment_len=6)
    ds = ChunkDataset([data, data], chunk=4, shift=3)
    kept = usable_samples(ds)
    assert kept.tolist() == [i for i in range(len(ds)) if ds[i]["mask"].any()]
    assert len(kept) == 2 * 4 * 3  # 2 files x 4 segments x (6 - 3) frames
    cfg = TrainConfig([str(data)], str(tmp_path / "r"), preset="tiny", max_steps=3,
                      batch_size=8, shift=3, save_every=3, log_every=1)  # fmt: skip
    train(cfg)
    losses = [json.loads(x)["loss"] for x in (tmp_path / "r" / METRICS).read_text().splitlines()]
    assert len(losses) == 3 and all(np.isfinite(losses))


def test_fps_resampling_and_bf16_run(toy: Path, tmp_path: Path) -> None:
    other = write_toy(tmp_path / "fast.dataset.h5", n_frames=16, fps=60.0)
    cfg = TrainConfig([str(toy), str(other)], str(tmp_path / "r"), preset="tiny", max_steps=2,
                      batch_size=4, fps=30.0, bf16=True, save_every=2)  # fmt: skip
    final = train(cfg)
    meta = ckpt.read_meta(final)
    assert meta["model"].fps == 30.0 and meta["step"] == 2
    with h5py.File(other) as f:
        assert len(f["frames"]) == 16  # the file itself is left alone


def test_schedule_and_a_longer_rerun(toy: Path, tmp_path: Path) -> None:
    wsd = WarmupStableDecay(warmup=2, total=10, decay_steps=4)
    assert [round(wsd(s), 3) for s in range(10)] == [0.5, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25]
    args = ["train", str(toy), "-o", str(tmp_path / "r"), *FAST, "--warmup", "1", "--decay", "0.5"]
    assert cli(*args, "--max-steps", "2", "--log-every", "1")[0] == 0
    # The same run, asked for more steps, goes on under the longer run's schedule.
    code, _, err = cli(*args, "--max-steps", "6", "--log-every", "1")
    assert code == 0, err
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert len(lrs) == 6
    assert lrs[2:] == pytest.approx([2e-3 * WarmupStableDecay(1, 6, 3)(s) for s in range(3, 7)])
