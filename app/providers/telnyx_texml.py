"""The platform's TwiML made valid TeXML: what Telnyx's verbs do not take, and what stands in for it.

twiml/ writes one document per IVR step for every provider; Telnyx's TeXML
differs from TwiML in two attributes the platform uses (README's "Telnyx"
section and tests/providers/specs/telnyx_texml_verbs.json hold the whole
check, verb by verb, with its sources):

- `<Gather method>`: Telnyx posts a Gather's action with the TeXML
  application's own method (set it to POST); the attribute is dropped.
- `<Gather actionOnEmptyResult>`: not a TeXML attribute. Without it Telnyx goes
  on to the verb after the Gather when nothing was pressed, so a `<Redirect>`
  to the same action follows each Gather: the step is asked again with no
  Digits, which is exactly what the empty result would have posted.

Everything else the platform writes (Reject, Say, Play, Pause, Dial with
action, method, timeout, timeLimit, hangupOnStar, callerId, Number, Redirect,
Hangup) Telnyx takes as written.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

DROPPED = {"Gather": ("method", "actionOnEmptyResult")}
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def texml(document: str) -> str:
    """The document for Telnyx: unchanged unless it holds a Gather."""
    if "<Gather" not in document:
        return document
    root = ET.fromstring(document)  # our own output, never a caller's
    for index, verb in reversed(list(enumerate(root))):
        if verb.tag != "Gather":
            continue
        wants_empty = verb.attrib.get("actionOnEmptyResult") == "true"
        for name in DROPPED["Gather"]:
            verb.attrib.pop(name, None)
        action = verb.attrib.get("action")
        if wants_empty and action:
            redirect = ET.Element("Redirect", {"method": "POST"})
            redirect.text = action
            root.insert(index + 1, redirect)
    return DECLARATION + ET.tostring(root, encoding="unicode")
