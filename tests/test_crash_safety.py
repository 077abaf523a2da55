"""Crash safety: atomic checkpoints, NaN/Inf stop, the run-directory lock, SIGINT/SIGTERM handling."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from click.testing import CliRunner

from cgan.infer.files import TEMP_PREFIX
from cgan.train import trainer as trainer_module
from cgan.train.run_dir import RunWriter
from cgan.train.checkpoint import load_checkpoint, load_state, save_checkpoint
from cgan.train.cli import main
from cgan.train.finite import NonFiniteLossError, check_finite, nonfinite_terms
from cgan.train.run_lock import RunLock, RunLockedError
from cgan.train.signals import StopRequest, resume_command
from helpers import assert_one_line_error


def test_crash_between_write_and_move_keeps_the_old_checkpoint(tmp_path):
    """The process dies (os._exit, no cleanup) after the new file is written and flushed, before the move."""
    path = tmp_path / "checkpoints" / "latest.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    script = textwrap.dedent(f"""
        import os, torch
        from cgan.train import checkpoint
        def crash(src, dst):
            assert os.path.getsize(src) > 0  # the new checkpoint is complete on disk
            os._exit(9)
        checkpoint.os.replace = crash
        checkpoint.save_checkpoint({str(path)!r}, {{"step": 2, "w": torch.zeros(3)}})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    state = load_state(path)
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(3))
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "latest.pt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(TEMP_PREFIX)  # the orphaned temp file


def test_nan_and_inf_losses_are_named_with_the_step():
    finite = {"G_total": torch.tensor(1.5), "D_X": 0.25}
    check_finite(finite, step=3)
    assert nonfinite_terms(finite) == []
    bad = {"G_total": torch.tensor(1.0), "cycle_X": torch.tensor(float("nan")), "D_Y": torch.tensor(float("inf"))}
    assert nonfinite_terms(bad) == ["cycle_X", "D_Y"]
    with pytest.raises(NonFiniteLossError, match=r"loss term cycle_X is nan at step 17 \(also D_Y\)"):
        check_finite(bad, step=17)


def test_second_training_into_the_same_run_dir_is_refused(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunLockedError, match=rf"run is in use by another training \(pid {os.getpid()} on"):
            RunLock(tmp_path / "run").acquire()
    with RunLock(tmp_path / "run"):  # released: the next training takes it
        pass


def test_lock_of_a_killed_training_is_taken_over(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from cgan.train.run_lock import RunLock
        RunLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            RunLock(tmp_path).acquire()
        holder.kill()
        holder.wait(timeout=60)
        with RunLock(tmp_path):  # the stale lock (kill -9) is no obstacle
            pass
    finally:
        holder.kill()
        holder.stdout.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_sets_the_stop_flag_and_handlers_are_restored(sig, capsys):
    before = signal.getsignal(sig)
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), sig)
        assert stop.requested and stop.signal_name == sig.name
    assert signal.getsignal(sig) is before
    assert "stopping after this step" in capsys.readouterr().err


def test_second_ctrl_c_quits_at_once():
    with StopRequest():
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_resume_command_quotes_the_path():
    assert resume_command("runs/my run") == "cgan-train --resume 'runs/my run'"


# 4 steps per epoch, so an epoch-end checkpoint comes at step 4.
TINY = ["--ngf", "4", "--ndf", "4", "--max-dataset-size", "4", "--device", "cpu", "--workers", "0",
        "--sample-every", "1000", "--precision", "fp32"]


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real_loss, calls = trainer_module.generator_loss, []

    def loss_going_nan_at_step_6(*args, **kwargs):
        terms = real_loss(*args, **kwargs)
        calls.append(1)
        if len(calls) == 6:
            terms["cycle_X"] = terms["cycle_X"] * float("nan")
            terms["total"] = terms["total"] + terms["cycle_X"]
        return terms

    monkeypatch.setattr(trainer_module, "generator_loss", loss_going_nan_at_step_6)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, [*TINY, "--runs-dir", str(runs), "--name", "n", "--max-steps", "10"])
    assert_one_line_error(result, "Error: loss term cycle_X is nan at step 6")
    state = load_checkpoint(runs / "n" / "checkpoints" / "latest.pt")
    assert state["step"] == 4  # the epoch-end checkpoint, not the poisoned step
    assert all(torch.isfinite(v).all() for v in state["nets"]["G"].values())


def test_latest_checkpoint_every_n_steps_within_a_long_epoch(tmp_path, monkeypatch):
    saved, write = [], RunWriter.write_checkpoint

    def recording(self, state, epoch_end):
        saved.append((state["step"], epoch_end))
        return write(self, state, epoch_end)

    monkeypatch.setattr(RunWriter, "write_checkpoint", recording)
    runs = tmp_path / "runs"
    args = [*TINY, "--max-dataset-size", "8", "--runs-dir", str(runs), "--name", "s", "--save-every", "3"]
    result = CliRunner().invoke(main, [*args, "--max-steps", "10"])  # 8 steps per epoch
    assert result.exit_code == 0, result.output
    assert saved == [(3, False), (6, False), (8, True), (9, False), (10, False)]
    assert load_checkpoint(runs / "s" / "checkpoints" / "latest.pt")["step"] == 10
    bad = CliRunner().invoke(main, [*args, "--name", "t", "--save-every", "-1"])
    assert_one_line_error(bad, "save_every=-1: must not be negative")


def test_sigterm_saves_at_the_step_boundary_and_prints_the_resume_command(tmp_path):
    runs = tmp_path / "runs"
    log = runs / "t" / "log.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cgan.train", *TINY, "--runs-dir", str(runs), "--name", "t",
                             "--max-steps", "100000"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 240
        while not (log.exists() and len(log.read_text().splitlines()) >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping after this step" in err
    assert f"resume with: cgan-train --resume {runs / 't'}" in out and "known-answer" not in out
    step = int(out.split("stopped by SIGTERM at step ")[1].split(";")[0])
    assert f"cgan-train: stopping at step {step}: saving a checkpoint, then the final samples" in out
    assert load_checkpoint(runs / "t" / "checkpoints" / "latest.pt")["step"] == step
    assert json.loads(log.read_text().splitlines()[-1])["step"] == step

    resumed = CliRunner().invoke(main, ["--resume", str(runs / "t"), "--max-steps", str(step + 1)])
    assert resumed.exit_code == 0, resumed.output
    assert f"at step {step} " in resumed.output
    assert load_checkpoint(runs / "t" / "checkpoints" / "latest.pt")["step"] == step + 1
