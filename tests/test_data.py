"""Image-folder data: discovery, decoding, preprocessing, the unaligned dataset and its loader."""
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cgan.train.data import (CorruptImageWarning, DataError, EpochSampler, UnalignedDataset, build_loader,
                             start_epoch, to_tensor)
from cgan.train.images import decode_image, find_images, read_image
from cgan.train.preprocess import PREPROCESSORS, Preprocess


def write(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, img)
    if not ok:
        raise RuntimeError(f"cannot encode {path}")
    buf.tofile(str(path))
    return path


def noise(h=20, w=24, c=3, seed=0, dtype=np.uint8):
    high = 256 if dtype == np.uint8 else 65536
    shape = (h, w, c) if c > 1 else (h, w)
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def make_tree(root: Path, n_a=3, n_b=2, size=(20, 24)) -> Path:
    for i in range(n_a):
        write(root / "trainA" / f"a{i}.png", noise(*size, seed=i))
    for i in range(n_b):
        write(root / "trainB" / f"b{i}.png", noise(*size, seed=100 + i))
    return root


NONE = Preprocess("none", flip=False, side_multiple=4)


# --- discovery and decoding ------------------------------------------------------------------

def test_find_images_recursive_any_case_sorted(tmp_path):
    for name in ("b.PNG", "sub/a.JPG", "sub/deeper/c.tiff", "d.WebP", "e.jpeg", "f.bmp", "g.Tif"):
        write(tmp_path / name, noise(4, 4))
    (tmp_path / "notes.txt").write_text("not an image")
    found = [Path(p).relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert found == sorted(["b.PNG", "sub/a.JPG", "sub/deeper/c.tiff", "d.WebP", "e.jpeg", "f.bmp", "g.Tif"])


def test_colour_is_rgb_order_and_scaled(tmp_path):
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in OpenCV's BGR
    img = read_image(str(write(tmp_path / "red.png", bgr)), 3)
    np.testing.assert_allclose(img[0, 0], [1.0, 0.0, 0.0])
    assert img.dtype == np.float32


def test_grayscale_file_to_three_and_one_channels(tmp_path):
    path = str(write(tmp_path / "gray.png", noise(6, 5, c=1)))
    rgb, gray = read_image(path, 3), read_image(path, 1)
    assert rgb.shape == (6, 5, 3) and gray.shape == (6, 5, 1)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_array_equal(rgb[..., :1], gray)


def test_colour_to_one_channel_is_luminance(tmp_path):
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # red: Rec. 601 luminance 0.299
    gray = read_image(str(write(tmp_path / "red.png", bgr)), 1)
    np.testing.assert_allclose(gray[0, 0, 0], 0.299, atol=2e-3)


def test_rgba_drops_alpha(tmp_path):
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 0] = 200  # blue
    bgra[..., 3] = 0  # fully transparent: the colour is kept, alpha dropped
    img = read_image(str(write(tmp_path / "rgba.png", bgra)), 3)
    assert img.shape == (4, 4, 3)
    np.testing.assert_allclose(img[0, 0], [0.0, 0.0, 200 / 255], atol=1e-6)


def test_16_bit_uses_full_range(tmp_path):
    img16 = np.full((4, 4, 3), 32768, np.uint16)
    img16[..., 2] = 65535
    img = read_image(str(write(tmp_path / "deep.png", img16)), 3)
    np.testing.assert_allclose(img[0, 0], [1.0, 32768 / 65535, 32768 / 65535], atol=1e-6)
    gray16 = read_image(str(write(tmp_path / "deep_gray.tif", noise(5, 5, c=1, dtype=np.uint16))), 3)
    assert gray16.shape == (5, 5, 3) and 0.0 <= gray16.min() and gray16.max() <= 1.0


def test_decoding_keeps_the_pixel_type_until_the_tensor(tmp_path):
    img16 = noise(6, 6, dtype=np.uint16)
    decoded = decode_image(str(write(tmp_path / "deep.png", img16)), 3)
    assert decoded.dtype == np.uint16 and decoded.shape == (6, 6, 3)
    tensor = to_tensor(decoded)
    expected = torch.from_numpy(img16[:, :, ::-1].astype(np.float64).transpose(2, 0, 1) / 65535 * 2 - 1)
    torch.testing.assert_close(tensor, expected.float(), atol=1e-6, rtol=0)
    assert tensor.dtype == torch.float32


def test_non_ascii_path(tmp_path):
    path = write(tmp_path / "trainA" / "ümlaut 画像.png", noise(4, 4))
    assert read_image(str(path), 3).shape == (4, 4, 3)


# --- folders and errors ----------------------------------------------------------------------

def test_missing_domain_folder_names_it(tmp_path):
    write(tmp_path / "trainA" / "a.png", noise())
    with pytest.raises(DataError, match=r"trainB does not exist.*trainA/\*\.jpg.*trainB/\*\.jpg"):
        UnalignedDataset(tmp_path, NONE)


def test_empty_domain_folder_names_it(tmp_path):
    (tmp_path / "trainA").mkdir()
    (tmp_path / "trainA" / "readme.txt").write_text("no images here")
    write(tmp_path / "trainB" / "b.png", noise())
    with pytest.raises(DataError, match=r"trainA holds no image files.*trainA/\*\.jpg"):
        UnalignedDataset(tmp_path, NONE)


def test_corrupt_file_reported_once_and_skipped(tmp_path):
    make_tree(tmp_path, n_a=3, n_b=2)
    bad = tmp_path / "trainA" / "a1.png"
    bad.write_bytes(b"this is not a png")
    ds = UnalignedDataset(tmp_path, NONE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[(epoch, i)] for epoch in range(3) for i in range(len(ds))]
    reports = [w for w in caught if issubclass(w.category, CorruptImageWarning)]
    assert len(reports) == 1 and "a1.png" in str(reports[0].message)
    assert all(item["x_path"] != str(bad) for item in items)
    assert ds[(0, 1)]["x_path"] == str(tmp_path / "trainA" / "a2.png")  # the next readable file stands in
    assert ds.x.unreadable() == [str(bad)]


def test_folder_of_only_corrupt_files(tmp_path):
    make_tree(tmp_path, n_a=0, n_b=1)
    (tmp_path / "trainA").mkdir()
    (tmp_path / "trainA" / "broken.jpg").write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="no file in .*trainA can be decoded"):
            UnalignedDataset(tmp_path, NONE)  # found when the folder is opened, before any loader worker


def test_length_order_serial_and_max_size(tmp_path):
    make_tree(tmp_path, n_a=3, n_b=5)
    ds = UnalignedDataset(tmp_path, NONE, serial_batches=True)
    assert len(ds) == 5 and ds.sizes == (3, 5)
    assert [Path(ds[i]["x_path"]).name for i in range(5)] == ["a0.png", "a1.png", "a2.png", "a0.png", "a1.png"]
    assert [Path(ds[i]["y_path"]).name for i in range(5)] == [f"b{i}.png" for i in range(5)]
    small = UnalignedDataset(tmp_path, NONE, max_size=2)
    assert small.sizes == (2, 2) and len(small) == 2


def test_random_y_covers_the_domain(tmp_path):
    make_tree(tmp_path, n_a=1, n_b=4)
    ds = UnalignedDataset(tmp_path, NONE)
    names = {Path(ds[(epoch, 0)]["y_path"]).name for epoch in range(40)}
    assert names == {f"b{i}.png" for i in range(4)}


def test_direction_swaps_domains(tmp_path):
    make_tree(tmp_path, n_a=3, n_b=2)
    ab = UnalignedDataset(tmp_path, NONE, direction="AtoB", serial_batches=True)
    ba = UnalignedDataset(tmp_path, NONE, direction="BtoA", serial_batches=True)
    assert ab.domains == ("trainA", "trainB") and ba.domains == ("trainB", "trainA")
    assert ba.sizes == (2, 3)
    assert ba[0]["x_path"] == ab[0]["y_path"] and ba[0]["y_path"] == ab[0]["x_path"]
    torch.testing.assert_close(ba[0]["x"], ab[0]["y"])


def test_channels_per_domain(tmp_path):
    make_tree(tmp_path)
    item = UnalignedDataset(tmp_path, NONE, channels=(1, 3))[0]
    assert item["x"].shape[0] == 1 and item["y"].shape[0] == 3
    assert item["x"].dtype == torch.float32 and -1.0 <= item["x"].min() and item["x"].max() <= 1.0


def test_channel_count_is_checked_up_front(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(DataError, match="1 or 3 channels, not 4"):
        UnalignedDataset(tmp_path, NONE, channels=(3, 4))


def test_negative_seed_is_refused(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(DataError, match="seed -1"):
        UnalignedDataset(tmp_path, NONE, seed=-1)


def test_unknown_direction(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(DataError, match="direction"):
        UnalignedDataset(tmp_path, NONE, direction="sideways")


# --- preprocessing ---------------------------------------------------------------------------

EXPECTED_SHAPES = {  # a 40x60 (HxW) image, load 24, crop 16, side multiple 4
    "resize_and_crop": (16, 16),
    "crop": (16, 16),
    "scale_width": (16, 24),
    "scale_width_and_crop": (16, 16),
    "none": (40, 60),
}


def test_every_mode_has_an_expected_shape():
    assert set(EXPECTED_SHAPES) == set(PREPROCESSORS)


@pytest.mark.parametrize("mode", sorted(PREPROCESSORS))
def test_preprocess_output_size(mode):
    img = np.random.default_rng(0).random((40, 60, 3), dtype=np.float32)
    out = Preprocess(mode, load_size=24, crop_size=16, side_multiple=4)(img, np.random.default_rng(1))
    assert out.shape == (*EXPECTED_SHAPES[mode], 3)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_odd_sizes_become_multiples_with_none(tmp_path):
    write(tmp_path / "trainA" / "odd.png", noise(37, 53))
    write(tmp_path / "trainB" / "tiny.png", noise(3, 5))
    ds = UnalignedDataset(tmp_path, Preprocess("none", flip=False, side_multiple=4))
    item = ds[0]
    assert tuple(item["x"].shape) == (3, 36, 52)
    assert tuple(item["y"].shape) == (3, 4, 4)  # never below one multiple


def test_scale_width_rounds_height_to_multiple():
    img = np.zeros((31, 50, 1), np.float32)
    out = Preprocess("scale_width", load_size=40, crop_size=8, side_multiple=8)(img, np.random.default_rng(0))
    assert out.shape == (24, 40, 1)  # height 40 * 31 / 50 = 24.8 -> 25 -> nearest multiple of 8


def test_crop_enlarges_images_smaller_than_the_crop():
    img = np.random.default_rng(0).random((10, 30, 3), dtype=np.float32)
    out = Preprocess("crop", crop_size=16, side_multiple=4)(img, np.random.default_rng(0))
    assert out.shape == (16, 16, 3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="zoom"), "unknown preprocess 'zoom'"),
    (dict(crop_size=30, side_multiple=4), "crop size 30 is not a multiple of 4"),
    (dict(load_size=200, crop_size=256), "load size 200 is smaller than crop size 256"),
])
def test_preprocess_validation(kwargs, message):
    with pytest.raises(DataError, match=message):
        Preprocess(**kwargs)


def test_flip_off_never_flips():
    img = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    p = Preprocess("none", flip=False, side_multiple=4)
    for seed in range(20):
        np.testing.assert_array_equal(p(img, np.random.default_rng(seed)), img)


def test_flip_on_flips_about_half_the_time():
    img = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    p = Preprocess("none", flip=True, side_multiple=4)
    flipped = 0
    for seed in range(40):
        out = p(img, np.random.default_rng(seed))
        if np.array_equal(out, img[:, ::-1]):
            flipped += 1
        else:
            np.testing.assert_array_equal(out, img)
    assert 8 <= flipped <= 32


# --- determinism and the loader ------------------------------------------------------------

def assert_same_item(a, b):
    assert a["x_path"] == b["x_path"] and a["y_path"] == b["y_path"]
    torch.testing.assert_close(a["x"], b["x"], rtol=0, atol=0)
    torch.testing.assert_close(a["y"], b["y"], rtol=0, atol=0)


def test_items_are_a_function_of_seed_epoch_index(tmp_path):
    make_tree(tmp_path, n_a=4, n_b=6, size=(30, 34))
    pre = Preprocess("resize_and_crop", load_size=24, crop_size=16, side_multiple=4)
    one, two = UnalignedDataset(tmp_path, pre, seed=7), UnalignedDataset(tmp_path, pre, seed=7)
    for key in [(0, 0), (3, 5), (1, 2)]:
        assert_same_item(one[key], two[key])
    two.set_epoch(3)
    assert_same_item(one[(3, 5)], two[5])
    differs = [not torch.equal(one[(0, i)]["x"], one[(1, i)]["x"]) for i in range(len(one))]
    assert any(differs)  # a new epoch draws new crops and flips
    other_seed = UnalignedDataset(tmp_path, pre, seed=8)
    assert any(not torch.equal(one[(0, i)]["x"], other_seed[(0, i)]["x"]) for i in range(len(one)))


def test_sampler_order_depends_on_seed_and_epoch_only():
    a, b = EpochSampler(10, seed=3), EpochSampler(10, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    keys = list(a)
    assert keys == list(b) and sorted(i for _, i in keys) == list(range(10))
    assert all(epoch == 2 for epoch, _ in keys)
    b.set_epoch(3)
    assert [i for _, i in b] != [i for _, i in keys]


def test_sampler_splits_ranks_and_skips():
    full = EpochSampler(10, seed=1)
    full.set_epoch(4)
    order = [i for _, i in full]
    ranks = [EpochSampler(10, seed=1, rank=r, world_size=3) for r in range(3)]
    for s in ranks:
        s.set_epoch(4)
    shares = [[i for _, i in s] for s in ranks]
    assert [len(s) for s in ranks] == [4, 4, 4]
    assert sorted(set().union(*shares)) == list(range(10))
    assert shares[0] == (order + order)[0:12:3]  # padded by wrapping, as DistributedSampler
    ranks[1].set_epoch(4, skip=2)
    assert [i for _, i in ranks[1]] == shares[1][2:] and len(ranks[1]) == 2


def test_loader_workers_give_the_same_items_as_direct_indexing(tmp_path):
    make_tree(tmp_path, n_a=5, n_b=3, size=(20, 20))
    (tmp_path / "trainA" / "a3.png").write_bytes(b"corrupt")
    pre = Preprocess("resize_and_crop", load_size=20, crop_size=16, side_multiple=4)
    ds = UnalignedDataset(tmp_path, pre, seed=5)
    loader = build_loader(ds, batch_size=2, workers=2, shuffle=True, seed=5)
    for epoch in range(2):
        start_epoch(loader, epoch, skip_batches=1)
        keys = list(loader.sampler)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CorruptImageWarning)
            batches = list(loader)
            expected = [ds[k] for k in keys]
        assert len(batches) == len(loader) == 2  # 5 items in batches of 2, the first batch skipped
        got_x = torch.cat([b["x"] for b in batches])
        torch.testing.assert_close(got_x, torch.stack([e["x"] for e in expected]), rtol=0, atol=0)
        assert sum((b["y_path"] for b in batches), []) == [e["y_path"] for e in expected]
    assert ds.x.unreadable() == [str(tmp_path / "trainA" / "a3.png")]  # flags are shared with workers
