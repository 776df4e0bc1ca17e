"""What a person should see of model text: nothing hidden, nothing that moves the cursor.

A code block is approved by *reading* it, so every view that shows code or model text for a
decision (console prompt, console view, panel cards, plain renderer, ``input()`` prompts) passes
it through :func:`visible` first. Only the display changes; the code that runs is untouched.

- C0/C1 control characters (ESC, CR, BEL, backspace, DEL, CSI, ...) except ``\\n`` and ``\\t``
  are shown as symbols (``ESC`` as ``␛``, ``CR`` as ``␍``) or ``\\x9b``-style escapes, so a
  terminal can never erase, overwrite or recolour what the person reads;
- Unicode bidi controls (U+202A–202E, U+2066–2069, marks), zero-width and other invisible
  format characters (U+200B–200D, U+2060–2064, U+FEFF, tag characters, variation selectors,
  fillers) are shown as ``⟨U+202E⟩``, so text cannot be reordered or smuggled in unseen.

:func:`has_hidden` says whether a text had any of them, for a warning line
(:data:`HIDDEN_WARNING`) next to the approval question.

>>> visible("x = 1  # \\x1b[2K\\x1b[1Gsafe")
'x = 1  # ␛[2K␛[1Gsafe'
>>> has_hidden("a\\u202eb")
True
"""

from __future__ import annotations

import re

__all__ = ["HIDDEN_WARNING", "has_hidden", "hidden_characters", "visible"]

HIDDEN_WARNING = ("⚠ this code contains hidden characters (control, bidi or zero-width), "
                  "shown below as ␛, ␍ or ⟨U+…⟩: read it carefully before approving")
"""The warning shown next to an approval question when :func:`has_hidden` is true."""

# Characters that do not show as themselves: C0 controls but \t and \n, DEL and C1, then every
# invisible format character (Unicode category Cf: soft hyphen, bidi marks, embeddings, overrides
# and isolates, zero-width space/joiners, word joiner, invisible operators, BOM, tag characters),
# fillers that render blank, variation selectors, line/paragraph separators, specials,
# noncharacters, lone surrogates and private-use code points. An explicit list, so the result does
# not depend on the Python's Unicode tables and a search stays fast on long text.
_C0 = r"\x00-\x08\x0b\x0c\x0e-\x1f"  # \r is handled apart (below)
_OTHERS = (
    r"\x7f-\x9f"
    r"\u00ad\u034f\u061c\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2"
    r"\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164"
    r"\ud800-\udfff\ue000-\uf8ff\ufe00-\ufe0f\ufeff\uffa0\ufff0-\uffff"
    r"\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0000-\U000e0fff\U000f0000-\U0010ffff"
)
_HIDDEN = re.compile(f"[{_C0}\\r{_OTHERS}]")
_COUNTED = re.compile(f"\\r(?!\\n)|[{_C0}{_OTHERS}]")
"""Like ``_HIDDEN``, but a CR directly before LF (a Windows line end) does not count."""


def _shown(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # Control Pictures: ␀ … ␛ … ␟
    if code == 0x7F:
        return "␡"
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"⟨U+{code:04X}⟩"


def visible(text: object) -> str:
    """``text`` with every hidden or cursor-moving character replaced by a visible stand-in."""
    text = "" if text is None else str(text)
    return _HIDDEN.sub(lambda m: _shown(m.group()), text)


def hidden_characters(text: object) -> list[str]:
    """The distinct hidden characters of ``text`` as shown (``["␛", "⟨U+202E⟩"]``), in order of appearance.

    A ``\\r`` directly before ``\\n`` (a Windows line end) is shown but not counted.
    """
    text = "" if text is None else str(text)
    return list(dict.fromkeys(_shown(m.group()) for m in _COUNTED.finditer(text)))


def has_hidden(text: object) -> bool:
    """True when ``text`` holds characters a person would not see as themselves."""
    return _COUNTED.search("" if text is None else str(text)) is not None
