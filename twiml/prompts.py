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
        "connecting": "Connecting your call. You have up to {minutes} minutes.",
        "b_busy": "The number you called is busy.",
        "b_no_answer": "There was no answer.",
        "b_failed": "The call could not be completed.",
        "next_call": "To make another call, press 1. To finish, hang up.",
        "no_input_goodbye": "We did not receive any input. Goodbye.",
        "too_many_tries": "Too many attempts. Goodbye.",
        "account_unavailable": "This service is not available for your account. Goodbye.",
        "session_over": "This call has ended. Goodbye.",
        "goodbye": "Thank you for calling. Goodbye.",
    },
}


def text(key: str, language: str = "en", **fields) -> str:
    catalogue = PROMPTS.get(language) or PROMPTS["en"]
    template = catalogue.get(key) or PROMPTS["en"][key]
    return template.format(**fields)


def say_language(language: str) -> str:
    return SAY_LANGUAGE.get(language, SAY_LANGUAGE["en"]) if language in PROMPTS else SAY_LANGUAGE["en"]
