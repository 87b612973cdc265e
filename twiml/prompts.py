"""Everything the platform says, per language, in one catalogue.

Texts take `str.format` fields. A missing language falls back to English.
"""

SAY_LANGUAGE = {"en": "en-US"}

PROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "enter_pin": "Welcome. Please enter your PIN, followed by the pound key.",
        "no_pin": "We did not receive your PIN.",
        "wrong_pin": "That PIN is not valid.",
        "pin_locked": "Too many incorrect PINs. Goodbye.",
        "enter_destination": "Please enter the number you wish to call, followed by the pound key. "
        "For international calls, start with zero zero.",
        "no_destination": "We did not receive a number.",
        "invalid_destination": "That number is not valid.",
        "destination_blocked": "Calls to that number are not available.",
        "insufficient_funds": "Your balance is too low to make this call. Goodbye.",
        "connecting": "Your balance is {balance}. You can talk for up to {minutes} minutes. Connecting your call.",
        "destination_limit": "You have reached today's limit of calls to that number.",
        "too_many_calls": "You have too many calls in progress. Please try again later. Goodbye.",
        "b_busy": "The number you called is busy.",
        "b_no_answer": "There was no answer.",
        "b_failed": "The call could not be completed.",
        "next_call": "To make another call, press 1. To finish, hang up.",
        "no_input_goodbye": "We did not receive any input. Goodbye.",
        "too_many_tries": "Too many attempts. Goodbye.",
        "account_unavailable": "This service is not available for your account. Goodbye.",
        "session_over": "This call has ended. Goodbye.",
        "goodbye": "Thank you for calling. Goodbye.",
        "confirm_connect": "Press 1 to be connected to {number}.",
        # Texts (SMS replies): short, and never saying whether an account exists.
        "sms_queued": "Callback queued: we will call you at {leg_a} shortly.",
        "sms_queued_to": "Callback queued: we will call {leg_a}, then connect {destination}.",
        "sms_not_authorized": "Not authorized. Send HELP for help.",
        "sms_not_understood": "Sorry, we did not understand that. Send HELP for help.",
        "sms_help": "Text CALL for a callback, or a number to be connected to it; "
        "PIN <pin> <number> from another phone; BAL for your balance; RATE <number> for a price.",
        "sms_balance": "Your balance is {amount} {currency}.",
        "sms_rate": "Calls to {destination} cost {price} {currency} a minute.",
        "sms_no_rate": "Calls to {destination} are not available.",
        "sms_invalid_number": "That is not a valid phone number. Send HELP for help.",
        "sms_registered": "{number} is now registered to your account.",
        "sms_not_registered": "That number cannot be registered. Send HELP for help.",
        "sms_low_balance": "Your balance is too low for a callback. Please top up.",
        "sms_rate_limited": "Too many requests. Please wait a few minutes and try again.",
        "sms_unavailable": "The callback service is not available right now. Please try later.",
        "sms_opted_in": "You will receive messages from us again. Send HELP for help.",
        "sms_failed": "Your callback could not be completed: {why}.",
        "why_a_busy": "your line was busy",
        "why_a_no_answer": "there was no answer on your line",
        "why_a_failed": "your line could not be reached",
        "why_auth_failed": "it was not authorized",
        "why_b_busy": "the number you called was busy",
        "why_b_no_answer": "the number you called did not answer",
        "why_b_failed": "the number you called could not be reached",
        "why_insufficient_funds": "your balance is too low",
        "why_destination_blocked": "calls to that number are not available",
        "why_rate_limited": "too many requests; please wait and try again",
        "why_expired": "it could not be placed in time",
        "why_provider_error": "of a network problem",
        "why_canceled": "it was canceled",
    },
}


def text(key: str, language: str = "en", **fields) -> str:
    catalogue = PROMPTS.get(language) or PROMPTS["en"]
    template = catalogue.get(key) or PROMPTS["en"][key]
    return template.format(**fields)


def say_language(language: str) -> str:
    return SAY_LANGUAGE.get(language, SAY_LANGUAGE["en"]) if language in PROMPTS else SAY_LANGUAGE["en"]
