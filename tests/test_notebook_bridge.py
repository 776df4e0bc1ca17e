"""``%%agents --share``, ``handle.pull`` / ``%agents pull`` and ``handle.send`` in a REAL notebook kernel."""

from __future__ import annotations

import pytest
from test_magic_kernel import _kernel_children, kernel_factory  # noqa: F401  (fixture)

from agentnb.testing import ScriptedModelServer, code

pytestmark = pytest.mark.slow

SETUP = """import pandas as pd
df = pd.DataFrame({"month": ["jan", "jan", "feb"], "sales": [10, 5, 7]})
threshold = 6"""

ANALYSE = """per_month = df.groupby("month", as_index=False)["sales"].sum()
total = int(df["sales"].sum())
over = [int(v) for v in df["sales"] if v > threshold]
class Gadget:
    def __reduce__(self):
        return (print, ("a pickle from the agents' kernel ran in the notebook",))
gadget = Gadget()
print(total)"""


def test_share_pull_and_follow_up(kernel_factory, tmp_path):  # noqa: F811
    with ScriptedModelServer([code(ANALYSE), "TERMINATE", code("doubled = total * 2\nprint(doubled)"),
                              "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list(), AGENTNB_KERNEL_POOL="0")  # no spare warm kernel
        nb.execute("%load_ext agentnb\n" + SETUP)
        nb.execute(f"%%agents --share df,threshold --approve never --max-turns 2 --work-dir {tmp_path / 'w'} "
                   "--out h\nSum the sales per month.")
        nb.execute("r = await h")
        first = srv.requests[0]["messages"][-1]["content"]
        assert "`df`: pandas.DataFrame, 3 rows × 2 columns" in first
        assert "sales: int64" in first and "`threshold`: int" in first and "jan" in first

        out = nb.stdout(nb.execute(
            "per = await h.pull('per_month')\n"
            "print(type(per).__name__, per.to_dict('list'))\n"
            "print(await h.pull('over'), await h.pull('total'))"))
        assert "DataFrame {'month': ['feb', 'jan'], 'sales': [7, 15]}" in out and "[10, 7] 22" in out

        refused = nb.stdout(nb.execute(
            "try:\n    await h.pull('gadget')\nexcept ValueError as exc:\n    print('refused:', exc)"))
        assert "refused: pull gadget" in refused and "ran in the notebook" not in refused

        nb.execute("%agents pull total")
        nb.wait_for(lambda: any("pulled total from chat1" in str(m["content"].get("text", ""))
                                for m in nb.messages), what="%agents pull")
        assert nb.stdout(nb.execute("print(total + 1)")).strip() == "23"

        nb.execute("h.send('Now double the total.')\nr2 = await h")
        assert "44" in nb.stdout(nb.execute("print(h.chat_history[-2]['content'])"))  # same kernel state
        assert srv.requests[-1]["messages"][1]["content"].startswith("Sum the sales")  # same conversation

        assert _kernel_children(nb.pid), "the kept agents' kernel is running"
        nb.execute("await h.close()")
        nb.wait_for(lambda: not _kernel_children(nb.pid), timeout=60, what="the agents' kernel to stop")


def test_share_of_a_missing_variable_is_a_usage_error(kernel_factory, tmp_path):  # noqa: F811
    with ScriptedModelServer(["TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        msg_id = nb.kc.execute("%%agents --share nope\nDo it.")
        reply = nb.reply_to(msg_id)
        assert reply["content"]["status"] == "error" and "no variable nope" in reply["content"]["evalue"]
        assert srv.requests == []


def test_follow_up_box_continues_the_chat_in_the_same_panel(kernel_factory, tmp_path):  # noqa: F811
    with ScriptedModelServer(["The answer is 4. TERMINATE", "Twice that is 8. TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        nb.execute(f"%%agents --approve never --max-turns 1 --work-dir {tmp_path / 'w'} --out h\nWhat is 2 + 2?")
        nb.execute("r = await h")
        box = nb.wait_for(lambda: next((c for c, s in nb.widgets.items() if s.get("_model_name") == "TextModel"
                                        and str(s.get("placeholder", "")).startswith("follow-up")), None),
                          what="the follow-up box")
        nb.set_value(box, "And twice that?")
        nb.click(nb.wait_for(lambda: nb.button("Continue"), what="Continue"))
        out = nb.stdout(nb.execute("import asyncio\nwhile not h.done() or len(h.chat_history) < 4:\n"
                                   "    await asyncio.sleep(0.1)\n"
                                   "print(h.status, [m['content'] for m in h.chat_history])"))
        assert out.startswith("finished") and "And twice that?" in out and "Twice that is 8." in out
        assert srv.requests[-1]["messages"][1]["content"] == "What is 2 + 2?"  # the same conversation
        pages = [m["content"]["data"]["text/html"] for m in nb.messages
                 if m["header"]["msg_type"] == "update_display_data" and "text/html" in m["content"]["data"]]
        assert "Twice that is 8." in pages[-1] and "The answer is 4." in pages[-1]
