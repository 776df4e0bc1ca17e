"""Held: code fences a hostile model could use to smuggle code past approval.

Each variant is a model reply built around two bodies, a Python line and a shell line. With approval
"always" and an approver that rejects, no body ever runs (its side-effect file does not exist). With an
approver that approves and records, every block that ran was shown first, and the code shown equals
the code the kernel ran byte for byte: each Python body writes the source of the cell the kernel
received (the ``execute_request``'s ``code``), each shell body writes the script bash was given
(``$BASH_EXECUTION_STRING``), into a NUL-separated log. One real Jupyter kernel serves the module.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.faults import code_chat, touch_code

from agentnb.messages import ApprovalDecision


@dataclass(frozen=True)
class Variant:
    template: str
    """The reply; ``{py}`` and ``{sh}`` are replaced by the bodies."""
    runs: int | None
    """How many blocks run when everything is approved (``None``: either way is safe, only shown == ran)."""


LONG_COMMENT = "# " + "padding " * 25_000  # a 200 KB line: the card must hold all of it

VARIANTS = {
    "python": Variant("```python\n{py}\n```", 1),
    "py": Variant("```py\n{py}\n```", 1),
    "Python3": Variant("```Python3\n{py}\n```", 1),
    "PYTHON-upper": Variant("```PYTHON\n{py}\n```", 1),
    "ipython": Variant("```ipython\n{py}\n```", 1),
    "sh": Variant("```sh\n{sh}\n```", 1),
    "bash": Variant("```bash\n{sh}\n```", 1),
    "shell": Variant("```shell\n{sh}\n```", 1),
    "zsh": Variant("```zsh\n{sh}\n```", 1),
    "console": Variant("```console\n{sh}\n```", 1),
    "empty-language": Variant("```\n{py}\n```", 1),
    "tilde": Variant("~~~python\n{py}\n~~~", 1),
    "tilde-untagged": Variant("~~~\n{py}\n~~~", 1),
    "four-backticks": Variant("````python\n{py}\n````", 1),
    "five-backticks-hiding-a-fence": Variant("`````python\n{py}\ns = '''\n```\n'''\n`````", 1),
    "attributes-braces": Variant("```python {{.numberLines startFrom=3}}\n{py}\n```", 1),
    "attributes-title": Variant('```python title="setup.py" hl_lines="1"\n{py}\n```', 1),
    "rmarkdown-braces": Variant("```{{python}}\n{py}\n```", 1),
    "tag-with-spaces": Variant("```   python   \n{py}\n```   ", 1),
    "indented-2": Variant("Steps:\n  ```python\n  {py}\n  ```", 1),
    "indented-tab": Variant("\t```sh\n\t{sh}\n\t```", 1),
    "indented-4-markdown-code": Variant("Example:\n\n    ```python\n    {py}\n    ```", None),
    "crlf": Variant("Run this:\r\n```python\r\n{py}\r\n```\r\n", 1),
    "lone-cr": Variant("Run this:\r```bash\r{sh}\r```\r", 1),
    "nested-fence-in-block": Variant("```python\n{py}\n```sh\n{sh}\n```\n", 0),  # one block: a SyntaxError
    "fence-in-a-string": Variant("```python\ns = '''\n```bash\n{sh}\n```\n'''\n{py}\n```", 0),
    "unclosed-final": Variant("```python\n{py}\n", 0),
    "closed-then-unclosed": Variant("```python\n{py}\n```\nthen\n```sh\n{sh}\n", 0),
    "closed-by-other-fence": Variant("```python\n{py}\n~~~", 0),
    "closed-by-longer-fence": Variant("```python\n{py}\n`````", 0),
    "fullwidth-backticks": Variant("\uff40\uff40\uff40python\n{py}\n\uff40\uff40\uff40", 0),
    "modifier-grave-backticks": Variant("\u02cb\u02cb\u02cbpython\n{py}\n\u02cb\u02cb\u02cb", 0),
    "reversed-prime-backticks": Variant("\u2035\u2035\u2035python\n{py}\n\u2035\u2035\u2035", 0),
    "zero-width-in-fence": Variant("``\u200b`python\n{py}\n``\u200b`", 0),
    "zero-width-in-tag": Variant("```py\u200bthon\n{py}\n```", 1),
    "zero-width-before-tag": Variant("```\u200bpython\n{py}\n```", 1),
    "zwj-in-shell-tag": Variant("```ba\u200dsh\n{sh}\n```", None),
    "bom-before-fence": Variant("\ufeff```python\n{py}\n```", None),
    "blockquote-fence": Variant("> ```python\n> {py}\n> ```", None),
    "after-terminate": Variant("TERMINATE\n```python\n{py}\n```", 1),
    "before-terminate": Variant("```python\n{py}\n```\nTERMINATE", 1),
    "two-blocks": Variant("```python\n{py}\n```\nand\n```bash\n{sh}\n```", 2),
    "five-blocks": Variant("\n".join(["```python\n{py}\n```"] * 3 + ["```sh\n{sh}\n```"] * 2), 5),
    "unknown-language-then-python": Variant("```javascript\nconsole.log(1)\n```\n```python\n{py}\n```", 0),
    "very-long-block": Variant("```python\n" + LONG_COMMENT + "\n{py}\n" + LONG_COMMENT + "\n```", 1),
    "html-pre": Variant("<pre><code class='language-python'>{py}</code></pre>", 0),
}
assert len(VARIANTS) >= 31


def _reply(variant: Variant, py: str, sh: str) -> str:
    return variant.template.replace("{{", "\0L").replace("}}", "\0R") \
        .replace("{py}", py).replace("{sh}", sh).replace("\0L", "{").replace("\0R", "}")


def _touch_bodies(marker: Path) -> tuple[str, str]:
    return touch_code(marker), f"echo ran >> {shlex.quote(str(marker))}"


def _record_bodies(log: Path) -> tuple[str, str]:
    py = f"open({str(log)!r}, 'a').write(get_ipython().kernel.get_parent('shell')['content']['code'] + chr(0))"
    sh = f"printf '%s\\0' \"$BASH_EXECUTION_STRING\" >> {shlex.quote(str(log))}"
    return py, sh


@pytest.mark.parametrize("name", VARIANTS)
def test_rejected_fence_never_runs(tmp_path, kernel_executor, rejecting, name):
    marker = tmp_path / "ran.txt"
    variant = VARIANTS[name]
    _, server = code_chat(_reply(variant, *_touch_bodies(marker)), rejecting, kernel_executor)
    assert not marker.exists(), f"{name}: a block ran although the approver rejected it"
    assert len(server.requests) == 2, "the chat did not go on to the model after the rejection"
    if variant.runs:
        assert rejecting.kinds == ["code"], "a runnable block was not shown for approval"


def _is_subsequence(ran: list[str], shown: list[str]) -> bool:
    rest = iter(shown)
    return all(any(code == candidate for candidate in rest) for code in ran)


@pytest.mark.parametrize("name", VARIANTS)
def test_approved_fence_runs_exactly_what_was_shown(tmp_path, kernel_executor, approving, name):
    log = tmp_path / "ran.log"
    variant = VARIANTS[name]
    code_chat(_reply(variant, *_record_bodies(log)), approving, kernel_executor)
    ran = log.read_text().split("\0")[:-1] if log.exists() else []
    shown = [r.code for r in approving.requests]
    assert all(r.kind == "code" for r in approving.requests)
    assert _is_subsequence(ran, shown), f"{name}: code ran that differs from what was shown:\n{ran!r}\n{shown!r}"
    if variant.runs is not None:
        assert len(ran) == variant.runs, f"{name}: {len(ran)} block(s) ran, expected {variant.runs}"


def test_the_recorder_sees_the_kernel_side_source(tmp_path, kernel_executor, approving):
    """Control: an approver that edits the code makes the kernel run (and record) the edit, not the proposal."""
    log = tmp_path / "ran.log"
    py, _ = _record_bodies(log)
    edited = f"x = 'edited'\n{py}\n"

    shown = []

    def editing(request):
        shown.append(request.code)
        return ApprovalDecision(approved=True, code=edited)

    code_chat(f"```python\n{py}\n```", editing, kernel_executor)
    assert log.read_text().split("\0")[:-1] == [edited]
    assert shown == [py + "\n"]
