"""Redaction of execution outputs: every view and every saved notebook gets them without API keys.

:func:`redact_output` cleans one nbformat output; :class:`OutputRedactor` does it for a block's outputs
as they stream, holding back the end of a stream until it cannot be the start of a key, so that a key
printed piece by piece (``print(c, end="", flush=True)`` per character) is caught too.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ..errors import contains_secret, held_back_from, known_secrets, redact, secret_spans

_TEXT_MIME = re.compile(r"^(text/|application/(json|javascript|xml)$|image/svg\+xml$|.*\+(json|xml)$)")


def redact_output(out: dict[str, Any]) -> dict[str, Any]:
    """A copy of an nbformat output with API keys removed from every string (:func:`errors.redact`).

    A binary payload (a PNG, a PDF) that holds a registered key is replaced by a text note: editing
    bytes would break it, and keeping it would store the key in the notebook.
    """
    secrets = bool(known_secrets())
    clean: dict[str, Any] = {}
    for key, value in out.items():
        if key == "data" and isinstance(value, dict):
            data: dict[str, Any] = {}
            for mime, payload in value.items():
                if _TEXT_MIME.match(mime) or not isinstance(payload, str | list):
                    data[mime] = _redact_value(payload)
                elif secrets and _binary_holds_secret(payload):
                    data["text/plain"] = f"[{mime} output withheld: it contains an API key]"
                else:
                    data[mime] = payload
            clean[key] = data
        else:
            clean[key] = _redact_value(value)
    return clean


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    return value


def _binary_holds_secret(payload: str | list[Any]) -> bool:
    text = payload if isinstance(payload, str) else "".join(str(p) for p in payload)
    try:
        raw = base64.b64decode(text)
    except (binascii.Error, ValueError):
        return contains_secret(text)
    return contains_secret(raw.decode("latin-1")) or contains_secret(text)


class OutputRedactor:
    """Redacts one block's outputs in arrival order; call :meth:`flush` when the block ends.

    A key can arrive split over stream pieces. The end of a piece that could begin a key is held back
    until the next piece (unless the piece ends a line and only one or two characters match), and each
    piece is checked together with the text shown before it, so that the rest of a key whose first
    characters were already shown is masked.
    """

    _CONTEXT = 1024  # characters of already shown text a key split over pieces is looked for in

    def __init__(self) -> None:
        self._held: dict[str, str] = {}
        """Per stream name: text held back because it could be the beginning of a key."""
        self._shown: dict[str, str] = {}
        """Per stream name: the end of the raw text shown so far."""

    def feed(self, out: dict[str, Any]) -> list[dict[str, Any]]:
        """The redacted outputs to show now (none, this one, or held text followed by it)."""
        if out.get("output_type") != "stream":
            return [*self.flush(), redact_output(out)]
        if not known_secrets():
            return [redact_output(out)]
        name = out.get("name") or "stdout"
        text = self._held.pop(name, "") + _text(out.get("text"))
        cut = held_back_from(text)
        if cut < len(text) and text.endswith("\n") and len(text) - cut < 3:
            cut = len(text)  # a finished line: do not hold it back for a one- or two-character match
        shown = len(self._shown.get(name, ""))
        for _, end in secret_spans(self._shown.get(name, "") + text):
            cut = max(cut, min(end - shown, len(text)))  # never split a key found whole: show it masked
        safe, rest = text[:cut], text[cut:]
        if rest:
            self._held[name] = rest
        return [self._show(out, name, safe)] if safe else []

    def flush(self) -> list[dict[str, Any]]:
        """Whatever is still held, redacted as it is."""
        held, self._held = self._held, {}
        return [self._show({"output_type": "stream", "name": name}, name, text)
                for name, text in held.items() if text]

    def _show(self, out: dict[str, Any], name: str, text: str) -> dict[str, Any]:
        shown = self._shown.get(name, "")
        self._shown[name] = (shown + text)[-self._CONTEXT:]
        combined, start = shown + text, len(shown)
        masked, pos = [], start
        for a, b in sorted(secret_spans(combined)):
            if b <= pos:
                continue
            a = max(a, pos)
            masked.append(combined[pos:a] + "***")
            pos = b
        masked.append(combined[pos:])
        return redact_output({**out, "text": "".join(masked)})


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")
