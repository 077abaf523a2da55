"""RunDir: the one owner of a run folder's names."""
import os
from pathlib import Path

from cgan.train.run_dir import RunDir

ROOT = Path(__file__).resolve().parent.parent


def test_the_latest_run_is_the_one_whose_latest_checkpoint_is_newest(tmp_path):
    assert RunDir.latest(tmp_path) is None
    for name, mtime in (("old", 1_000_000), ("new", 2_000_000), ("none", None)):
        run = RunDir(tmp_path / name)
        run.checkpoints.mkdir(parents=True)
        if mtime is not None:
            run.latest_checkpoint.write_bytes(b"")
            os.utime(run.latest_checkpoint, (mtime, mtime))
    RunDir(tmp_path / "none").epoch_checkpoint(1).write_bytes(b"")  # an epoch checkpoint alone is not a latest one
    assert RunDir.latest(tmp_path) == RunDir(tmp_path / "new")


def test_a_checkpoint_file_knows_its_run():
    run = RunDir("runs/horse2zebra")
    assert RunDir.holding(run.latest_checkpoint) == run
    assert RunDir.holding(run.epoch_checkpoint(5)) == run
    assert RunDir.holding(Path("downloads/latest.pt")) is None


def test_only_run_dir_spells_the_names_of_a_run_folder():
    sources = [path for folder in ("train", "export", "infer", "scripts", "benchmarks")
               for path in (ROOT / folder).rglob("*.py")]
    spelled = [path.relative_to(ROOT).as_posix() for path in sources if "latest.pt" in path.read_text(encoding="utf-8")]
    assert spelled == ["train/run_dir.py"]
