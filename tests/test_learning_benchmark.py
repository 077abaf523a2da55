"""benchmarks.learning and its real-photo task: the data it builds, one real (tiny) run, and its summary."""
import numpy as np
import pytest

pytest.importorskip("skimage", reason="the real-photo task needs scikit-image's photos (the bench extra)")

from benchmarks import learning, photo_task  # noqa: E402


@pytest.mark.parametrize("grade", list(photo_task.GRADES))
def test_each_grade_keeps_the_range_and_changes_the_colours(grade):
    rgb = np.random.default_rng(0).random((8, 8, 3))
    graded = photo_task.GRADES[grade](rgb)
    assert graded.shape == rgb.shape and graded.min() >= 0 and graded.max() <= 1
    assert np.abs(graded - rgb).mean() > 0.03


def test_held_out_pairs_are_photo_crops_and_their_graded_answers():
    x, y = photo_task.held_out("matrix_curve")
    assert x.shape == y.shape == (photo_task.EVAL_COUNT, 3, photo_task.EVAL_SIZE, photo_task.EVAL_SIZE)
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.2  # real pictures, not flat
    again, _ = photo_task.held_out("matrix_curve")
    assert np.array_equal(x, again)
    rgb = (x[0].transpose(1, 2, 0) + 1) / 2
    want = np.round(photo_task.GRADES["matrix_curve"](rgb) * 255) / 255
    assert np.allclose((y[0].transpose(1, 2, 0) + 1) / 2, want, atol=1e-6)


def test_a_tiny_run_trains_on_the_written_folders_and_scores_both_generators(tmp_path, monkeypatch):
    monkeypatch.setattr(learning, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(photo_task, "TRAIN_COUNT", 6)
    run = learning.one_run("photo_hue_sat", 0, {"max_steps": 2, "ngf": 4, "ndf": 4})
    assert sorted(p.name for p in (tmp_path / "data" / "hue_sat" / "trainB").iterdir()) == [
        f"{k:04d}.png" for k in range(6)]
    assert run["steps"] == 2 and run["task"] == "photo_hue_sat"
    assert np.isfinite([run["psnr_G"], run["psnr_F"]]).all()
    assert run["gain_G"] == pytest.approx(run["psnr_G"] - run["baseline_G"])
    # a residual generator starts as the identity: two steps leave it close to doing nothing
    assert abs(run["gain_G"]) < 1.0 and run["baseline_G"] < 30


def test_the_summary_flags_seeds_below_the_floor_and_the_page_lists_every_run():
    def run(seed, gain):
        return {"task": "photo_hue_sat", "recipe": "cgan", "seed": seed, "steps": 10, "steps_per_s": 2.0,
                "psnr_G": 20 + gain, "psnr_F": 20 + gain, "baseline_G": 20.0, "baseline_F": 20.0,
                "gain_G": gain, "gain_F": gain, "cpu": "test CPU"}
    runs = [run(0, 6.0), run(1, 1.0)]
    line = learning.summarize(runs)[1]
    assert "photo_hue_sat" in line and " 1;" in line and "every seed ≥ 3: NOT met" in line
    page = learning.markdown(runs)
    assert page.count("| photo_hue_sat | cgan |") == 2 and "test CPU" in page
