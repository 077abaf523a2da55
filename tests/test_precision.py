"""--precision: what auto picks on each kind of device, and that mixed-precision steps train."""
import pytest
import torch
from click.testing import CliRunner

from cgan.train import create_discriminator, create_generator
from cgan.train.checkpoint import load_checkpoint
from cgan.train.cli import main
from cgan.train import precision as P
from cgan.train.precision import Amp, PrecisionError, cpu_bf16_flag, float_outputs, resolve_precision

CPU = torch.device("cpu")
AMX_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
AVX2_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2\n"
ARM_BF16_CPU = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_cpu_bf16_flag_reads_cpuinfo():
    assert cpu_bf16_flag(AMX_CPU) == "amx_bf16"
    assert cpu_bf16_flag(ARM_BF16_CPU) == "bf16"
    assert cpu_bf16_flag(AVX2_CPU) is None
    assert cpu_bf16_flag("") is None


def test_auto_on_cpu_follows_native_bf16():
    amx = resolve_precision("auto", CPU, AMX_CPU)
    assert (amx.name, amx.dtype, amx.uses_scaler) == ("bf16", torch.bfloat16, False)
    assert "amx_bf16" in amx.describe()
    plain = resolve_precision("auto", CPU, AVX2_CPU)
    assert (plain.name, plain.dtype) == ("fp32", None)
    assert "no native bf16" in plain.describe()


@pytest.mark.parametrize("native_bf16, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_on_cuda_prefers_bf16_then_fp16(monkeypatch, native_bf16, expected):
    monkeypatch.setattr(P, "_cuda_bf16", lambda device: native_bf16)
    chosen = resolve_precision("auto", torch.device("cuda", 0))
    assert chosen.name == expected
    assert chosen.uses_scaler == (expected == "fp16")


def test_bf16_refused_on_cuda_without_it(monkeypatch):
    monkeypatch.setattr(P, "_cuda_bf16", lambda device: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    with pytest.raises(PrecisionError, match="V100 has no native bf16; use --precision fp16"):
        resolve_precision("bf16", torch.device("cuda", 0))


def test_explicit_choices_and_bad_name():
    assert resolve_precision("fp32", CPU, AMX_CPU).name == "fp32"
    slow = resolve_precision("bf16", CPU, AVX2_CPU)
    assert slow.name == "bf16" and "slower than fp32" in slow.describe()
    assert resolve_precision("fp16", CPU).describe().startswith("fp16 autocast + grad scaler")
    assert resolve_precision("auto", torch.device("mps")).name == "fp32"
    with pytest.raises(PrecisionError, match="choose one of auto, fp32, bf16, fp16"):
        resolve_precision("half", CPU)


def _tiny_step(amp: Amp, seed: int = 0):
    """One generator + discriminator update of tiny nets under `amp`; returns (G, loss, D's inner output dtype)."""
    torch.manual_seed(seed)
    G = float_outputs(create_generator("resnet_6blocks", ngf=4))
    D = float_outputs(create_discriminator("basic", ndf=4))
    inner = []
    D.model[-1].register_forward_hook(lambda m, i, o: inner.append(o.dtype))  # the last conv, before the cast
    opt = torch.optim.Adam(list(G.parameters()) + list(D.parameters()), lr=1e-3)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with amp.autocast():
        fake = G(x)
        logits = D(fake)
        assert fake.dtype == logits.dtype == torch.float32  # what losses see
        loss = (fake - x).abs().mean() + (logits - 1).pow(2).mean()
    opt.zero_grad()
    amp.backward(loss)
    amp.step(opt)
    amp.update()
    return G, loss, inner[0]


def test_bf16_step_runs_and_keeps_fp32_weights_and_losses():
    amp = Amp(resolve_precision("bf16", CPU))
    G, loss, logits_dtype = _tiny_step(amp)
    assert logits_dtype == torch.bfloat16  # the forward ran in bf16
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in G.parameters())
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in G.parameters())
    torch.manual_seed(0)
    before = create_generator("resnet_6blocks", ngf=4)
    changed = [not torch.equal(a, b) for a, b in zip(before.parameters(), G.parameters())]
    assert any(changed)
    assert amp.state_dict() == {}  # no scaler state in bf16


def test_fp16_scaler_steps_and_round_trips():
    amp = Amp(resolve_precision("fp16", CPU))
    _, loss, logits_dtype = _tiny_step(amp)
    assert logits_dtype == torch.float16 and torch.isfinite(loss)
    state = amp.state_dict()
    assert state["scale"] > 0
    other = Amp(resolve_precision("fp16", CPU))
    other.load_state_dict(state)
    assert other.scaler.get_scale() == amp.scaler.get_scale()


def test_fp32_is_plain():
    amp = Amp(resolve_precision("fp32", CPU))
    _, loss, logits_dtype = _tiny_step(amp)
    assert logits_dtype == torch.float32 and not amp.scaler.is_enabled()


@pytest.mark.parametrize("precision, start_line", [
    ("bf16", "precision bf16 autocast (requested"),
    ("fp16", "precision fp16 autocast + grad scaler (requested)"),
])
def test_cli_trains_in_mixed_precision_and_saves_the_scaler(tmp_path, precision, start_line):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["--ngf", "4", "--ndf", "4", "--max-dataset-size", "2", "--max-steps", "2",
                                       "--device", "cpu", "--workers", "0", "--runs-dir", str(runs),
                                       "--precision", precision])
    assert result.exit_code == 0, result.output
    assert start_line in result.output
    state = load_checkpoint(runs / "builtin" / "checkpoints" / "latest.pt")
    assert state["precision"] == precision and state["step"] == 2
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in state["nets"]["G"].values())
    assert ("scale" in state["scaler"]) == (precision == "fp16")


# --- auto measures -------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, chosen, said", [
    ({"fp32": 1.0, "bf16": 1 / 0.87}, "fp32", "bf16 0.87x fp32"),  # the small photo setting
    ({"fp32": 1.35, "bf16": 1.0}, "bf16", "bf16 1.35x fp32"),  # resnet_9blocks at 256x256
    ({"fp32": 1.03, "bf16": 1.0}, "fp32", "bf16 1.03x fp32"),  # faster, but not clearly
    ({"fp32": 2.0, "bf16": 1.0, "fp16": 0.8}, "fp16", "bf16 2.00x fp32, fp16 2.50x fp32"),
])
def test_auto_keeps_a_half_precision_only_when_clearly_faster(seconds, chosen, said):
    picked = P.fastest(seconds, "cpu", "64x64, batch 1")
    assert picked.name == chosen
    assert picked.describe().endswith(f"(auto: measured {said} at 64x64, batch 1)")
    best = min(seconds.values())
    assert best / seconds[chosen] >= 0.95  # never more than 5 % slower than the fastest measured


def test_auto_measures_only_where_there_is_a_choice():
    asked = []

    def measure(names):
        asked.append(names)
        return {"fp32": 1.0, "bf16": 2.0}, "32x32, batch 1"

    assert resolve_precision("auto", CPU, AMX_CPU, measure=measure).name == "fp32"
    assert resolve_precision("auto", CPU, AVX2_CPU, measure=measure).name == "fp32"
    assert resolve_precision("bf16", CPU, AMX_CPU, measure=measure).name == "bf16"  # asked for: not measured
    assert asked == [("fp32", "bf16")]


def test_cuda_candidates_follow_native_bf16(monkeypatch):
    for native, names in ((True, ("fp32", "bf16", "fp16")), (False, ("fp32", "fp16"))):
        monkeypatch.setattr(P, "_cuda_bf16", lambda device: native)
        assert P.native_precisions(torch.device("cuda", 0)) == names
    assert P.native_precisions(torch.device("mps")) == ("fp32",)


def test_pass_timer_times_the_run_nets_without_touching_the_seeds():
    from cgan.train.config import make_config
    from cgan.train.precision_auto import PassTimer

    config = make_config({}, {"ngf": 4, "ndf": 4, "crop_size": 16, "load_size": 16, "batch_size": 2,
                              "discriminator": "pixel"})
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    seconds, size = PassTimer(config, CPU).measure(("fp32", "bf16"))
    assert torch.equal(torch.rand(3), expected)
    assert set(seconds) == {"fp32", "bf16"} and all(t > 0 for t in seconds.values())
    assert size == "16x16, batch 2"


def test_cli_start_line_says_what_auto_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "cpu_bf16_flag", lambda cpuinfo=None: "avx512_bf16")  # a choice on any CPU
    result = CliRunner().invoke(main, ["--ngf", "4", "--ndf", "4", "--max-dataset-size", "2", "--max-steps", "1",
                                       "--device", "cpu", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "(auto: measured bf16 " in result.output and "x fp32 at 32x32, batch 1)" in result.output


def test_precision_auto_benchmark_page_says_whether_the_pick_was_fast_enough():
    from benchmarks.precision_auto import markdown

    run = {"preset": "quick", "threads": 2, "repeats": 5, "generator": "resnet_6blocks", "ngf": 16,
           "size": "64x64, batch 1", "auto_says": "auto: measured bf16 0.90x fp32 at 64x64, batch 1",
           "auto_picks": "fp32", "step_s": {"fp32": 1.0, "bf16": 0.9}, "picked_vs_fastest": 0.9}
    page = markdown({"device": "cpu (test)", "runs": [run, {**run, "threads": 1, "picked_vs_fastest": 1.0}]})
    rows = [line for line in page.splitlines() if line.startswith("| quick")]
    assert rows[0].endswith("| bf16 0.90x fp32 | fp32 | fp32 1, bf16 0.9 (5) | 0.90x (NOT met) |")
    assert rows[1].endswith("| 1.00x (met) |")
