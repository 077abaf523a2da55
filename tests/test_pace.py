"""The estimate of a run's duration after its first steps, and the hint when it is long."""
import time

import pytest
import torch

from cgan.train.config import make_config
from cgan.train.pace import TIMED_STEPS, WARMUP_STEPS, Pace, duration
from cgan.train.trainer import Trainer


class Clock:
    """A clock the test moves."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(pace: Pace, clock: Clock, steps, seconds_of) -> list[str]:
    said = []
    for step in steps:
        clock.now += seconds_of(step)
        said += pace.step_done(step)
    return said


def test_duration_reads_at_every_scale():
    assert [duration(s) for s in (4.4, 59.6, 460, 938_552)] == ["4s", "1m00s", "7m40s", "260h42m"]


def test_the_estimate_is_the_mean_step_after_the_warm_up_times_the_steps_left():
    config = make_config({}, {"data": "photos"})
    clock = Clock()
    pace = Pace(config, first_step=0, total=1000, clock=clock, timed_s=0)
    # warm-up steps are slow and one timed step is a checkpoint: neither moves the estimate
    lines = feed(pace, clock, range(1, 101), lambda s: 5.0 if s <= WARMUP_STEPS else 9.0 if s == 8 else 0.5)
    said_at = WARMUP_STEPS + TIMED_STEPS
    assert lines == [f"cgan-train: about {duration((1000 - said_at) * 0.5)} left for {1000 - said_at:,} more steps "
                     f"(0.5 s/step, timed over steps {said_at - TIMED_STEPS + 1}-{said_at})"]


def test_fast_steps_are_timed_for_longer():
    clock = Clock()
    pace = Pace(make_config({}, {"data": "photos"}), first_step=0, total=10_000, clock=clock, timed_s=20)
    said = [step for step in range(1, 1000) if feed(pace, clock, [step], lambda s: 0.1)]
    assert said == [WARMUP_STEPS + 200]  # 20 s of 0.1 s steps


def test_a_run_over_an_hour_names_the_quick_preset_and_what_it_trades():
    clock = Clock()
    long = feed(Pace(make_config({}, {"data": "photos"}), 0, 30_000, clock=clock), clock, range(1, 30),
                lambda s: 31.3)
    assert len(long) == 2 and "about 260h" in long[0]
    assert long[1] == ("cgan-train: that is long for this device; --preset quick trains resnet_6blocks with 16 "
                       "filters on 64-pixel crops for 2,000 steps: minutes on a CPU, for coarser detail at lower "
                       "resolution")
    quick = make_config({}, {"data": "photos", "preset": "quick"})
    clock = Clock()
    assert len(feed(Pace(quick, 0, 30_000, clock=clock), clock, range(1, 30), lambda s: 31.3)) == 1


def test_after_a_resume_the_warm_up_counts_from_the_first_step_of_this_process():
    clock = Clock()
    pace = Pace(make_config({}, {"data": "photos"}), first_step=500, total=600, clock=clock, timed_s=0)
    said_at = 500 + WARMUP_STEPS + TIMED_STEPS
    assert feed(pace, clock, range(501, said_at), lambda s: 1.0) == []
    clock.now += 1.0
    assert f"left for {600 - said_at} more steps" in pace.step_done(said_at)[0]
    assert feed(pace, clock, range(said_at + 1, 600), lambda s: 1.0) == []  # said once


def test_a_run_too_short_to_time_says_nothing():
    clock = Clock()
    pace = Pace(make_config({}, {"data": "photos"}), 0, WARMUP_STEPS + TIMED_STEPS, clock=clock, timed_s=0)
    assert feed(pace, clock, range(1, WARMUP_STEPS + TIMED_STEPS + 1), lambda s: 1.0) == []


def test_the_estimate_is_within_30_percent_of_the_real_duration():
    """Real steps of a small run: the estimate given after the timed steps against the time twice as
    many more steps took. Both are read on the process's CPU clock (one torch thread), so that other
    processes' load on a shared machine, which no estimate can foresee, does not decide the outcome."""
    config = make_config({}, {"ngf": 4, "ndf": 4, "crop_size": 32, "load_size": 32})
    trainer = Trainer(config)
    x, y = torch.rand(2, 1, 3, 32, 32) * 2 - 1
    pace = Pace(config, 0, total=10_000, clock=time.process_time, timed_s=1.0)
    step = 0
    while not pace.said:
        step += 1
        trainer.train_step({"x": x, "y": y})
        pace.step_done(step)
    left, start = 2 * (step - WARMUP_STEPS), time.process_time()
    estimate = left * pace.seconds_per_step()
    for _ in range(left):
        trainer.train_step({"x": x, "y": y})
    assert estimate == pytest.approx(time.process_time() - start, rel=0.3)
