"""`nitrogen train DATASET.h5... -o RUN_DIR`: behaviour-clone the NitroGen policy."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nitrogen_cli.batch import Inputs, Quiet, Reporter, Verbose, emit, read_inputs
from nitrogen_cli.policy import PRESET_NAMES

Preset = Enum(  # type: ignore[misc]
    "Preset", {name.replace("-", "_"): name for name in PRESET_NAMES}, type=str
)


class InitWeights(str, Enum):
    ema = "ema"
    model = "model"


def train_command(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", file_okay=False, help="The run directory (created; rerun resumes)."
        ),
    ],
    datasets: Inputs = None,
    preset: Annotated[
        Preset | None,
        typer.Option(help="Model size: tiny (tests), small (CPU default), nitrogen-500m (GPUs)."),
    ] = None,
    max_steps: Annotated[int, typer.Option(min=1, help="Optimizer steps in all.")] = 1000,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", min=1, help="Global batch per optimizer step.")
    ] = 32,
    accum: Annotated[
        int, typer.Option(min=1, help="Gradient accumulation micro-steps per optimizer step.")
    ] = 1,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (AdamW).")] = 1e-4,
    weight_decay: Annotated[float, typer.Option(min=0.0, help="AdamW weight decay.")] = 1e-3,
    warmup: Annotated[
        int | None, typer.Option(min=0, help="Warmup steps. Default: 5% of --max-steps, <= 1000.")
    ] = None,
    decay: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Fraction of steps in the final LR decay.")
    ] = 0.2,
    ema_decay: Annotated[float, typer.Option(min=0.0, max=1.0, help="EMA decay.")] = 0.9999,
    seed: Annotated[int, typer.Option(help="Seeds the model, the data order and the noise.")] = 0,
    chunk: Annotated[
        int | None, typer.Option(min=1, help="Actions per chunk (default 16; the release used 18).")
    ] = None,
    shift: Annotated[
        int | None, typer.Option(help="A frame's chunk starts at its action + SHIFT (default 0).")
    ] = None,
    fps: Annotated[
        float | None, typer.Option(min=0.1, help="Resample datasets to this frame rate.")
    ] = None,
    bf16: Annotated[
        bool | None,
        typer.Option(
            "--bf16/--no-bf16", help="bf16 autocast. Default: on CUDA with bf16, off on CPU."
        ),
    ] = None,
    no_augment: Annotated[
        bool, typer.Option("--no-augment", help="No colour jitter, rotations or crops.")
    ] = False,
    save_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps.")] = 500,
    keep: Annotated[int, typer.Option(min=1, help="Checkpoints to keep.")] = 3,
    log_every: Annotated[int, typer.Option(min=1, help="Log metrics every N steps.")] = 10,
    workers: Annotated[
        int | None, typer.Option(min=0, help="DataLoader workers. Default: 0 on CPU, 4 on CUDA.")
    ] = None,
    init: Annotated[
        Path | None, typer.Option(help="Fine-tune from this checkpoint (or run directory).")
    ] = None,
    init_weights: Annotated[
        InitWeights, typer.Option(help="Which weights of --init to start from.")
    ] = InitWeights.ema,
    freeze_encoder: Annotated[
        bool, typer.Option("--freeze-encoder", help="Train all but the vision encoder.")
    ] = False,
    encoder_path: Annotated[
        Path | None,
        typer.Option(help="A local SigLIP / SigLIP-2 folder to use as the vision encoder."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Train the NitroGen policy on dataset files by behaviour cloning (flow matching).

    Writes checkpoints under RUN_DIR/checkpoints with RUN_DIR/last naming the newest, and
    RUN_DIR/metrics.jsonl. The same command, rerun, resumes the run. Under torchrun it
    trains on every process (DDP). The last line on stdout is the final checkpoint.
    """
    from nitrogen_cli.policy.train import TrainConfig, train

    reporter = Reporter(quiet, verbose)
    try:
        paths = read_inputs(datasets)
    except typer.BadParameter as exc:
        reporter.error(None, str(exc))
        raise typer.Exit(2) from None
    if not paths:
        reporter.error(None, "no dataset files given: name them, or pipe their paths on stdin")
        raise typer.Exit(2)
    cfg = TrainConfig(
        datasets=paths,
        out=str(output),
        preset=preset.value if preset is not None else None,
        max_steps=max_steps,
        batch_size=batch_size,
        accum=accum,
        lr=lr,
        weight_decay=weight_decay,
        warmup=warmup,
        decay=decay,
        ema_decay=ema_decay,
        seed=seed,
        chunk=chunk,
        shift=shift,
        fps=fps,
        bf16=bf16,
        augment=not no_augment,
        save_every=save_every,
        keep=keep,
        log_every=log_every,
        workers=workers,
        init=str(init) if init is not None else None,
        init_ema=init_weights == InitWeights.ema,
        freeze_encoder=freeze_encoder,
        encoder_path=str(encoder_path) if encoder_path is not None else None,
        device=device,
    )
    try:
        final = train(cfg, reporter)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:
        reporter.error(None, exc)
        raise typer.Exit(1) from None
    if int(os.environ.get("RANK", "0")) == 0:
        emit(final)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
