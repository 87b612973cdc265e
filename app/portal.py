"""The subscriber portal."""

routes: list = []
