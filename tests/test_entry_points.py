"""The console entry points: a stop signal while the command is still importing ends it with one line.

Each case imports a stand-in command module that signals its own process during its import, as a
Ctrl-C during the seconds torch, OpenCV or ONNX Runtime take to load would.
"""
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cgan.infer import stopping
from cgan.infer.entry import launch as launch_infer
from cgan.train.launch import launch as launch_command

SENDS_SIGTERM = "os.kill(os.getpid(), signal.SIGTERM)\n"
# ONNX Runtime's import turns a KeyboardInterrupt inside it into ImportError("initialization failed")
TWO_CTRL_C_LIKE_ONNX_RUNTIME = """\
try:
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)
except KeyboardInterrupt as e:
    raise ImportError("initialization failed") from e
"""
NAMES = (f"stand_in_{n}" for n in itertools.count())  # unique: imported modules stay in sys.modules
BROKEN_INSTALL = "raise ImportError('libGL.so.1: cannot open shared object file')\n"


@pytest.fixture
def command_module(tmp_path, monkeypatch):
    """Writes a command module whose import runs `body`; returns its name and the calls of its main."""
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for name, value in vars(stopping._State).items():  # launch installs cgan-infer's handler for good
        if not name.startswith("_"):
            monkeypatch.setattr(stopping._State, name, value)
    calls, handlers = [], []
    monkeypatch.setattr("builtins.stand_in_calls", calls, raising=False)
    monkeypatch.setattr("builtins.stand_in_handlers", handlers, raising=False)  # SIGTERM's, while main runs

    def write(body: str) -> str:
        name = next(NAMES)
        (tmp_path / f"{name}.py").write_text("import builtins, os, signal\n" + body + textwrap.dedent("""
            def main(**options):
                builtins.stand_in_calls.append(options)
                builtins.stand_in_handlers.append(signal.getsignal(signal.SIGTERM))
            """))
        return name

    yield write, calls, handlers
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("launch, prog, code", [
    (lambda module: launch_command(module, "cgan-export"), "cgan-export", 143),
    (launch_infer, "", 130)])
def test_a_stop_signal_during_the_import_ends_with_one_line(command_module, capsys, launch, prog, code):
    write, calls, _ = command_module
    with pytest.raises(SystemExit) as stopped:
        launch(write(SENDS_SIGTERM))
    assert stopped.value.code == code and calls == []
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "nothing" in err and err.startswith(prog)


def test_a_second_ctrl_c_that_a_library_turns_into_an_import_error_is_still_a_stop(tmp_path):
    (tmp_path / "like_onnx_runtime.py").write_text("import os, signal\n" + TWO_CTRL_C_LIKE_ONNX_RUNTIME
                                                   + "def main(**options):\n    print('ran')\n")
    done = _launched(tmp_path, "cgan.train.launch", "'like_onnx_runtime', 'cgan-train'")
    assert (done.returncode, done.stdout) == (130, "")
    assert done.stderr == "cgan-train: SIGINT while starting; stopped, nothing was written\n"


def _launched(folder, entry: str, args: str) -> subprocess.CompletedProcess:
    """`launch(ARGS)` of `entry` in a fresh process that imports command modules from `folder`."""
    code = f"import sys; sys.path.insert(0, sys.argv[1]); from {entry} import launch; launch({args})"
    return subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=20)


# A KeyboardInterrupt inside a C extension's initializer can abort the process (seen with torch)
CTRL_C_TWICE_IN_A_NATIVE_IMPORT = """\
import os, signal, time
try:
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)
except KeyboardInterrupt:
    os.abort()
time.sleep(30)  # the rest of a long import, never reached
def main(**options):
    print("ran")
"""


def test_a_second_ctrl_c_while_train_imports_ends_it_at_once_without_raising_into_the_import(tmp_path):
    (tmp_path / "native_command.py").write_text(CTRL_C_TWICE_IN_A_NATIVE_IMPORT)
    done = _launched(tmp_path, "cgan.train.launch", "'native_command', 'cgan-train'")
    assert (done.returncode, done.stdout) == (130, "")
    assert done.stderr == "cgan-train: SIGINT while starting; stopped, nothing was written\n"


def _catches_sigterm(pid: int) -> bool:
    """Whether the process handles SIGTERM (Python does not by default; the entry points do from their start)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads a process's signal handlers from /proc")
def test_the_real_cgan_train_takes_two_early_ctrl_c_with_one_line(tmp_path):
    """Two Ctrl-C while the real console script imports torch: one line, exit 130, nothing written."""
    script = Path(sys.executable).with_name("cgan-train")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "cgan.train"]
    process = subprocess.Popen([*command, "--max-steps", "1"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        while process.poll() is None and not _catches_sigterm(process.pid):
            time.sleep(0.001)
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert (process.returncode, out) == (130, ""), err[-2000:]
    assert err == "cgan-train: SIGINT while starting; stopped, nothing was written\n"
    assert list(tmp_path.iterdir()) == []


def test_a_second_ctrl_c_while_infer_imports_ends_it_at_once(tmp_path):
    """cgan-infer's second Ctrl-C ends the process (nothing is written while importing), so no
    KeyboardInterrupt can be lost inside a library's import."""
    (tmp_path / "slow_command.py").write_text(textwrap.dedent("""\
        import os, signal, time
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)  # the rest of a long import, never reached
        def main():
            print("ran")
        """))
    code = "import sys; sys.path.insert(0, sys.argv[1]); from cgan.infer.entry import launch; launch('slow_command')"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=20)
    assert done.returncode == 130 and done.stdout == ""
    assert done.stderr == "stopped before starting; nothing written\n"


@pytest.mark.parametrize("launch", [lambda module: launch_command(module, "cgan-train"), launch_infer])
def test_an_import_error_without_a_stop_is_not_hidden(command_module, launch):
    write, calls, _ = command_module
    with pytest.raises(ImportError, match="libGL"):
        launch(write(BROKEN_INSTALL))


def test_without_a_stop_the_command_runs_and_infer_then_takes_sigterm_as_ctrl_c(command_module):
    write, calls, handlers = command_module
    launch_command(write(""), "cgan-export")
    launch_infer(write(""))
    assert calls == [{"prog_name": "cgan-export"}, {}]
    assert handlers[1] is stopping.on_stop  # while cgan-infer runs
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # once it is over, up to the process's end
