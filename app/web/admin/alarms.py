"""The alarms page: what is raised now (until it clears), what cleared lately, and the thresholds."""

from __future__ import annotations

from starlette.responses import Response

from app.data import alarms
from app.web.admin.pages import Desk, admin_page


@admin_page()
async def alarm_list(desk: Desk) -> Response:
    s = desk.p.settings
    thresholds = [
        ("Window", f"{s.alarm_window_seconds} s", "ALARM_WINDOW_SECONDS"),
        ("Calls needed to judge ASR and ACD", str(s.alarm_min_calls), "ALARM_MIN_CALLS"),
        ("ASR below", f"{s.alarm_asr_below_percent}%" if s.alarm_asr_below_percent else "off",
         "ALARM_ASR_BELOW_PERCENT"),
        ("ACD below", f"{s.alarm_acd_below_seconds} s" if s.alarm_acd_below_seconds else "off",
         "ALARM_ACD_BELOW_SECONDS"),
        ("Failed calls in a row", str(s.alarm_failed_run or "off"), "ALARM_FAILED_RUN"),
        ("Spend spike", f"{s.alarm_spend_factor}x usual, at least {s.alarm_spend_min} minor units"
         if s.alarm_spend_factor else "off", "ALARM_SPEND_FACTOR, ALARM_SPEND_MIN"),
    ]
    return desk.render("admin/alarms.html", active="alarms", raised=await alarms.open_alarms(desk.p.db),
                       cleared=await alarms.recently_cleared(desk.p.db), thresholds=thresholds)
