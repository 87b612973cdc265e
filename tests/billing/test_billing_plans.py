"""Time limits and holds: the worst case of a call never exceeds what was reserved for it."""

from hypothesis import given, settings as hsettings, strategies as st

from app.billing import pricing as billing
from app.billing.pricing import Rate, leg_cost, plan_call

A = Rate("1", 10_000)  # 0.01 a minute, 60/60
B = Rate("44", 50_000, 30, 6)  # 0.05 a minute, 30/6


def worst_case(seconds: int, elapsed: int, rate_a: Rate, rate_b: Rate) -> int:
    return (leg_cost(elapsed + seconds + billing.IVR_ALLOWANCE_SECONDS, rate_a, "USD")[1]
            + leg_cost(seconds, rate_b, "USD")[1])


def test_the_longest_limit_that_fits():
    seconds, hold = plan_call(100, "USD", A, B, a_elapsed=0)
    assert hold == worst_case(seconds, 0, A, B) <= 100
    assert worst_case(seconds + 1, 0, A, B) > 100


def test_nothing_fits_an_empty_budget():
    assert plan_call(0, "USD", A, B, a_elapsed=0) == (0, 0)


def test_caps_on_length_and_cost():
    assert plan_call(10_000, "USD", A, B, a_elapsed=0, max_seconds=300)[0] == 300
    seconds, _ = plan_call(10_000, "USD", A, B, a_elapsed=0, max_cost=10)
    assert leg_cost(seconds, B, "USD")[1] <= 10 < leg_cost(seconds + 1, B, "USD")[1]
    assert plan_call(10**9, "USD", A, B, a_elapsed=0)[0] == billing.MAX_CALL_SECONDS


def test_connection_fees_count():
    with_fee = Rate("44", 50_000, 30, 6, connection_fee=200_000)  # 0.20 per answered call
    assert leg_cost(10, with_fee, "USD") == (30, 23)
    assert plan_call(100, "USD", A, with_fee, a_elapsed=0)[0] < plan_call(100, "USD", A, B, a_elapsed=0)[0]


def test_time_already_spent_on_leg_a_shrinks_the_limit():
    fresh = plan_call(100, "USD", A, B, a_elapsed=0)[0]
    assert plan_call(100, "USD", A, B, a_elapsed=600)[0] < fresh


rates = st.builds(Rate, st.just("1"), st.integers(0, 2_000_000), st.sampled_from([1, 6, 30, 60]),
                  st.sampled_from([1, 6, 30, 60]), st.integers(0, 500_000))


@hsettings(max_examples=200, deadline=None)
@given(budget=st.integers(0, 100_000), rate_a=rates, rate_b=rates, elapsed=st.integers(0, 3600),
       used=st.integers(0, 4 * 3600))
def test_no_call_within_its_limit_costs_more_than_its_hold(budget, rate_a, rate_b, elapsed, used):
    seconds, hold = plan_call(budget, "USD", rate_a, rate_b, a_elapsed=elapsed)
    assert hold <= budget
    talked = min(used, seconds)
    actual = (leg_cost(elapsed + talked + billing.IVR_ALLOWANCE_SECONDS, rate_a, "USD")[1]
              + leg_cost(talked, rate_b, "USD")[1])
    assert actual <= hold or seconds == 0
