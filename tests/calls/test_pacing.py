"""The provider's calls-per-second limit: how a run of slots is planned."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.calls import pacing
from sandbox.cps import most_in_window

NOW = 1_800_000_000_000_000


def test_after_a_pause_the_first_slot_is_now_and_the_rest_follow_one_step_apart():
    assert pacing.plan(NOW - 5_000_000, NOW, step=100_000, want=3) == [NOW, NOW + 100_000, NOW + 200_000]


def test_slots_beyond_the_horizon_are_not_taken():
    assert pacing.plan(NOW, NOW, step=100_000, want=50, horizon=250_000) == [NOW, NOW + 100_000, NOW + 200_000]
    assert pacing.plan(NOW + 300_000, NOW, step=100_000, want=5, horizon=250_000) == []


def test_the_spacing_keeps_a_margin_over_one_over_cps():
    assert pacing.step_us(1) == 1_050_000
    assert pacing.step_us(1000) == 1_050
    assert pacing.step_us(17) == 61_765  # rounded up, never down


@given(
    cps=st.integers(1, 2000),
    lateness=st.lists(st.integers(0, pacing.LATE_US), min_size=1, max_size=400),
    start=st.integers(0, 10_000_000),
)
def test_calls_sent_within_the_lateness_allowed_never_exceed_the_cps_in_any_second(cps, lateness, start):
    """The guarantee the dispatcher relies on: back-to-back slots, each call sent up to
    LATE_US after its own, still put at most `cps` calls in any one-second window."""
    step = pacing.step_us(cps)
    sent = [start + i * step + late for i, late in enumerate(lateness)]
    assert most_in_window(sent, window=1_000_000) <= cps


@given(
    next_slot=st.integers(NOW - 10_000_000, NOW + 10_000_000),
    cps=st.floats(0.1, 10_000),
    want=st.integers(0, 100),
)
def test_planned_slots_never_come_closer_than_a_step_nor_before_the_next_free_one(next_slot, cps, want):
    step = pacing.step_us(cps)
    slots = pacing.plan(next_slot, NOW, step=step, want=want)
    assert len(slots) <= want
    assert all(later - earlier == step for earlier, later in zip(slots, slots[1:]))
    if slots:
        assert slots[0] >= max(next_slot, NOW) and slots[0] <= NOW + pacing.HORIZON_US
        assert slots[-1] <= NOW + pacing.HORIZON_US
    elif want > 0:
        assert max(next_slot, NOW) > NOW + pacing.HORIZON_US
