import math

import pytest
import torch

from cgan.train.config import TrainConfig
from cgan.train.schedulers import LR_POLICIES, create_scheduler, step_scheduler


def lrs(policy, n, metric=lambda e: 1.0, **cfg):
    config = TrainConfig(lr_policy=policy, lr=1.0, **cfg)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
    opt.step()  # schedulers expect an optimizer step first
    sched = create_scheduler(opt, config)
    out = []
    for e in range(n):
        out.append(opt.param_groups[0]["lr"])  # the rate used during 0-based epoch e
        step_scheduler(sched, metric(e))
    return out


def test_linear_is_constant_then_decays_to_zero():
    rates = lrs("linear", 8, epochs=4, epochs_decay=4)
    assert rates[:4] == [1.0] * 4
    assert rates[4:] == pytest.approx([0.8, 0.6, 0.4, 0.2])  # 1 - (e + 1 - 4) / 5: zero one epoch after the end


def test_linear_official_defaults_at_chosen_epochs():
    rates = lrs("linear", 200, epochs=100, epochs_decay=100)
    assert rates[99] == 1.0
    assert rates[100] == pytest.approx(1 - 1 / 101)
    assert rates[149] == pytest.approx(1 - 50 / 101)
    assert rates[199] == pytest.approx(1 / 101)


def test_step_divides_by_ten_every_lr_decay_epochs():
    rates = lrs("step", 7, lr_decay_epochs=3)
    assert rates == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01])


def test_cosine_reaches_zero_at_the_end_of_all_epochs():
    rates = lrs("cosine", 9, epochs=4, epochs_decay=4)
    assert rates[0] == 1.0
    assert rates[4] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert rates[8] == pytest.approx(0.0, abs=1e-12)


def test_plateau_cuts_the_rate_when_the_loss_stops_improving():
    rates = lrs("plateau", 12, metric=lambda e: 1.0)  # never improves after epoch 0; patience 5
    assert rates[:7] == [1.0] * 7
    assert rates[7] == pytest.approx(0.2)


def test_unknown_policy_names_the_choices():
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match=", ".join(LR_POLICIES)):
        create_scheduler(opt, TrainConfig(lr_policy="nope"))
