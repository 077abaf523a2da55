"""benchmarks.learning and its real-photo tasks: the data they build, the drawn families and their split,
the references (paired ceiling, unpaired oracle), one real (tiny) run of each kind, and the summary page."""
import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("skimage", reason="the real-photo task needs scikit-image's photos (the bench extra)")

from benchmarks import learning, learning_summary, photo_task, references, task_families  # noqa: E402
from benchmarks.colour_grades import GRADE_KINDS, Grade  # noqa: E402
from benchmarks.spatial_looks import SPATIAL_KINDS, SpatialLook  # noqa: E402
from cgan.train.data import to_tensor  # noqa: E402
from cgan.train.known_answer import mean_psnr  # noqa: E402
from helpers import assert_one_line_error  # noqa: E402

TINY = {"max_steps": 3, "ngf": 4, "ndf": 4}


@pytest.fixture
def small_data(tmp_path, monkeypatch):
    monkeypatch.setattr(learning, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(photo_task, "TRAIN_COUNT", 6)
    return tmp_path / "data"


def psnr01(a, b) -> float:
    """PSNR of two NxHxWx3 (or N x 3) arrays in [0, 1]."""
    return float(10 * np.log10(1 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def read_rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("grade", list(photo_task.GRADES))
def test_each_grade_keeps_the_range_and_changes_the_colours(grade):
    rgb = np.random.default_rng(0).random((8, 8, 3))
    graded = photo_task.GRADES[grade](rgb)
    assert graded.shape == rgb.shape and graded.min() >= 0 and graded.max() <= 1
    assert np.abs(graded - rgb).mean() > 0.03


def test_held_out_pairs_are_photo_crops_and_their_graded_answers():
    look = photo_task.GRADES["matrix_curve"]
    x, y = photo_task.held_out(look)
    assert x.shape == y.shape == (photo_task.EVAL_COUNT, 3, photo_task.EVAL_SIZE, photo_task.EVAL_SIZE)
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.2  # real pictures, not flat
    again, _ = photo_task.held_out(look)
    assert np.array_equal(x, again)
    rgb = (x[0].transpose(1, 2, 0) + 1) / 2
    want = np.round(look(rgb) * 255) / 255
    assert np.allclose((y[0].transpose(1, 2, 0) + 1) / 2, want, atol=1e-6)


# --- drawn tasks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", list(task_families.FAMILIES))
def test_a_draw_is_deterministic_and_its_do_nothing_psnr_in_the_family_range(family):
    first = task_families.draw(family, 3)
    task_families.draw.cache_clear()
    again = task_families.draw(family, 3)
    assert again.look == first.look and again.look.describe() == first.look.describe()
    low, high = task_families.FAMILIES[family].do_nothing_db
    assert low <= first.do_nothing_db <= high
    assert task_families.draw(family, 4).look != first.look
    assert task_families.parse_task_name(first.name) == (family, 3)


def test_dev_and_held_out_draws_never_overlap_and_the_record_names_what_may_be_tuned_on():
    dev, heldout = (set(task_families.SPLITS[s]) for s in ("dev", "heldout"))
    assert dev and heldout and not dev & heldout
    names = {s: set(learning.chosen_tasks(None, "colour,spatial", s, 8)) for s in ("dev", "heldout")}
    assert len(names["dev"]) == len(names["heldout"]) == 16 and not names["dev"] & names["heldout"]
    assert "colour_0..7" in learning.CHOSEN_ON and not any("100" in n for n in learning.CHOSEN_ON)


@pytest.mark.parametrize("kind", list(GRADE_KINDS))
def test_each_colour_grade_is_the_identity_at_its_identity_and_differentiable_in_every_parameter(kind):
    rgb = torch.from_numpy(np.random.default_rng(1).uniform(0.05, 0.95, (256, 3)).astype(np.float32))
    drawn = Grade.draw([kind], np.random.default_rng(2))
    assert torch.allclose(Grade.apply_tensors(drawn.identity().tensors(), rgb), rgb, atol=1e-5)
    params = drawn.tensors(requires_grad=True)
    out = Grade.apply_tensors(params, rgb)
    assert (out - rgb).abs().mean() > 0.005
    out.pow(2).sum().backward()
    for name, value in params[kind].items():
        assert value.grad is not None and torch.isfinite(value.grad).all() and value.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", list(SPATIAL_KINDS))
def test_each_spatial_look_changes_a_photo_keeps_the_range_and_is_a_function_of_its_input(kind):
    crops = task_families.probe_crops()[:2]
    look = SpatialLook(((kind, SPATIAL_KINDS[kind].draw(np.random.default_rng(0))),))
    out = look(crops)
    assert out.shape == crops.shape and out.min() >= 0 and out.max() <= 1
    assert psnr01(out, crops) < 40
    assert np.array_equal(look(crops), out) and np.array_equal(look(crops[1]), out[1])


def test_the_oracle_recovers_a_known_grade_from_unpaired_colours():
    rng = np.random.default_rng(0)
    truth = Grade({"white_balance": {"log_gains": [0.15, -0.05, -0.12]},
                   "tone": {"log_gamma": [0.3, 0.25, 0.2], "contrast": [0.3], "lift": [0.05], "gain": [0.92]}})
    x, y_raw = (torch.from_numpy(rng.uniform(0, 1, (20000, 3)).astype(np.float32)) for _ in range(2))
    fitted = references.fit_unpaired(truth, x, torch.from_numpy(truth(y_raw.numpy())), restarts=1, steps=150)
    probe = rng.uniform(0, 1, (4096, 3)).astype(np.float32)
    assert psnr01(fitted(probe), truth(probe)) > 33 > psnr01(probe, truth(probe)) + 10
    inverse = references.invert(fitted, torch.from_numpy(truth(probe))).numpy()
    inside = (truth(probe) > 0.02).all(axis=1) & (truth(probe) < 0.98).all(axis=1)  # not clipped by the grade
    assert psnr01(inverse[inside], probe[inside]) > 30


def test_the_paired_ceiling_trains_on_the_crops_the_unpaired_run_sees(small_data):
    name = "spatial_1000"
    look = task_families.draw("spatial", 1000).look
    pairs = references.paired_pairs(look)
    folder = photo_task.write_dataset(small_data / name, look)
    trainA, trainB = ([to_tensor(np.asarray(read_rgb(p))) for p in sorted((folder / d).iterdir())]
                      for d in ("trainA", "trainB"))
    assert torch.allclose(torch.stack(trainA), torch.stack([to_tensor(p[..., :3]) for p in pairs["G"]]), atol=1e-6)
    assert torch.allclose(torch.stack(trainB), torch.stack([to_tensor(p[..., :3]) for p in pairs["F"]]), atol=1e-6)
    assert np.allclose(pairs["G"][..., 3:], photo_task.eight_bit(look(pairs["G"][..., :3])))
    run = learning.paired_run(name, 0, TINY)
    assert run["kind"] == "paired" and run["steps"] == 3 and np.isfinite([run["psnr_G"], run["psnr_F"]]).all()
    assert abs(run["gain_G"]) < 1.0  # a residual generator starts as the identity


def test_a_tiny_run_trains_on_the_written_folders_and_scores_both_generators(small_data):
    run = learning.one_run("photo_hue_sat", 0, {"max_steps": 2, "ngf": 4, "ndf": 4, "colour_fit": 0})
    assert sorted(p.name for p in (small_data / "photo_hue_sat" / "trainB").iterdir()) == [
        f"{k:04d}.png" for k in range(6)]
    assert run["steps"] == 2 and run["task"] == "photo_hue_sat"
    assert np.isfinite([run["psnr_G"], run["psnr_F"]]).all()
    assert run["gain_G"] == pytest.approx(run["psnr_G"] - run["baseline_G"])
    # without the colour fit a residual generator starts as the identity: two steps leave it close to doing nothing
    assert abs(run["gain_G"]) < 1.0 and run["baseline_G"] < 30


def test_references_go_only_where_they_mean_something():
    assert learning.references_for("builtin", learning.REFERENCES) == ()
    assert learning.references_for("spatial_0", learning.REFERENCES) == ("paired",)
    assert learning.references_for("colour_0", learning.REFERENCES) == ("paired", "oracle")


def test_the_plan_follows_each_run_by_its_paired_ceiling_and_makes_nothing_known_again():
    recipes = {"cgan": {}, "official": {"recipe": "official"}}
    cases = learning.plan(["colour_0", "builtin"], recipes, range(2), None, learning.REFERENCES, set())
    assert [c[:2] for c in cases[:2]] == [("unpaired", "colour_0"), ("paired", "colour_0")]
    assert sum(c[0] == "unpaired" for c in cases) == 8 and sum(c[0] == "paired" for c in cases) == 4
    assert [c[0] for c in cases].count("oracle") == 1 and cases[8][0] == "oracle"  # once per task, after its runs
    known = {learning.reference_key("paired", "colour_0", 1, {}), learning.reference_key("oracle", "colour_0", 0, {})}
    again = learning.plan(["colour_0"], {"cgan": {}}, range(2), None, learning.REFERENCES, known)
    assert [(c[0], c[3]) for c in again] == [("unpaired", 0), ("paired", 0), ("unpaired", 1)]
    assert learning.plan(["colour_0"], {"cgan": {}}, range(1), 300, (), set()) == [
        ("unpaired", "colour_0", "cgan", 0, {"max_steps": 300})]
    done = {learning.run_key("colour_0", "cgan", 0, {})}  # pooled: only its missing reference is made
    assert learning.plan(["colour_0"], {"cgan": {}}, range(1), None, ("paired",), set(), done) == [
        ("paired", "colour_0", "cgan", 0, {})]


def test_a_wrong_task_or_draw_count_is_one_line_naming_the_option():
    runner = CliRunner()
    for args, option in ((["--tasks", "colour_x"], "--tasks"), (["--families", "colour", "--draws", "99"], "--draws"),
                         (["--families", "paint"], "--families"), (["--references", "oracel"], "--references")):
        result = runner.invoke(learning.main, [*args, "--seeds", "0"])
        assert_one_line_error(result, option)


def test_a_pooled_file_that_is_not_a_record_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "notes.json"
    for text in ("[1, 2]", "{not json", '{"runs": 3}'):
        bad.write_text(text)
        result = CliRunner().invoke(learning.main, ["--seeds", "0", "--pool", str(bad)])
        assert_one_line_error(result, "notes.json: not a record of benchmarks.learning")


# --- the record read back ---------------------------------------------------------------------------
def fake_run(task, seed, gain, recipe="cgan", baseline=20.0):
    return {"task": task, "recipe": recipe, "seed": seed, "steps": 10, "steps_per_s": 2.0, "seconds": 60.0,
            "psnr_G": baseline + gain, "psnr_F": baseline + gain, "baseline_G": baseline, "baseline_F": baseline,
            "gain_G": gain, "gain_F": gain, "cpu": "test CPU", "overrides": {}}


def fake_reference(kind, task, seed, gain):
    return {**fake_run(task, seed, gain, recipe="cgan" if kind == "paired" else ""), "kind": kind}


def test_the_summary_flags_seeds_below_the_floor_and_the_page_lists_every_run():
    runs = [fake_run("photo_hue_sat", 0, 6.0), fake_run("photo_hue_sat", 1, 1.0)]
    line = learning_summary.summarize(runs, learning.floors)[1]
    assert "photo_hue_sat" in line and " 1;" in line and "every seed ≥ 3: NOT met" in line
    page = learning_summary.markdown({"runs": runs}, learning.floors)
    assert page.count("| photo_hue_sat | cgan |") == 2 and "test CPU" in page and "Drawn tasks" not in page


def test_the_headline_reads_each_gain_as_a_share_of_its_references():
    heldout = task_families.SPLITS["heldout"]
    colour = [f"colour_{s}" for s in heldout[:2]]
    record = {"chosen_on": learning.CHOSEN_ON,
              "runs": [fake_run(colour[0], 0, 4.0), fake_run(colour[0], 1, 2.0), fake_run(colour[1], 0, 1.0),
                       fake_run("spatial_0", 0, -0.5)],
              "references": [fake_reference("oracle", colour[0], 0, 4.0),
                             fake_reference("oracle", colour[1], 0, 0.05),
                             fake_reference("paired", colour[0], 0, 10.0),
                             fake_reference("paired", "spatial_0", 0, 5.0)],
              "draws": {name: "a look" for name in [*colour, "spatial_0"]}}
    page = learning_summary.markdown(record, learning.floors)
    # colour_1000: seeds at 100 % and 50 % of the oracle (mean 75 %), 40 % of the paired gain for seed 0 only;
    # colour_1001's oracle gains too little to give a share
    assert (f"| {colour[0]} | 2 | 20.00 / 20.00 | +3.00 / +3.00 | +10.00 / +10.00 | +4.00 / +4.00 | "
            "75 % / 75 % | 40 % / 40 % |") in page
    assert f"| {colour[1]} | 1 | 20.00 / 20.00 | +1.00 / +1.00 | – / – | +0.05 / +0.05 | – / – | – / – |" \
        in page
    assert "mean share of the oracle gain ≥ 80 %: 75 %, NOT met (1 draw(s)" in page
    assert "every run ≥ 50 % of its oracle's gain (without one, not below doing nothing): met" in page
    assert "| **worst run** | | | +1.00 / +1.00 |" in page
    assert "### spatial, dev draws, recipe cgan" in page and "no run below doing nothing: NOT met" in page
    assert "mean share of the paired gain ≥ 30 %: -10 %, NOT met" in page
    assert page.index("### colour, heldout") < page.index("### spatial, dev") < page.index("## Every run")
    assert "builtin, photo_matrix_curve, photo_hue_sat, colour_0..7, spatial_0..7" in page
    assert "| colour_1000 | oracle |" in page and "- oracle: 1.0 min on average over 2" in page
