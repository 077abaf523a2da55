import torch

from cgan.train.pool import ImagePool


def batch(value, n=1):
    return torch.full((n, 3, 2, 2), float(value))


def test_size_zero_passes_images_through():
    pool = ImagePool(0)
    x = batch(1, 3)
    assert torch.equal(pool.query(x), x)
    assert pool.images == []


def test_filling_returns_the_new_images_and_stores_them():
    pool = ImagePool(3)
    out = pool.query(torch.cat([batch(1), batch(2)]))
    assert torch.equal(out, torch.cat([batch(1), batch(2)]))
    assert [int(im[0, 0, 0]) for im in pool.images] == [1, 2]


def test_full_pool_swaps_about_half_of_the_time():
    pool = ImagePool(4, seed=3)
    pool.query(torch.cat([batch(v) for v in range(4)]))
    swapped = 0
    for v in range(100, 400):
        out = pool.query(batch(v))
        if int(out[0, 0, 0, 0]) != v:
            swapped += 1
            assert int(out[0, 0, 0, 0]) < v  # an older image came back ...
            assert any(int(im[0, 0, 0]) == v for im in pool.images)  # ... and the new one took its place
    assert len(pool.images) == 4
    assert 105 < swapped < 195  # 50% of 300, far outside chance otherwise


def test_state_dict_resumes_exactly():
    a = ImagePool(2, seed=1)
    for v in range(5):
        a.query(batch(v))
    b = ImagePool(2, seed=99)
    b.load_state_dict(a.state_dict())
    for v in range(5, 30):
        assert torch.equal(a.query(batch(v)), b.query(batch(v)))
    assert ImagePool(2).state_dict()["images"].numel() == 0  # an empty pool also saves
