"""The callback request's state machine, in one screen.

    queued ──dispatch──▶ calling_a ──leg A answers──▶ a_answered ──dial B──▶ calling_b
      ▲                     │                           ▲    │                   │
      └──retry (busy, ──────┘                           │    │            B answers
         provider error)                                │    │                   ▼
                                                        └────┼────B ends──── connected
                                                             │
    any live state ──leg A ends──▶ completed (a call was connected) or failed (reason)

`queued` → `failed` also happens without dialling: expired, refused at the
trigger. A session whose end the provider cannot tell (it forgot the call, or
keeps failing past the longest call) ends from what is known: completed if a
call was connected, else failed `provider_error` (app/calls/lost_callbacks.py).
A `calling_a` row without a leg A sid is being placed: the provider has not
yet answered the create request (see app/calls/dispatcher.py).
"""

QUEUED = "queued"
CALLING_A = "calling_a"
A_ANSWERED = "a_answered"
CALLING_B = "calling_b"
CONNECTED = "connected"
COMPLETED = "completed"
FAILED = "failed"

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({CALLING_A, FAILED}),
    CALLING_A: frozenset({A_ANSWERED, QUEUED, FAILED}),
    A_ANSWERED: frozenset({CALLING_B, COMPLETED, FAILED}),
    CALLING_B: frozenset({CONNECTED, A_ANSWERED, COMPLETED, FAILED}),
    CONNECTED: frozenset({A_ANSWERED, COMPLETED, FAILED}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
}

LIVE = frozenset({A_ANSWERED, CALLING_B, CONNECTED})
TERMINAL = frozenset({COMPLETED, FAILED})

# Reasons a request fails (PRODUCT.md section 4).
A_BUSY = "a_busy"
A_NO_ANSWER = "a_no_answer"
A_FAILED = "a_failed"
AUTH_FAILED = "auth_failed"
B_BUSY = "b_busy"
B_NO_ANSWER = "b_no_answer"
B_FAILED = "b_failed"
INSUFFICIENT_FUNDS = "insufficient_funds"
DESTINATION_BLOCKED = "destination_blocked"
RATE_LIMITED = "rate_limited"
EXPIRED = "expired"
PROVIDER_ERROR = "provider_error"
CANCELED = "canceled"

REASONS = frozenset(
    {
        A_BUSY, A_NO_ANSWER, A_FAILED, AUTH_FAILED, B_BUSY, B_NO_ANSWER, B_FAILED,
        INSUFFICIENT_FUNDS, DESTINATION_BLOCKED, RATE_LIMITED, EXPIRED, PROVIDER_ERROR, CANCELED,
    }
)

# A leg's final CallStatus (as the provider reports it) as a failure reason.
LEG_A_FAILURES = {"busy": A_BUSY, "no-answer": A_NO_ANSWER, "failed": A_FAILED, "canceled": CANCELED}
LEG_B_FAILURES = {"busy": B_BUSY, "no-answer": B_NO_ANSWER, "failed": B_FAILED, "canceled": B_NO_ANSWER}


def can_move(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, ())
