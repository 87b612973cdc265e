"""The Callback Dialer: `callback-platform dial` and the desktop window, over the REST API.

Exit status of `dial`: 0 when the call completed, 1 when it failed or was
refused (the reason is printed), 2 for usage errors (no server or token, bad
options), 130 when interrupted (the callback is canceled first).
"""

from __future__ import annotations

import argparse
import sys

from dialer.client import (
    CONFIG_PATH,
    ENV_SERVER,
    ENV_TOKEN,
    ConfigError,
    DialerClient,
    DialerError,
    clock_time,
    follow,
    load_config,
    outcome,
    progress,
)

EPILOG = (f"The server and token come from --server/--token, else ${ENV_SERVER}/${ENV_TOKEN}, else the [dialer] "
          f"section of {CONFIG_PATH} (keys 'server' and 'token'). Exit status: 0 completed, 1 failed or refused, "
          "2 usage error.")


def _config(args):
    try:
        return load_config(server=args.server, token=args.token, path=args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_dial(settings, args) -> str:
    config = _config(args)
    with DialerClient(config) as client:
        try:
            view = client.create(args.to, args.from_)
        except DialerError as exc:
            print(f"error: refused: {exc}", file=sys.stderr)
            raise SystemExit(2 if exc.status == 401 else 1) from None
        _say(f"callback {view['id']}: calling {view['from']}, then {view['to']}")
        final = view
        try:
            for final in follow(client, view["id"], interval=args.interval, timeout=args.timeout):
                _say(f"{clock_time()}  {progress(final)}")
        except KeyboardInterrupt:
            try:
                client.cancel(view["id"])
                _say(f"callback {view['id']} canceled")
            except DialerError as exc:
                print(f"error: could not cancel: {exc}", file=sys.stderr)
            raise SystemExit(130) from None
        except DialerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
    if final["state"] != "completed":
        _say(outcome(final))
        raise SystemExit(1)
    return outcome(final)


def cmd_dialer(settings, args) -> str:
    config = _config(args)
    from dialer import window as dialer_window

    try:
        dialer_window.run(DialerClient(config))
    except dialer_window.NoDisplay as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return ""


def _connection_options(parser) -> None:
    parser.add_argument("--server", help=f"the platform's URL (default: ${ENV_SERVER} or the config file)")
    parser.add_argument("--token", help=f"an API token (default: ${ENV_TOKEN} or the config file)")
    parser.add_argument("--config", help=f"a config file instead of {CONFIG_PATH}")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def add_commands(groups) -> None:
    """Register the dialer's subcommands on the CLI's parser."""
    dial = groups.add_parser("dial", help="call a number through the REST API and follow the call (Callback Dialer)",
                             description="Ask the platform to call you (--from, or your default number), then "
                                         "connect TO; prints the call's progress until it ends.", epilog=EPILOG)
    dial.add_argument("to", metavar="TO", help="the number to connect")
    dial.add_argument("--from", dest="from_", metavar="N", help="the phone to call first (default: your default number)")
    _connection_options(dial)
    dial.add_argument("--timeout", type=_positive, default=3600.0, help="give up following after this many seconds")
    dial.add_argument("--interval", type=_positive, default=0.5, help="seconds between status checks")
    dial.set_defaults(run=cmd_dial)

    window = groups.add_parser("dialer", help="the Callback Dialer window (Tk)", epilog=EPILOG,
                               description="A small window: a number field, a Call button, the call's status "
                                           "and your recent calls.")
    _connection_options(window)
    window.set_defaults(run=cmd_dialer)
