"""The Callback Dialer: `callback-platform dial` and the desktop window."""


def add_commands(groups) -> None:
    """Register the dialer's subcommands on the CLI's parser."""
