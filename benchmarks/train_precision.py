"""Training speed and accuracy by precision: fp32 vs bf16 (and channels-last, torch.compile) on this machine.

    python -m benchmarks.train_precision                      # both parts
    python -m benchmarks.train_precision --skip-accuracy --variants fp32,bf16,fp32+cl,fp32+compile

Part 1, speed: whole CycleGAN training steps (G and F updated, then D_X and D_Y) of resnet_9blocks
at 256x256 and resnet_6blocks at 128x128, batch 1, ngf = ndf = 64, on random images: after warm-up
steps (whose wall time is reported: with torch.compile it is the compile time), the median wall
seconds and the median CPU seconds of the same timed steps (this process's CPU time: other jobs on
a shared machine disturb it far less; with one thread it is the work done), and the peak resident
memory. Each case runs in its own process, so peak RSS is that case's alone.
Part 2, accuracy: the built-in known-answer run for the same number of steps in fp32 and in bf16,
over several seeds (benchmarks.precision_accuracy): bf16's mean PSNR must be within 0.5 dB of fp32's.
Report the ratios: the machine may be shared, so absolute times vary between runs.
"""
from __future__ import annotations

import json
import resource
import time

import click
import torch

from cgan.train.config import make_config
from cgan.train.precision import cpu_bf16_flag
from cgan.train.session import start_session

from .child import run_json
from .precision_accuracy import format_run, study, summary
from .timing import median_wall_and_cpu_seconds

MODELS = ("resnet_9blocks@256", "resnet_6blocks@128")  # GENERATOR@SIZE
# variant name -> config overrides
VARIANTS = {
    "fp32": {"precision": "fp32"},
    "auto": {"precision": "auto"},
    "bf16": {"precision": "bf16"},
    "fp32+cl": {"precision": "fp32", "channels_last": True},
    "bf16+cl": {"precision": "bf16", "channels_last": True},
    "fp32+compile": {"precision": "fp32", "compile": True},
    "bf16+compile": {"precision": "bf16", "compile": True},
}


def time_case(model: str, variant: str, repeats: int, ngf: int = 64, threads: int | None = None,
              warmup: int | None = None) -> dict:
    """Seconds per training step of one model ("GENERATOR@SIZE") and variant, in this process: wall time
    (s_per_step) and this process's CPU time (cpu_s_per_step) of the same steps. `warmup` untimed steps
    come first (default 1, 2 with torch.compile); 0 suits cases whose one step takes minutes."""
    if threads:
        torch.set_num_threads(threads)
    generator, size = model.split("@")[0], int(model.split("@")[1])
    config = make_config({}, {"generator": generator, "crop_size": size, "load_size": size, "ngf": ngf, "ndf": ngf,
                              "device": "cpu", "data": None, **VARIANTS[variant]})
    session = start_session(config)
    trainer = session.build_trainer(config)
    trainer.train()
    g = torch.Generator().manual_seed(0)
    batch = {k: torch.rand(1, 3, size, size, generator=g) * 2 - 1 for k in ("x", "y")}
    step = lambda: trainer.train_step(batch)  # noqa: E731
    if warmup is None:
        warmup = 2 if config.compile else 1
    start = time.perf_counter()
    for _ in range(warmup):  # with --compile, compilation happens here: its cost shows in warmup_s
        step()
    warmup_s = time.perf_counter() - start
    seconds, cpu = median_wall_and_cpu_seconds(step, repeats=repeats)
    return {"model": model, "variant": variant, "precision": session.precision.describe(), "s_per_step": seconds,
            "cpu_s_per_step": cpu,
            "peak_rss_mib": peak_rss_mib(), "warmup_steps": warmup, "warmup_s": warmup_s, "timed_steps": repeats}


def peak_rss_mib() -> float:
    """This process's own peak resident memory. Linux's ru_maxrss is not it in a child started by
    subprocess: it keeps the parent's peak across exec (vfork), so VmHWM of the new image comes first."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_case(model: str, variant: str, repeats: int, ngf: int = 64, timeout: float | None = None,
                 threads: int | None = None, warmup: int | None = None) -> dict:
    """`time_case` in a fresh process, so its peak RSS is its own. Raises RuntimeError when the case
    fails and subprocess.TimeoutExpired after `timeout` seconds. Run from the repository root."""
    args = ["--case", f"{model}:{variant}", "--repeats", str(repeats), "--ngf", str(ngf),
            *(["--threads", str(threads)] if threads else []), *(["--warmup", str(warmup)] if warmup is not None else [])]
    return run_json("benchmarks.train_precision", args, f"{model} {variant}", timeout)


@click.command()
@click.option("--variants", default="fp32,bf16", show_default=True, help=f"Comma list of {', '.join(VARIANTS)}.")
@click.option("--models", default=",".join(MODELS), show_default=True, help="Comma list of models to time.")
@click.option("--repeats", default=3, show_default=True, help="Timed steps per case (after warm-up).")
@click.option("--steps", default=200, show_default=True, help="Steps of each known-answer run.")
@click.option("--seeds", default=8, show_default=True, help="Known-answer runs per precision.")
@click.option("--jobs", default=2, show_default=True, help="Known-answer runs at a time.")
@click.option("--skip-speed", is_flag=True, help="Only the accuracy part.")
@click.option("--skip-accuracy", is_flag=True, help="Only the speed part.")
@click.option("--ngf", default=64, show_default=True, help="Generator and discriminator width (ngf = ndf).")
@click.option("--threads", default=1, show_default=True, help="torch threads of each timed case.")
@click.option("--warmup", type=int, default=None,
              help="Untimed steps before the timed ones (default 1; 2 with compile; 0 for very slow cases).")
@click.option("--case", hidden=True, default=None, help="Internal: time one MODEL:VARIANT and print JSON.")
def main(variants: str, models: str, repeats: int, steps: int, seeds: int, jobs: int, skip_speed: bool,
         skip_accuracy: bool, ngf: int, threads: int, warmup: int | None, case: str | None) -> None:
    """Print fp32 vs bf16 training steps/s, peak RSS, and known-answer PSNR at equal steps."""
    if case:
        model, variant = case.split(":")
        click.echo(json.dumps(time_case(model, variant, repeats, ngf, threads, warmup)))
        return
    flag = cpu_bf16_flag()
    click.echo(f"CPU: {torch.backends.cpu.get_cpu_capability()}, native bf16: {flag or 'no'}, "
               f"torch {torch.__version__}, {threads} thread(s) per timed case")
    if not skip_speed:
        for model in models.split(","):
            rows = []
            for variant in variants.split(","):
                try:
                    rows.append(measure_case(model, variant, repeats, ngf, threads=threads, warmup=warmup))
                except RuntimeError as e:
                    click.echo(f"failed: {e}")
            for r in rows:
                click.echo(f"{model:20s} {r['variant']:14s} {1 / r['s_per_step']:7.3g} steps/s wall, "
                           f"{r['cpu_s_per_step']:7.2f} CPU s/step (x{rows[0]['cpu_s_per_step'] / r['cpu_s_per_step']:.2f} "
                           f"the speed of {rows[0]['variant']}), peak RSS {r['peak_rss_mib']:6.0f} MiB, "
                           f"{r['warmup_steps']} warm-up step(s) {r['warmup_s']:.1f} s")
    if not skip_accuracy:
        runs = study(steps, seeds, jobs, on_run=lambda r: click.echo(format_run(r)))
        for line in summary(runs, steps):
            click.echo(line)

if __name__ == "__main__":
    main()
