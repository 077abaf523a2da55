"""Our networks against the official pytorch-CycleGAN-and-pix2pix: keys, shapes, loading, outputs."""
import re
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from cgan.train import create_discriminator, create_generator
from cgan.train.checkpoint import CheckpointError
from cgan.train.official import load_official_generator
from conftest import DATA

LISTINGS = DATA / "official_state_dicts"


def _listing(name):
    entries = {}
    for line in (LISTINGS / f"{name}.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        entries[key] = [int(v) for v in re.findall(r"\d+", shape)]
    return entries


def _shapes(net):
    return {k: list(v.shape) for k, v in net.state_dict().items()}


@pytest.mark.parametrize("name,listing", [("resnet_9blocks", "resnet_9blocks"), ("resnet_6blocks", "resnet_6blocks"),
                                          ("unet_256", "unet_256"), ("unet_128", "unet_128")])
def test_generator_keys_match_official(name, listing):
    assert _shapes(create_generator(name, ngf=64)) == _listing(listing)


@pytest.mark.parametrize("name", ["basic", "n_layers", "pixel"])
def test_discriminator_keys_match_official(name):
    assert _shapes(create_discriminator(name, ndf=64, n_layers=3)) == _listing(name)


def _official_style_file(tmp_path, net, *, prefix="", stale_norm=False, name="latest_net_G_A.pth"):
    state = OrderedDict((prefix + k, v.clone()) for k, v in net.state_dict().items())
    if stale_norm:  # what PyTorch < 0.4 saved for InstanceNorm layers
        state[prefix + "model.2.running_mean"] = torch.zeros(8)
        state[prefix + "model.2.running_var"] = torch.ones(8)
        state[prefix + "model.2.num_batches_tracked"] = torch.tensor(0)
    path = tmp_path / name
    torch.save(state, path)
    return path


@pytest.mark.parametrize("prefix,stale_norm", [("", False), ("module.", False), ("", True), ("module.", True)])
def test_loader_cleans_prefix_and_stale_norm_keys(tmp_path, prefix, stale_norm):
    torch.manual_seed(1)
    source = create_generator("resnet_9blocks", ngf=8).eval()
    path = _official_style_file(tmp_path, source, prefix=prefix, stale_norm=stale_norm)
    loaded = load_official_generator(path, "resnet_9blocks", ngf=8)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(loaded(x), source(x))
    assert not loaded.training


def test_loader_handles_resnet_saved_with_dropout(tmp_path):
    source = create_generator("resnet_6blocks", ngf=8, dropout=True).eval()
    assert any(k.endswith("conv_block.6.weight") for k in source.state_dict())  # the shifted index
    path = _official_style_file(tmp_path, source)
    loaded = load_official_generator(path, "resnet_6blocks", ngf=8)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(loaded(x), source(x))


def test_loader_reads_channels_from_the_file(tmp_path):
    source = create_generator("unet_128", input_nc=1, output_nc=3, ngf=8).eval()
    loaded = load_official_generator(_official_style_file(tmp_path, source), "unet_128", ngf=8)
    x = torch.rand(1, 1, 128, 128)
    assert torch.equal(loaded(x), source(x))


@pytest.mark.parametrize("generator,ngf,match", [
    ("resnet_6blocks", 8, r"key 'model\.16\.weight' is missing"),
    ("resnet_9blocks", 16, r"model\.1\.weight.*shape \[8, 3, 7, 7\].*\[16, 3, 7, 7\]"),
    ("unet_256", 8, r"missing"),
])
def test_loader_names_first_mismatch_and_cause(tmp_path, generator, ngf, match):
    path = _official_style_file(tmp_path, create_generator("resnet_9blocks", ngf=8))
    with pytest.raises(CheckpointError, match=match) as err:
        load_official_generator(path, generator, ngf=ngf)
    assert "generator=..., ngf=... and norm=..." in str(err.value)  # the API's arguments; the CLI's flags:
    # tests/test_export_cli.py


def test_loader_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": torch.nn.Linear(2, 2)}, path)  # needs unpickling a class: refused
    with pytest.raises(CheckpointError, match="refused to load"):
        load_official_generator(path)


def test_loader_rejects_missing_and_garbage_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_official_generator(tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_official_generator(junk)


def _reference_resnet_forward(sd, x, n_blocks):
    """The official ResnetGenerator's computation written out with torch.nn.functional only."""
    def conv(h, key, stride=1, padding=0):
        return F.conv2d(h, sd[key + ".weight"], sd[key + ".bias"], stride=stride, padding=padding)

    def norm_relu(h):
        return F.relu(F.instance_norm(h, eps=1e-5))

    h = norm_relu(conv(F.pad(x, (3,) * 4, mode="reflect"), "model.1"))
    h = norm_relu(conv(h, "model.4", 2, 1))
    h = norm_relu(conv(h, "model.7", 2, 1))
    for b in range(10, 10 + n_blocks):
        r = norm_relu(conv(F.pad(h, (1,) * 4, mode="reflect"), f"model.{b}.conv_block.1"))
        r = F.instance_norm(conv(F.pad(r, (1,) * 4, mode="reflect"), f"model.{b}.conv_block.5"), eps=1e-5)
        h = h + r
    for k in (10 + n_blocks, 13 + n_blocks):
        h = norm_relu(F.conv_transpose2d(h, sd[f"model.{k}.weight"], sd[f"model.{k}.bias"], stride=2,
                                         padding=1, output_padding=1))
    return torch.tanh(conv(F.pad(h, (3,) * 4, mode="reflect"), f"model.{17 + n_blocks}"))


def test_official_weights_give_official_output(tmp_path):
    torch.manual_seed(3)
    weights = {k: v for k, v in create_generator("resnet_9blocks", ngf=16).state_dict().items()}
    path = tmp_path / "latest_net_G.pth"
    torch.save(weights, path)
    net = load_official_generator(path, "resnet_9blocks", ngf=16)
    x = torch.rand(2, 3, 64, 48) * 2 - 1
    with torch.no_grad():
        diff = (net(x) - _reference_resnet_forward(weights, x, 9)).abs().max().item()
    assert diff <= 1e-5
