"""Soak test of crash safety (not part of `make test`): SIGKILL a training at random moments, resume each time.

    python scripts/soak_resume.py --kills 10

Each round starts `cgan-train` (the first round fresh, later ones with --resume), kills it with
SIGKILL at a random moment (a quarter of the rounds during start-up, the others a random time
after the round's first step: mid-step, mid-epoch or while a checkpoint is written), then
checks that the latest checkpoint loads and that its step never moved back. A last resume runs to
the end and its weights are compared with an uninterrupted run of the same options: resuming
after kill -9 must lose nothing (bitwise equal). Prints N and PASS or FAIL; exit status 0 on PASS.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from cgan.train.checkpoint import CheckpointError, load_checkpoint
from cgan.train.run_dir import RunDir

# A tiny run: 4 steps per epoch (a checkpoint at each epoch end), dropout on (so RNG states matter),
# image pools on, lr decaying over the later epochs.
TRAIN = ["--ngf", "4", "--ndf", "4", "--max-dataset-size", "4", "--epochs", "4", "--epochs-decay", "6",
         "--dropout", "--device", "cpu", "--sample-every", "7", "--precision", "fp32"]


def cgan_train(runs: Path, args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "cgan.train", "--runs-dir", str(runs), *TRAIN, *args]
    with open(log, "w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def latest_step(run: Path) -> int:
    """Step of the run's latest checkpoint (0 before the first); raises CheckpointError if unreadable."""
    path = RunDir(run).latest_checkpoint
    return load_checkpoint(path)["step"] if path.exists() else 0


def trained_since(run: Path, launched: float, step: int) -> bool:
    """True once this round's process logged a step past `step`."""
    log = RunDir(run).log_file
    return log.exists() and log.stat().st_mtime > launched and logged_step(run) > step


def logged_step(run: Path) -> int:
    """The last step in the run's log (0 when none)."""
    try:
        lines = RunDir(run).log_file.read_text().splitlines()
        return json.loads(lines[-1])["step"] if lines else 0
    except (OSError, ValueError, KeyError):
        return 0


def soak(kills: int, steps: int, workers: int, max_delay: float, seed: int, work: Path) -> bool:
    rng = random.Random(seed)
    runs, run = work / "runs", work / "runs" / "soak"
    common = ["--max-steps", str(steps), "--workers", str(workers)]
    history, ok = [0], True
    for i in range(kills):
        args = ["--name", "soak"] if i == 0 else ["--resume", str(run)]
        log = work / f"round_{i:02d}.log"
        launched = time.time()
        proc = cgan_train(runs, common + args, log)
        during_startup = i > 0 and rng.random() < 0.25
        if not during_startup:  # let it train: a loaded machine can take many seconds to start
            while proc.poll() is None and not trained_since(run, launched, history[-1]):
                time.sleep(0.05)
        delay = rng.uniform(0.2, 3.0 if during_startup else max_delay)
        time.sleep(delay)
        when = f"{delay:.1f}s after {'launch' if during_startup else 'its first step'}"
        if proc.poll() is not None:  # ended on its own: only a finished run may do that
            print(f"round {i}: ended before the kill (exit {proc.returncode}), {when}; see {log}")
            ok &= proc.returncode == 0 and latest_step(run) == steps
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            step = latest_step(run)
        except CheckpointError as e:
            print(f"round {i}: FAIL, latest checkpoint unreadable after kill -9: {e}")
            return False
        moved = "ok" if step >= history[-1] else "MOVED BACK"
        ok &= step >= history[-1]
        print(f"round {i}: killed {when}, at logged step {logged_step(run)}; latest checkpoint at step {step} "
              f"({moved})")
        history.append(step)
    final = cgan_train(runs, common + ["--resume", str(run)], work / "final.log")
    if final.wait() != 0:
        print(f"final resume: FAIL (exit {final.returncode}); see {work / 'final.log'}")
        return False
    reference = cgan_train(runs, common + ["--name", "reference"], work / "reference.log")
    if reference.wait() != 0:
        print(f"reference run: FAIL (exit {reference.returncode}); see {work / 'reference.log'}")
        return False
    a = load_checkpoint(RunDir(run).latest_checkpoint)
    b = load_checkpoint(RunDir(runs / "reference").latest_checkpoint)
    same = a["step"] == b["step"] == steps and all(
        torch.equal(a["nets"][n][k], b["nets"][n][k]) for n in b["nets"] for k in b["nets"][n])
    print(f"final: step {a['step']} of {steps}; weights {'equal' if same else 'DIFFERENT'} to an uninterrupted run")
    print(f"checkpoint steps after each kill: {history[1:]}")
    return ok and same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs (rounds), N")
    parser.add_argument("--steps", type=int, default=40, help="steps of the whole run")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers of the training")
    parser.add_argument("--max-delay", type=float, default=6.0,
                        help="longest seconds between a round's first step and its kill")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cgan_soak_"))
    work.mkdir(parents=True, exist_ok=True)
    ok = soak(args.kills, args.steps, args.workers, args.max_delay, args.seed, work)
    print(f"soak_resume: N={args.kills} kills, {'PASS' if ok else 'FAIL'} (runs in {work})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
