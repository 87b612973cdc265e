"""Everything the platform says, per language, in one catalogue.

Texts take `str.format` fields. A missing language falls back to English.
Every prompt spoken on calls may be replaced by an operator's recordings (see
`Speaker`). A recording cannot say a balance or a number, so a prompt with
fields is recorded in parts, the words between its fields: "connecting" is
`connecting.1` ("Your balance is"), `connecting.2` ("You can talk for up to")
and `connecting.3` ("minutes. Connecting your call."), and `<Say>` speaks the
values between them. The parts follow each language's own text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field

# <Say> attributes per language: Twilio's Amazon Polly voices.
SAY_LANGUAGE = {"en": "en-US", "es": "es-ES", "fr": "fr-FR"}
SAY_VOICE = {"en": "Polly.Joanna", "es": "Polly.Lucia", "fr": "Polly.Lea"}

PROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "enter_pin": "Welcome. Please enter your PIN, followed by the pound key.",
        "no_pin": "We did not receive your PIN.",
        "wrong_pin": "That PIN is not valid.",
        "pin_locked": "Too many incorrect PINs. Goodbye.",
        "enter_destination": "Please enter the number you wish to call, followed by the pound key. "
        "For international calls, start with zero zero. To add a voucher, press star, then pound.",
        "no_destination": "We did not receive a number.",
        "invalid_destination": "That number is not valid.",
        "destination_blocked": "Calls to that number are not available.",
        "insufficient_funds": "Your balance is too low to make this call. Goodbye.",
        "connecting": "Your balance is {balance}. You can talk for up to {minutes} minutes. Connecting your call.",
        "connecting_now": "Connecting your call.",
        "destination_limit": "You have reached today's limit of calls to that number.",
        "too_many_calls": "You have too many calls in progress. Please try again later. Goodbye.",
        "b_busy": "The number you called is busy.",
        "b_no_answer": "There was no answer.",
        "b_failed": "The call could not be completed.",
        "next_call": "To make another call, press 1. To add a voucher, press 2. To finish, hang up.",
        "no_input_goodbye": "We did not receive any input. Goodbye.",
        "too_many_tries": "Too many attempts. Goodbye.",
        "account_unavailable": "This service is not available for your account. Goodbye.",
        "session_over": "This call has ended. Goodbye.",
        "goodbye": "Thank you for calling. Goodbye.",
        # Both parties hear it before a recorded call: leg A before the dial, leg B as the dial's whisper.
        "call_recorded": "This call will be recorded.",
        "confirm_connect": "Press 1 to be connected to {number}.",
        "speed_dial_unknown": "There is no speed dial with that code.",
        "no_last_number": "There is no number to redial yet.",
        # Texts (SMS replies): short, and never saying whether an account exists.
        "sms_queued": "Callback queued: we will call you at {leg_a} shortly.",
        "sms_queued_to": "Callback queued: we will call {leg_a}, then connect {destination}.",
        "sms_scheduled": "Callback scheduled for {when}: we will call you at {leg_a}.",
        "sms_scheduled_to": "Callback scheduled for {when}: we will call {leg_a}, then connect {destination}.",
        "sms_bad_time": "That time cannot be used. Text CALL <number> AT 18:30 (24-hour clock).",
        "sms_time_skipped": "That time is skipped or repeated by the clock change tonight. Pick another time.",
        "sms_too_many_scheduled": "Too many scheduled callbacks are waiting. Cancel one first.",
        "sms_not_authorized": "Not authorized. Send HELP for help.",
        "sms_not_understood": "Sorry, we did not understand that. Send HELP for help.",
        "sms_help": "Text CALL for a callback, or a number to be connected to it (add AT 18:30 to schedule it); "
        "PIN <pin> <number> from another phone; BAL for your balance; RATE <number> for a price; "
        "TOPUP <code> to add a voucher.",
        "sms_balance": "Your balance is {amount} {currency}.",
        "sms_rate": "Calls to {destination} cost {price} {currency} a minute.",
        "sms_no_rate": "Calls to {destination} are not available.",
        "sms_invalid_number": "That is not a valid phone number. Send HELP for help.",
        "sms_registered": "{number} is now registered to your account.",
        "sms_not_registered": "That number cannot be registered. Send HELP for help.",
        "sms_code_sent": "A code was texted to {number}. Text VERIFY and the code from that phone, or type it on the portal's settings page, to register it.",
        "sms_verify_failed": "That code is not right, or no code is waiting for this phone.",
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
        "enter_voucher": "Please enter your voucher code, followed by the pound key.",
        "voucher_accepted": "Your voucher was accepted. Your balance is {balance}.",
        "voucher_invalid": "That voucher code is not valid.",
        "voucher_locked": "Too many incorrect voucher codes. Please try again later.",
        "sms_voucher_accepted": "Voucher accepted: {amount} {currency} added. Your balance is {balance} {currency}.",
        "sms_voucher_invalid": "That voucher code is not valid.",
        "sms_voucher_locked": "Too many wrong voucher codes. Please try again later.",
        "sms_low_balance_notice": "Your balance is {balance} {currency}, below {threshold} {currency}. "
        "Please top up to keep calling.",
    },
    "es": {
        "enter_pin": "Bienvenido. Introduzca su PIN seguido de la tecla almohadilla.",
        "no_pin": "No hemos recibido su PIN.",
        "wrong_pin": "Ese PIN no es válido.",
        "pin_locked": "Demasiados PIN incorrectos. Adiós.",
        "enter_destination": "Introduzca el número al que desea llamar, seguido de la tecla almohadilla. "
        "Para llamadas internacionales, empiece por cero cero. Para añadir un bono, pulse asterisco y almohadilla.",
        "no_destination": "No hemos recibido ningún número.",
        "invalid_destination": "Ese número no es válido.",
        "destination_blocked": "Las llamadas a ese número no están disponibles.",
        "insufficient_funds": "Su saldo es insuficiente para esta llamada. Adiós.",
        "connecting": "Su saldo es de {balance}. Puede hablar hasta {minutes} minutos. Conectando su llamada.",
        "connecting_now": "Conectando su llamada.",
        "destination_limit": "Ha alcanzado el límite de llamadas de hoy a ese número.",
        "too_many_calls": "Tiene demasiadas llamadas en curso. Inténtelo más tarde. Adiós.",
        "b_busy": "El número al que llama está ocupado.",
        "b_no_answer": "No hubo respuesta.",
        "b_failed": "No se pudo completar la llamada.",
        "next_call": "Para hacer otra llamada, pulse 1. Para añadir un bono, pulse 2. Para terminar, cuelgue.",
        "no_input_goodbye": "No hemos recibido ninguna respuesta. Adiós.",
        "too_many_tries": "Demasiados intentos. Adiós.",
        "account_unavailable": "Este servicio no está disponible para su cuenta. Adiós.",
        "session_over": "Esta llamada ha terminado. Adiós.",
        "goodbye": "Gracias por llamar. Adiós.",
        "call_recorded": "Esta llamada será grabada.",
        "confirm_connect": "Pulse 1 para conectar con el {number}.",
        "speed_dial_unknown": "No hay ninguna marcación rápida con ese código.",
        "no_last_number": "Todavía no hay ningún número para volver a marcar.",
        "sms_queued": "Rellamada en cola: le llamaremos al {leg_a} en breve.",
        "sms_queued_to": "Rellamada en cola: llamaremos al {leg_a} y después conectaremos con el {destination}.",
        "sms_scheduled": "Rellamada programada para el {when}: le llamaremos al {leg_a}.",
        "sms_scheduled_to": "Rellamada programada para el {when}: llamaremos al {leg_a} "
        "y después conectaremos con el {destination}.",
        "sms_bad_time": "No se puede usar esa hora. Envíe CALL <número> AT 18:30 (formato de 24 horas).",
        "sms_time_skipped": "Esa hora se salta o se repite por el cambio de hora. Elija otra hora.",
        "sms_too_many_scheduled": "Hay demasiadas rellamadas programadas en espera. Cancele una primero.",
        "sms_not_authorized": "No autorizado. Envíe HELP para obtener ayuda.",
        "sms_not_understood": "No hemos entendido su mensaje. Envíe HELP para obtener ayuda.",
        "sms_help": "Envíe CALL para que le llamemos, o un número para conectarle con él (añada AT 18:30 "
        "para programarlo); "
        "PIN <pin> <número> desde otro teléfono; BAL para su saldo; RATE <número> para una tarifa; "
        "TOPUP <código> para añadir un bono.",
        "sms_balance": "Su saldo es de {amount} {currency}.",
        "sms_rate": "Las llamadas al {destination} cuestan {price} {currency} por minuto.",
        "sms_no_rate": "Las llamadas al {destination} no están disponibles.",
        "sms_invalid_number": "Ese número de teléfono no es válido. Envíe HELP para obtener ayuda.",
        "sms_registered": "El {number} queda registrado en su cuenta.",
        "sms_not_registered": "Ese número no se puede registrar. Envíe HELP para obtener ayuda.",
        "sms_code_sent": "Se envió un código al {number}. Envíe VERIFY y el código desde ese teléfono, o escríbalo en la página de ajustes del portal, para registrarlo.",
        "sms_verify_failed": "Ese código no es correcto, o no hay ningún código pendiente para este teléfono.",
        "sms_low_balance": "Su saldo es insuficiente para una rellamada. Recargue su cuenta.",
        "sms_rate_limited": "Demasiadas solicitudes. Espere unos minutos e inténtelo de nuevo.",
        "sms_unavailable": "El servicio de rellamada no está disponible ahora. Inténtelo más tarde.",
        "sms_opted_in": "Volverá a recibir nuestros mensajes. Envíe HELP para obtener ayuda.",
        "sms_failed": "No se pudo completar su rellamada: {why}.",
        "why_a_busy": "su línea estaba ocupada",
        "why_a_no_answer": "no hubo respuesta en su línea",
        "why_a_failed": "no se pudo contactar con su línea",
        "why_auth_failed": "no estaba autorizada",
        "why_b_busy": "el número al que llamó estaba ocupado",
        "why_b_no_answer": "el número al que llamó no respondió",
        "why_b_failed": "no se pudo contactar con el número al que llamó",
        "why_insufficient_funds": "su saldo es insuficiente",
        "why_destination_blocked": "las llamadas a ese número no están disponibles",
        "why_rate_limited": "demasiadas solicitudes; espere e inténtelo de nuevo",
        "why_expired": "no se pudo realizar a tiempo",
        "why_provider_error": "un problema de red",
        "why_canceled": "fue cancelada",
        "enter_voucher": "Introduzca el código de su bono, seguido de la tecla almohadilla.",
        "voucher_accepted": "Su bono ha sido aceptado. Su saldo es de {balance}.",
        "voucher_invalid": "Ese código de bono no es válido.",
        "voucher_locked": "Demasiados códigos de bono incorrectos. Inténtelo más tarde.",
        "sms_voucher_accepted": "Bono aceptado: {amount} {currency} añadidos. Su saldo es de {balance} {currency}.",
        "sms_voucher_invalid": "Ese código de bono no es válido.",
        "sms_voucher_locked": "Demasiados códigos de bono incorrectos. Inténtelo más tarde.",
        "sms_low_balance_notice": "Su saldo es de {balance} {currency}, por debajo de {threshold} {currency}. "
        "Recargue su cuenta para seguir llamando.",
    },
    "fr": {
        "enter_pin": "Bienvenue. Veuillez saisir votre code PIN, suivi de la touche dièse.",
        "no_pin": "Nous n'avons pas reçu votre code PIN.",
        "wrong_pin": "Ce code PIN n'est pas valide.",
        "pin_locked": "Trop de codes PIN incorrects. Au revoir.",
        "enter_destination": "Veuillez saisir le numéro que vous souhaitez appeler, suivi de la touche dièse. "
        "Pour l'international, commencez par zéro zéro. Pour ajouter un bon, appuyez sur étoile puis dièse.",
        "no_destination": "Nous n'avons reçu aucun numéro.",
        "invalid_destination": "Ce numéro n'est pas valide.",
        "destination_blocked": "Les appels vers ce numéro ne sont pas disponibles.",
        "insufficient_funds": "Votre solde est insuffisant pour cet appel. Au revoir.",
        "connecting": "Votre solde est de {balance}. Vous pouvez parler jusqu'à {minutes} minutes. "
        "Nous vous mettons en relation.",
        "connecting_now": "Nous vous mettons en relation.",
        "destination_limit": "Vous avez atteint la limite d'appels du jour vers ce numéro.",
        "too_many_calls": "Vous avez trop d'appels en cours. Veuillez réessayer plus tard. Au revoir.",
        "b_busy": "Le numéro que vous appelez est occupé.",
        "b_no_answer": "Il n'y a pas eu de réponse.",
        "b_failed": "L'appel n'a pas pu aboutir.",
        "next_call": "Pour passer un autre appel, appuyez sur 1. Pour ajouter un bon, appuyez sur 2. Pour terminer, raccrochez.",
        "no_input_goodbye": "Nous n'avons reçu aucune saisie. Au revoir.",
        "too_many_tries": "Trop de tentatives. Au revoir.",
        "account_unavailable": "Ce service n'est pas disponible pour votre compte. Au revoir.",
        "session_over": "Cet appel est terminé. Au revoir.",
        "goodbye": "Merci de votre appel. Au revoir.",
        "call_recorded": "Cet appel sera enregistré.",
        "confirm_connect": "Appuyez sur 1 pour être mis en relation avec le {number}.",
        "speed_dial_unknown": "Aucune numérotation abrégée ne porte ce code.",
        "no_last_number": "Il n'y a pas encore de numéro à rappeler.",
        "sms_queued": "Rappel programmé : nous vous appellerons au {leg_a} dans un instant.",
        "sms_queued_to": "Rappel programmé : nous appellerons le {leg_a}, puis le {destination}.",
        "sms_scheduled": "Rappel prévu le {when} : nous vous appellerons au {leg_a}.",
        "sms_scheduled_to": "Rappel prévu le {when} : nous appellerons le {leg_a}, puis le {destination}.",
        "sms_bad_time": "Cette heure n'est pas utilisable. Envoyez CALL <numéro> AT 18:30 (sur 24 heures).",
        "sms_time_skipped": "Cette heure est sautée ou répétée par le changement d'heure. Choisissez-en une autre.",
        "sms_too_many_scheduled": "Trop de rappels prévus sont en attente. Annulez-en un d'abord.",
        "sms_not_authorized": "Non autorisé. Envoyez HELP pour obtenir de l'aide.",
        "sms_not_understood": "Message non compris. Envoyez HELP pour obtenir de l'aide.",
        "sms_help": "Envoyez CALL pour être rappelé, ou un numéro pour être mis en relation avec lui "
        "(ajoutez AT 18:30 pour le programmer) ; "
        "PIN <pin> <numéro> depuis un autre téléphone ; BAL pour votre solde ; RATE <numéro> pour un tarif ; "
        "TOPUP <code> pour ajouter un bon.",
        "sms_balance": "Votre solde est de {amount} {currency}.",
        "sms_rate": "Les appels vers le {destination} coûtent {price} {currency} la minute.",
        "sms_no_rate": "Les appels vers le {destination} ne sont pas disponibles.",
        "sms_invalid_number": "Ce numéro de téléphone n'est pas valide. Envoyez HELP pour obtenir de l'aide.",
        "sms_registered": "Le {number} est désormais enregistré sur votre compte.",
        "sms_not_registered": "Ce numéro ne peut pas être enregistré. Envoyez HELP pour obtenir de l'aide.",
        "sms_code_sent": "Un code a été envoyé au {number}. Envoyez VERIFY suivi du code depuis ce téléphone, ou saisissez-le sur la page des réglages du portail, pour l'enregistrer.",
        "sms_verify_failed": "Ce code n'est pas bon, ou aucun code n'attend ce téléphone.",
        "sms_low_balance": "Votre solde est insuffisant pour un rappel. Veuillez recharger votre compte.",
        "sms_rate_limited": "Trop de demandes. Veuillez patienter quelques minutes et réessayer.",
        "sms_unavailable": "Le service de rappel n'est pas disponible pour le moment. Réessayez plus tard.",
        "sms_opted_in": "Vous recevrez de nouveau nos messages. Envoyez HELP pour obtenir de l'aide.",
        "sms_failed": "Votre rappel n'a pas pu aboutir : {why}.",
        "why_a_busy": "votre ligne était occupée",
        "why_a_no_answer": "votre ligne n'a pas répondu",
        "why_a_failed": "votre ligne était injoignable",
        "why_auth_failed": "il n'était pas autorisé",
        "why_b_busy": "le numéro appelé était occupé",
        "why_b_no_answer": "le numéro appelé n'a pas répondu",
        "why_b_failed": "le numéro appelé était injoignable",
        "why_insufficient_funds": "votre solde est insuffisant",
        "why_destination_blocked": "les appels vers ce numéro ne sont pas disponibles",
        "why_rate_limited": "trop de demandes ; patientez puis réessayez",
        "why_expired": "il n'a pas pu être passé à temps",
        "why_provider_error": "d'un problème de réseau",
        "why_canceled": "il a été annulé",
        "enter_voucher": "Veuillez saisir le code de votre bon, suivi de la touche dièse.",
        "voucher_accepted": "Votre bon a été accepté. Votre solde est de {balance}.",
        "voucher_invalid": "Ce code de bon n'est pas valable.",
        "voucher_locked": "Trop de codes de bon incorrects. Veuillez réessayer plus tard.",
        "sms_voucher_accepted": "Bon accepté : {amount} {currency} ajoutés. Votre solde est de {balance} {currency}.",
        "sms_voucher_invalid": "Ce code de bon n'est pas valable.",
        "sms_voucher_locked": "Trop de codes de bon incorrects. Veuillez réessayer plus tard.",
        "sms_low_balance_notice": "Votre solde est de {balance} {currency}, sous le seuil de {threshold} {currency}. "
        "Rechargez votre compte pour continuer à appeler.",
    },
}


def _template(key: str, language: str) -> str:
    catalogue = PROMPTS.get(language) or PROMPTS["en"]
    return catalogue.get(key) or PROMPTS["en"][key]


def text(key: str, language: str = "en", **fields) -> str:
    return _template(key, language).format(**fields)


def spoken(key: str) -> bool:
    """Said on calls; the others (SMS replies and the reasons they give) are only ever texted."""
    return key in PROMPTS["en"] and not key.startswith(("sms_", "why_"))


VOICE_PROMPTS = tuple(key for key in PROMPTS["en"] if spoken(key))


@dataclass(frozen=True)
class Part:
    """A piece of a spoken prompt: words an operator may record, or a value that is always said."""

    text: str  # the words; for a value, its field as a template: "{balance}"
    recording: str | None = None  # the name the words are recorded under; None for a value

    @property
    def is_value(self) -> bool:
        return self.recording is None


def parts(key: str, language: str = "en") -> tuple[Part, ...]:
    """The prompt as it is recorded: one part named `key` without fields, else `key.1`, `key.2`... around them.

    Words of punctuation only (the "." after a number) are left out: nothing to record, nothing lost.
    """
    template = _template(key, language)
    pieces = list(string.Formatter().parse(template))
    if all(name is None for _, name, _, _ in pieces):
        return (Part(template, key),)
    out: list[Part] = []
    recorded = 0
    for literal, name, spec, conversion in pieces:
        if any(ch.isalnum() for ch in literal):
            recorded += 1
            # The full stop that ends the sentence before a value belongs to no recording.
            out.append(Part(literal.strip().lstrip(".,;:!?").lstrip(), f"{key}.{recorded}"))
        if name is not None:
            out.append(Part("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"))
    return tuple(out)


def recording_names(key: str, language: str = "en") -> list[str]:
    return [part.recording for part in parts(key, language) if part.recording]


def recordable(name: str, language: str = "en") -> bool:
    """Whether `name` is a recording some spoken prompt plays in `language`: a whole prompt, or a part of one."""
    key = name.rsplit(".", 1)[0]
    return spoken(key) and language in PROMPTS and name in recording_names(key, language)


@dataclass(frozen=True)
class Speaker:
    """Who speaks to the caller: a language, and the operator's recordings that replace prompts."""

    language: str = "en"
    recordings: Mapping[str, str] = field(default_factory=dict)  # recording name -> audio URL

    def __post_init__(self):
        if self.language not in PROMPTS:
            object.__setattr__(self, "language", "en")

    @property
    def say_attributes(self) -> dict[str, str]:
        return {"language": SAY_LANGUAGE[self.language], "voice": SAY_VOICE[self.language]}

    def script(self, key: str, **fields) -> list[tuple[str, str]]:
        """What the caller hears for a prompt, in order: ("play", url) or ("say", text).

        The recordings are played only when every part of the prompt is recorded in this language:
        a sentence half recorded and half synthesized would switch voices mid-sentence.
        """
        pieces = parts(key, self.language) if spoken(key) else ()
        urls = [self.recordings.get(part.recording) for part in pieces if not part.is_value]
        if not urls or not all(urls):
            return [("say", text(key, self.language, **fields))]
        played = iter(urls)
        return [("say", part.text.format(**fields)) if part.is_value else ("play", next(played)) for part in pieces]
