"""The seed snippet, unchanged but for the endpoint, runs inside a real notebook kernel (a loop is running there)."""

from __future__ import annotations

import json

import nbformat
import psutil
from nbclient import NotebookClient

from agentnb.testing import code

SEED = '''
import agentnb as autogen
config_list = [{{"model": "gpt-4o", "api_key": "YOUR_KEY", "base_url": {base_url!r}}}]
assistant = autogen.AssistantAgent(name="assistant", llm_config={{"config_list": config_list}})
user_proxy = autogen.UserProxyAgent(
    name="user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=10,
    is_termination_msg=lambda x: (x.get("content") or "").rstrip().endswith("TERMINATE"),
    code_execution_config={{"work_dir": "coding", "use_docker": False}},
)
result = user_proxy.initiate_chat(assistant, message="Plot a chart of a sine wave and print its maximum.")
'''

CHECK = '''
import json
print(json.dumps({"n": len(result.chat_history), "summary": result.summary,
                  "exec": result.chat_history[2]["content"], "cost": result.cost}))
'''

PLOT = """import numpy as np, matplotlib.pyplot as plt
x = np.linspace(0, 2 * np.pi, 100)
plt.plot(x, np.sin(x)); plt.title('sine'); plt.show()
print('max', round(float(np.sin(x).max()), 3))"""


def test_seed_snippet_in_a_notebook_kernel(model_server, tmp_path):
    model_server.add(code(PLOT), "The maximum is 1.0. TERMINATE")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SEED.format(base_url=model_server.base_url)),
                nbformat.v4.new_code_cell(CHECK)]
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    client = NotebookClient(nb, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    shown = json.dumps([o.get("data", o.get("text")) for o in outputs])
    assert "user_proxy" in shown and "assistant" in shown
    assert "image/png" in shown  # the plot rendered inline in the notebook
    check = json.loads(nb.cells[1].outputs[0]["text"])
    assert check["n"] == 4 and check["summary"] == "The maximum is 1.0."
    assert "max 1.0" in check["exec"] and "saved to" in check["exec"]
    assert (tmp_path / "coding").is_dir()
    leftover = [p for p in psutil.Process().children(recursive=True)
                if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not leftover, leftover
