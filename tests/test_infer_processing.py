"""Pre- and post-processing from metadata alone: sizes, padding, colour order, value range."""
import numpy as np
import pytest

from cgan.infer.errors import InferError
from cgan.infer.processing import Layout, Resize, finish, padding, parse_size, prepare, side_by_side
from helpers import image

RGB = Layout(3, 3, "RGB", (-1.0, 1.0), 4, np.dtype(np.float32))
GRAY = Layout(1, 1, "RGB", (-1.0, 1.0), 4, np.dtype(np.float32))


@pytest.mark.parametrize("h, w", [(31, 45), (1 + 4, 7), (16, 16), (33, 17)])
def test_identity_model_gives_back_the_frame_at_its_own_size(h, w):
    frame = image(h, w)
    p = prepare(frame, RGB)
    assert p.tensor.shape[1] % 4 == 0 and p.tensor.shape[2] % 4 == 0
    assert p.tensor.min() >= -1 and p.tensor.max() <= 1
    np.testing.assert_array_equal(finish(p.tensor, p, RGB), frame)


def test_tensor_is_rgb_in_minus_one_to_one():
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[..., 0] = 255  # blue in OpenCV's BGR
    x = prepare(frame, RGB).tensor
    assert np.allclose(x[2], 1) and np.allclose(x[0], -1) and np.allclose(x[1], -1)


def test_padding_reflects_without_repeating_the_edge():
    frame = image(5, 6)
    x = prepare(frame, RGB).tensor  # 5x6 -> 8x8
    assert x.shape == (3, 8, 8)
    np.testing.assert_array_equal(x[:, 5], x[:, 3])  # row 5 mirrors row 3 about row 4
    np.testing.assert_array_equal(x[:, :, 6], x[:, :, 4])


@pytest.mark.parametrize("h, w", [(2, 9), (9, 1), (1, 1)])
def test_frames_too_small_to_reflect_are_refused(h, w):
    with pytest.raises(InferError, match="too small"):
        prepare(image(h, w), RGB)


def test_padding_amounts():
    assert padding(17, 16, 4) == (3, 0)
    assert padding(130, 256, 256) == (126, 0)
    with pytest.raises(InferError):
        padding(128, 256, 256)  # would need 128 new rows from a 128-row frame


def test_gray_layout_reads_luminance_and_writes_2d():
    frame = image(9, 11)
    p = prepare(frame, GRAY)
    assert p.tensor.shape == (1, 12, 12)
    out = finish(p.tensor, p, GRAY)
    assert out.shape == (9, 11) and out.dtype == np.uint8


def test_resize_short_side_and_exact():
    assert parse_size("32").target(48, 64) == (32, 43)
    assert parse_size("40x20").target(48, 64) == (20, 40)
    assert parse_size(None) is None
    for bad in ("0", "x3", "3x", "axb", "-4"):
        with pytest.raises(InferError, match="size="):
            parse_size(bad)


def test_resize_goes_there_and_back():
    frame = image(30, 50)
    p = prepare(frame, RGB, Resize(short=16))
    assert p.tensor.shape == (3, 16, 28)  # 16 x 27 padded to 28
    assert finish(p.tensor, p, RGB).shape == frame.shape


def test_side_by_side_matches_the_output_channels():
    frame, gray = image(4, 5), np.zeros((4, 5), np.uint8)
    assert side_by_side(frame, gray).shape == (4, 10)
    assert side_by_side(frame, frame).shape == (4, 10, 3)
