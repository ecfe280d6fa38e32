"""How a request's output is shown: its text as is, and its steps as one
updating line on a terminal or in a notebook cell, plain lines elsewhere (a
pipe, or CI=true) so logs stay stable."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO


def _is_interactive(stream: IO[str]) -> bool:
    if os.environ.get("CI", "").lower() in ("1", "true"):
        return False
    if type(stream).__module__.startswith("ipykernel"):
        return True  # a notebook cell renders \r as "rewrite this line"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class OutputWriter:
    """Writes a request's output events; steps become one updating line on a
    terminal or in a notebook, plain lines elsewhere."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._interactive = _is_interactive(stream)
        self._open_step: str | None = None  # the step shown on the current line
        self._at_line_start = True

    def write_events(self, events: Iterable[tuple[str, str]]) -> None:
        wrote = False
        for kind, text in events:
            wrote = True
            if kind == "write":
                self._write(text)
            elif kind == "step":
                self._step(text)
            elif kind == "step_done":
                self._step_done()
        if wrote:
            self._stream.flush()

    def message(self, text: str) -> None:
        self._end_line()
        self._write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._step_done()
        self._stream.flush()

    def _write(self, text: str) -> None:
        if not text:
            return
        if self._open_step is not None:
            self._raw("\n")  # keep the step's line; output goes below it
            self._open_step = None
        self._raw(text)

    def _step(self, name: str) -> None:
        self._step_done()
        self._end_line()
        if self._interactive:
            self._raw(f"… {name}")
            self._open_step = name
        else:
            self._raw(f"{name}\n")

    def _step_done(self) -> None:
        if self._open_step is not None:
            self._raw(f"\r✓ {self._open_step}\n")
            self._open_step = None

    def _end_line(self) -> None:
        if not self._at_line_start:
            self._raw("\n")

    def _raw(self, text: str) -> None:
        self._stream.write(text)
        self._at_line_start = text.endswith("\n")
