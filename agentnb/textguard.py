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
import unicodedata

__all__ = ["HIDDEN_WARNING", "has_hidden", "hidden_characters", "visible"]

HIDDEN_WARNING = ("⚠ this code contains hidden characters (control, bidi or zero-width), "
                  "shown below as ␛, ␍ or ⟨U+…⟩: read it carefully before approving")
"""The warning shown next to an approval question when :func:`has_hidden` is true."""

_INVISIBLE_EXTRA = {
    0x034F,  # combining grapheme joiner
    0x115F, 0x1160, 0x3164, 0xFFA0,  # Hangul fillers (render as blank)
    0x2028, 0x2029,  # line / paragraph separator (a terminal or editor may break the line)
    0x180B, 0x180C, 0x180D, 0x180F,  # Mongolian free variation selectors
}


def _is_hidden(ch: str) -> bool:
    """True for a character that does not show as itself (or moves the cursor), ``\\n``/``\\t`` excepted."""
    if ch in "\n\t":
        return False
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return True
    if code < 0xA0:
        return False
    if code in _INVISIBLE_EXTRA or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:
        return True
    category = unicodedata.category(ch)
    # Cf: bidi controls and marks, zero-width chars, BOM, soft hyphen, tag characters, ...
    # Co/Cn: private-use and unassigned code points may render as nothing.
    return category in ("Cf", "Co", "Cn", "Cs")


def _shown(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # Control Pictures: ␀ … ␛ … ␟
    if code == 0x7F:
        return "␡"
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"⟨U+{code:04X}⟩"


_HIDDEN = re.compile("[^\n\t\x20-\x7e]")


def visible(text: object) -> str:
    """``text`` with every hidden or cursor-moving character replaced by a visible stand-in."""
    text = "" if text is None else str(text)
    return _HIDDEN.sub(lambda m: _shown(m.group()) if _is_hidden(m.group()) else m.group(), text)


def hidden_characters(text: object) -> list[str]:
    """The distinct hidden characters of ``text`` as shown (``["␛", "⟨U+202E⟩"]``), in order of appearance.

    A ``\\r`` directly before ``\\n`` (a Windows line end) is shown but not counted.
    """
    text = "" if text is None else str(text)
    found: dict[str, None] = {}
    for index, ch in enumerate(text):
        if not _is_hidden(ch):
            continue
        if ch == "\r" and text[index + 1:index + 2] == "\n":
            continue
        found.setdefault(_shown(ch))
    return list(found)


def has_hidden(text: object) -> bool:
    """True when ``text`` holds characters a person would not see as themselves."""
    return bool(hidden_characters(text))
