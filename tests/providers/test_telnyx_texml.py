"""Every TwiML document the platform serves, as served to Telnyx, checked verb by verb against TeXML's reference.

The table is tests/providers/specs/telnyx_texml_verbs.json (with its sources); README's Telnyx section says
what differs and how app/providers/telnyx_texml.py adapts it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from app.providers.telnyx_texml import texml
from tests.utils import telnyx as tx
from twiml import voice
from twiml.prompts import PROMPTS, Speaker

TABLE = tx.spec("telnyx_texml_verbs.json")["verbs"]
ACTION = "https://callback.example.com/legs/7/pin"


def documents(speaker: Speaker) -> dict[str, str]:
    return {
        "reject": voice.reject_busy(),
        "ask_pin": voice.ask_pin(action=ACTION, speaker=speaker, before=("wrong_pin",)),
        "ask_destination": voice.ask_destination(action=ACTION, speaker=speaker),
        "connect": voice.connect(number="+442071234567", action=ACTION, status_callback=ACTION + "?leg=b",
                                 caller_id="+18005550000", time_limit=3600, speaker=speaker, balance="9.50 USD"),
        "connect_shortest": voice.connect(number="+12125550123", action=ACTION, status_callback=ACTION,
                                          caller_id=None, time_limit=60, speaker=speaker, balance="0.10 USD"),
        "confirm_connect": voice.confirm_connect(action=ACTION, number="+12125550123", speaker=speaker),
        "offer_next_call": voice.offer_next_call(action=ACTION, speaker=speaker),
        "goodbye": voice.goodbye(speaker=speaker),
        "empty": voice.empty(),
    }


SPEAKERS = [Speaker(language) for language in PROMPTS] + [
    Speaker("en", recordings={"enter_pin": "https://callback.example.com/media/prompts/enter_pin/en",
                              "goodbye": "https://callback.example.com/media/prompts/goodbye/en"})]


def check(element: ET.Element, where: str) -> None:
    rule = TABLE.get(element.tag)
    assert rule is not None, f"{where}: <{element.tag}> is not a TeXML verb"
    for name, value in element.attrib.items():
        allowed = rule["attributes"].get(name)
        assert allowed is not None, f"{where}: <{element.tag} {name}> is not a TeXML attribute"
        if "enum" in allowed:
            assert value in allowed["enum"], f"{where}: <{element.tag} {name}={value!r}>"
        if "range" in allowed:
            low, high = allowed["range"]
            assert value.isdigit() and low <= int(value) <= high, f"{where}: <{element.tag} {name}={value!r}>"
        if "pattern" in allowed:
            assert re.fullmatch(allowed["pattern"], value), f"{where}: <{element.tag} {name}={value!r}>"
        if allowed.get("url"):
            assert value.startswith("https://"), f"{where}: <{element.tag} {name}={value!r}>"
    for child in element:
        check(child, where)


@pytest.mark.parametrize("speaker", SPEAKERS, ids=lambda s: s.language + ("-recorded" if s.recordings else ""))
def test_every_document_served_to_telnyx_is_valid_texml(speaker):
    for name, document in documents(speaker).items():
        served = texml(document)
        root = ET.fromstring(served)
        assert root.tag == "Response"
        check(root, f"{name} ({speaker.language})")


def test_a_gather_is_followed_by_a_redirect_to_its_action():
    served = ET.fromstring(texml(voice.ask_pin(action=ACTION, speaker=Speaker())))
    verbs = [child.tag for child in served]
    assert verbs == ["Gather", "Redirect"]
    assert served[1].text == ACTION and served[1].attrib == {"method": "POST"}
    assert "actionOnEmptyResult" not in served[0].attrib and "method" not in served[0].attrib
    # What needs no change is served as written.
    assert texml(voice.reject_busy()) == voice.reject_busy()
