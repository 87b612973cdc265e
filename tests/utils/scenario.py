"""Seed data and call steps shared by the flow tests."""

from __future__ import annotations

from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest

ALICE_PIN = "482193"
BOB_PIN = "735102"
ALICE_HOME = "+14155550100"   # alice's default callback number
ALICE_MOBILE = "+14155550101"  # a registered ANI of alice
BOB_MOBILE = "+14155550111"
STRANGER = "+14155550199"
PIN_NUMBER = "+18005550000"
ANI_NUMBER = "+18005550001"
ANI_THEN_PIN_NUMBER = "+18005550002"
ANI_AND_PIN_NUMBER = "+18005550003"
ALICE_DID = "+18005550004"
UK_DESTINATION = "+442071234567"


def seed(p: PlatformUnderTest) -> None:
    ok = [
        p.cli("account", "create", "alice", "--password", "alice-password", "--pin", ALICE_PIN,
              "--default-number", ALICE_HOME, "--balance", "10.00"),
        p.cli("account", "add-ani", "alice", ALICE_MOBILE),
        p.cli("account", "create", "bob", "--password", "bob-password", "--pin", BOB_PIN, "--balance", "5.00"),
        p.cli("account", "add-ani", "bob", BOB_MOBILE),
        p.cli("number", "add", PIN_NUMBER, "--mode", "pin"),
        p.cli("number", "add", ANI_NUMBER, "--mode", "ani"),
        p.cli("number", "add", ANI_THEN_PIN_NUMBER, "--mode", "ani-then-pin"),
        p.cli("number", "add", ANI_AND_PIN_NUMBER, "--mode", "ani-and-pin"),
        p.cli("number", "add", ALICE_DID, "--mode", "did", "--account", "alice"),
        p.cli("rate", "add", "1", "0.01"),
        p.cli("rate", "add", "44", "0.05", "--increment", "30/6"),
    ]
    assert ok == [0] * len(ok)


class Session:
    """One trigger and the callback leg that follows it, seen from the provider."""

    def __init__(self, p: PlatformUnderTest, *, caller: str, service_number: str):
        self.p = p
        self.caller = caller
        self.service_number = service_number
        self.trigger_sid = tw.call_sid()
        self.request_id: int | None = None
        self.sequence = 0

    def trigger(self):
        verbs = self.p.twiml("/twilio/voice", tw.voice_params(From=self.caller, To=self.service_number,
                                                              CallSid=self.trigger_sid))
        rows = [r for r in self.p.requests() if r["trigger_id"] == self.trigger_sid]
        self.request_id = rows[0]["id"] if rows else None
        return verbs

    @property
    def row(self):
        return self.p.request(self.request_id)

    def leg_params(self, **extra) -> dict[str, str]:
        row = self.row
        return tw.voice_params(From=row["leg_a_from"], To=row["leg_a_number"], CallSid=row["leg_a_sid"],
                               CallStatus="in-progress", Direction="outbound-api", **extra)

    def step(self, name: str, **extra):
        return self.p.twiml(f"/legs/{self.request_id}/{name}", self.leg_params(**extra))

    def status_a(self, status: str, duration: int | None = None):
        row = self.row
        self.sequence += 1
        params = tw.status_params(CallSid=row["leg_a_sid"], CallStatus=status, From=row["leg_a_from"],
                                  To=row["leg_a_number"], SequenceNumber=self.sequence, CallDuration=duration)
        return self.p.post(f"/twilio/status?request={self.request_id}&leg=a", params)

    def status_b(self, sid: str, status: str, sequence: int, duration: int | None = None):
        row = self.row
        params = tw.status_params(CallSid=sid, CallStatus=status, From=row["leg_a_from"], To=row["leg_b_number"],
                                  SequenceNumber=sequence, CallDuration=duration, ParentCallSid=row["leg_a_sid"])
        return self.p.post(f"/twilio/status?request={self.request_id}&leg=b", params)
