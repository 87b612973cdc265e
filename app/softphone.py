"""The demo softphone page (sandbox carrier only)."""

routes: list = []
