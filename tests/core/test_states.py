from app.core import states


def test_terminal_states_go_nowhere():
    for state in states.TERMINAL:
        assert states.TRANSITIONS[state] == frozenset()


def test_every_live_state_can_fail_and_the_happy_path_exists():
    path = [states.QUEUED, states.CALLING_A, states.A_ANSWERED, states.CALLING_B, states.CONNECTED, states.COMPLETED]
    assert all(states.can_move(a, b) for a, b in zip(path, path[1:]))
    for state in set(states.TRANSITIONS) - states.TERMINAL:
        assert states.can_move(state, states.FAILED)


def test_no_skipping_ahead():
    assert not states.can_move(states.QUEUED, states.CONNECTED)
    assert not states.can_move(states.COMPLETED, states.QUEUED)
    assert not states.can_move(states.FAILED, states.CALLING_A)


def test_leg_failures_map_to_reasons_in_the_catalogue():
    assert set(states.LEG_A_FAILURES.values()) <= states.REASONS
    assert set(states.LEG_B_FAILURES.values()) <= states.REASONS
