"""Ctrl-C at random moments of real `cgan-infer --video` runs; prints a JSON report of what each run left.

    python tests/stop_signals.py WORKDIR MODEL VIDEO --runs 200 [--seed 0] [--startup 10]

Each run is a child process running the `cgan-infer` console script's code (`cgan.infer.entry.main`)
in its own folder. To afford hundreds of runs on a small machine, this process imports cgan.infer
once and forks a child per run, so a run costs what the command itself does after its imports; the
first moments of a fresh process (Python's start-up and the imports) are covered by `--startup` runs
of the real console script. Every run gets its first SIGINT at a moment drawn uniformly over the
length of an unstopped run of its kind, and up to two more shortly after (a user pressing Ctrl-C
again while the first one is being handled). A run that does not end within HANG_S is
killed and reported with its threads' stacks.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HANG_S = 20.0  # a run taking longer than this (our runs take well under a second) hangs
PARALLEL = 3  # children at once
TEMP_PREFIX = ".cgan-tmp-"


def _child(folder: Path, args: list[str]) -> None:
    """In the forked child: run cgan-infer's entry point in `folder`, output to files there; never returns."""
    code = 1
    try:
        os.chdir(folder)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        faulthandler.dump_traceback_later(HANG_S, exit=True)  # a hang shows where each thread waits
        sys.argv = ["cgan-infer", *args]
        from cgan.infer.entry import main
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # what Python would print for an uncaught exception
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Run:
    """One child and the signals it is due."""

    def __init__(self, kind: str, folder: Path, pid: int | None, process: subprocess.Popen | None,
                 due: list[float]):
        self.kind, self.folder, self.pid, self.process, self.due = kind, folder, pid, process, due
        self.started = time.monotonic()
        self.delivered = 0
        self.status: int | None = None  # exit code, or -signal

    def poll(self) -> bool:
        """Whether the child has ended (and is reaped)."""
        if self.status is not None:
            return True
        if self.process is not None:
            code = self.process.poll()
            if code is not None:
                self.status = code
            return code is not None
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid:
            self.status = os.waitstatus_to_exitcode(status)
        return bool(pid)

    def signal(self, sig: int) -> None:
        if not self.poll():
            os.kill(self.pid if self.process is None else self.process.pid, sig)
            self.delivered += 1

    def kill(self) -> None:
        if not self.poll():
            os.kill(self.pid if self.process is None else self.process.pid, signal.SIGKILL)
            while not self.poll():
                time.sleep(0.01)


def _fork(folder: Path, args: list[str]) -> int:
    pid = os.fork()
    if pid == 0:
        _child(folder, args)
    return pid


# Python's own start-up (before any code of ours runs) reports a Ctrl-C so: "Fatal Python error: init_import_site"
PYTHON_STARTING = "Fatal Python error: init_"


def _verdict(run: Run, frames: int) -> str:
    """What went wrong in a finished run ("" when nothing did)."""
    err = (run.folder / "stderr").read_text(errors="replace")
    out = (run.folder / "stdout").read_text(errors="replace")
    names = sorted(p.name for p in run.folder.iterdir())
    if (PYTHON_STARTING in err or run.status == -signal.SIGINT) and names == ["stderr", "stdout"]:
        return ""  # stopped before Python ran any code of ours: nothing written
    if "Timeout (0:" in err or run.status == -signal.SIGKILL:
        return f"hang: {err[-3000:]}"
    if "Traceback" in err or "Fatal Python error" in err:
        return f"traceback: {err[-3000:]}"
    if any(n.startswith(TEMP_PREFIX) for n in names):
        return f"temp file left: {names}"
    if run.status not in (0, 130):
        return f"exit {run.status}: {err[-500:]}"
    if run.status == 0 and "out.mp4" not in names:
        return f"exit 0 without out.mp4: {out}{err}"
    if "out.mp4" in names and _frames(run.folder / "out.mp4") != frames:
        return f"out.mp4 does not hold all {frames} frames"
    if "out.partial.mp4" in names and not 0 < _frames(run.folder / "out.partial.mp4") < frames:
        return "out.partial.mp4 is not a playable part of the video"
    return ""


def _frames(path: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


def _outcome(run: Run) -> str:
    names = {p.name for p in run.folder.iterdir()}
    if PYTHON_STARTING in (run.folder / "stderr").read_text(errors="replace"):
        return "stopped while Python itself started"
    return "whole" if "out.mp4" in names else "partial" if "out.partial.mp4" in names else "nothing"


def _script() -> list[str]:
    """The real console script where it is installed beside this Python, else the same entry point."""
    script = Path(sys.executable).with_name("cgan-infer")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from cgan.infer.entry import main; sys.exit(main())"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("video", type=Path)
    parser.add_argument("--runs", type=int, default=200, help="forked runs that receive a SIGINT at a random moment")
    parser.add_argument("--startup", type=int, default=10, help="fresh console-script runs that do")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, required=True, help="frames in VIDEO")
    opts = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # one thread per child: no thread pool to inherit across fork
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # children inherit it until cgan-infer installs its own
    import cgan.infer.cli  # noqa: F401  (imported once here; each child starts from it)

    rng = random.Random(opts.seed)
    args = ["--video", str(opts.video.resolve()), "--model", str(opts.model.resolve()), "--device", "cpu",
            "--no-progress", "--out", "out.mp4"]
    shutil.rmtree(opts.workdir, ignore_errors=True)

    def folder(name: str) -> Path:
        path = opts.workdir / name
        path.mkdir(parents=True)
        return path

    def fresh(where: Path) -> subprocess.Popen:
        with open(where / "stdout", "w") as out, open(where / "stderr", "w") as err:
            return subprocess.Popen(_script() + args, cwd=where, stdout=out, stderr=err,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def unstopped_length(i: int, forked: bool) -> float:
        where = folder(f"calibrate{i}")
        run = Run("fork", where, _fork(where, args), None, []) if forked else Run("startup", where, None, fresh(where), [])
        while not run.poll():
            time.sleep(0.002)
        if _verdict(run, opts.frames):
            raise SystemExit(f"an unstopped run failed: {_verdict(run, opts.frames)}")
        return time.monotonic() - run.started

    span = 1.2 * sorted(unstopped_length(i, True) for i in range(3))[1]  # how long a run takes here and now
    fresh_span = 1.2 * unstopped_length(3, False) if opts.startup else 0.0

    def schedule(first_within: float) -> list[float]:
        first = rng.uniform(0, first_within)
        return [first] + [first + rng.uniform(0.001, 0.05) * (k + 1) for k in range(rng.randrange(3))]

    pending = ["fork"] * opts.runs + ["startup"] * opts.startup
    rng.shuffle(pending)
    running: list[Run] = []
    finished: list[Run] = []
    start = time.monotonic()
    while pending or running:
        while pending and len(running) < PARALLEL:
            kind = pending.pop()
            where = folder(f"{kind}{len(finished) + len(running)}")
            if kind == "fork":
                running.append(Run(kind, where, _fork(where, args), None, schedule(span)))
            else:
                running.append(Run(kind, where, None, fresh(where), schedule(fresh_span)))
        now = time.monotonic()
        for run in list(running):
            while run.due and now - run.started >= run.due[0]:
                run.due.pop(0)
                run.signal(signal.SIGINT)
            if not run.poll() and now - run.started > HANG_S + 10:
                run.kill()
            if run.poll():
                running.remove(run)
                finished.append(run)
                if not run.delivered and len(finished) < 2 * (opts.runs + opts.startup):
                    pending.append(run.kind)  # it ended before its signal: one more in its place
        time.sleep(0.001)
    report = {"unstopped_run_s": round(span / 1.2, 3), "unstopped_fresh_process_s": round(fresh_span / 1.2, 3),
              "wall_s": round(time.monotonic() - start, 1), "signals": sum(r.delivered for r in finished),
              "runs_signalled": {kind: sum(r.delivered > 0 for r in finished if r.kind == kind)
                                 for kind in ("fork", "startup")},
              "outcomes": {}, "failures": []}
    for run in finished:
        key = f"{run.kind} exit {run.status} {_outcome(run)}"
        report["outcomes"][key] = report["outcomes"].get(key, 0) + 1
        problem = _verdict(run, opts.frames)
        if problem:
            report["failures"].append(f"{run.folder.name} ({run.delivered} signals): {problem}")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
