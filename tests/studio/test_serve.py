"""``agentnb serve``: a team behind HTTP; approvals wait for the page, nothing runs unapproved, token required."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from agentnb.studio import gallery_spec
from agentnb.studio.serve import serve_in_thread
from agentnb.testing import ScriptedModelServer, code


class Client:
    def __init__(self, port: int, token: str):
        self.port, self.token = port, token

    def request(self, method: str, path: str, body=None, token: str | None = "header"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token == "header":
            headers["X-Agentnb-Token"] = self.token
        elif token == "query":
            path += ("&" if "?" in path else "?") + f"token={self.token}"
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, data

    def json(self, method: str, path: str, body=None):
        status, data = self.request(method, path, body)
        assert status == 200, (status, data)
        return json.loads(data)

    def wait(self, run_id: str, predicate, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.json("GET", f"/api/runs/{run_id}")
            if predicate(snap):
                return snap
            time.sleep(0.05)
        raise AssertionError(f"timed out; last snapshot status {snap['status']}")


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTNB_HISTORY", str(tmp_path / "h.sqlite"))
    stops = []

    def start(replies):
        model = ScriptedModelServer(replies).start()
        server, port, stop = serve_in_thread(gallery_spec("coder"), models={"default": model.llm_config()})
        stops.extend([stop, model.stop])
        return Client(port, server.token)

    yield start
    for stop in stops:
        stop()


def _types(snap):
    return [e["type"] for e in snap["events"]]


def test_code_waits_for_the_page_and_runs_only_when_approved(served, tmp_path):
    client = served([code("open('made.txt', 'w').write('x'); print('made')"), "Done. TERMINATE"])
    run = client.json("POST", "/api/runs", {"task": "make a file"})["id"]
    snap = client.wait(run, lambda s: s["pending_approvals"])
    time.sleep(0.3)  # nobody answers: nothing runs
    snap = client.json("GET", f"/api/runs/{run}")
    assert "ExecutionFinished" not in _types(snap) and not list(tmp_path.rglob("made.txt"))
    request_id = snap["pending_approvals"][0]
    requested = next(e for e in snap["events"] if e["type"] == "ApprovalRequested")
    assert "made.txt" in requested["request"]["code_shown"]
    status, _ = client.request("POST", f"/api/runs/{run}/approvals/{request_id}", {"approved": "yes"})
    assert status == 400  # only a real true approves
    assert client.json("GET", f"/api/runs/{run}")["pending_approvals"] == [request_id]
    client.json("POST", f"/api/runs/{run}/approvals/{request_id}", {"approved": True})
    snap = client.wait(run, lambda s: s["status"] != "running")
    assert snap["status"] == "finished", snap["error"]
    finished = next(e for e in snap["events"] if e["type"] == "ExecutionFinished")
    assert finished["exit_code"] == 0 and "made" in finished["summary"]
    assert [p.name for p in tmp_path.rglob("made.txt")] == ["made.txt"]


def test_rejected_code_never_runs_and_stop_ends_a_waiting_run(served, tmp_path):
    client = served([code("open('bad.txt', 'w').write('x')"), "OK. TERMINATE", code("open('bad2.txt', 'w')")])
    run = client.json("POST", "/api/runs", {"task": "t"})["id"]
    request_id = client.wait(run, lambda s: s["pending_approvals"])["pending_approvals"][0]
    client.json("POST", f"/api/runs/{run}/approvals/{request_id}", {"approved": False, "reason": "no"})
    snap = client.wait(run, lambda s: s["status"] != "running")
    assert not list(tmp_path.rglob("bad.txt"))
    assert any(e["type"] == "ApprovalDecided" and e["decision"]["approved"] is False for e in snap["events"])
    second = client.json("POST", "/api/runs", {"task": "again"})["id"]
    client.wait(second, lambda s: s["pending_approvals"])
    client.json("POST", f"/api/runs/{second}/stop", {})
    assert client.wait(second, lambda s: s["status"] != "running")["status"] == "stopped"
    assert not list(tmp_path.rglob("bad2.txt"))


def test_token_is_required_and_the_page_and_event_stream_are_served(served):
    client = served(["Hello there. TERMINATE"])
    assert client.request("GET", "/api/team", token=None)[0] == 403
    assert client.request("POST", "/api/runs", {"task": "x"}, token="query")[0] == 403  # no cross-site form posts
    status, page = client.request("GET", "/", token="query")
    assert status == 200 and b"Coder: assistant + user proxy" in page and b"EventSource" in page
    team = client.json("GET", "/api/team")
    assert team["config"]["task"].startswith("Plot y = sin(x)")
    run = client.json("POST", "/api/runs", {"task": "say hello"})["id"]
    status, stream = client.request("GET", f"/api/runs/{run}/events", token="query")
    assert status == 200
    lines = [json.loads(line[6:]) for line in stream.decode().splitlines() if line.startswith("data: {\"")]
    assert any(e.get("type") == "MessageSent" and e["message"]["content"] == "Hello there. TERMINATE"
               for e in lines)
    assert b"event: end" in stream


def test_the_agentnb_serve_command(tmp_path):
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    spec = gallery_spec("tool_assistant")
    with ScriptedModelServer(["Fine. TERMINATE"]) as model:
        data = spec.to_dict()
        data["config"]["models"] = {"local": {"provider": "agentnb.OpenAIModel", "component_type": "model",
                                              "config": {"model": "scripted-model", "base_url": model.base_url}}}
        data["config"]["agents"][1]["config"]["model"] = "local"
        (tmp_path / "team.json").write_text(json.dumps(data))
        proc = subprocess.Popen([sys.executable, "-m", "agentnb.cli", "serve", "team.json", "--port", "0"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**__import__("os").environ, "AGENTNB_HISTORY": "off"})
        try:
            line = proc.stdout.readline()
            url = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
            assert url, (line, proc.stderr.read() if proc.poll() is not None else "")
            port, token = int(url.group(1)), url.group(2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/team?token={token}", timeout=30) as r:
                assert json.load(r)["label"] == "Tool-using assistant"
            client = Client(port, token)
            run = client.json("POST", "/api/runs", {"task": "hi"})["id"]
            snap = client.wait(run, lambda s: s["status"] != "running")
            assert snap["status"] == "finished" and snap["summary"] == "Fine."
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                assert proc.wait(timeout=30) == 0
            finally:
                proc.stdout.close()
                proc.stderr.close()


def test_a_person_answers_in_the_page(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTNB_HISTORY", "off")
    spec = {"provider": "agentnb.Team", "component_type": "team", "label": "ask",
            "config": {"kind": "pair", "initiator": "you", "recipient": "assistant", "task": "Pick a colour.",
                       "agents": [{"provider": "agentnb.UserProxyAgent", "component_type": "agent",
                                   "config": {"name": "you", "human_input_mode": "ALWAYS"}},
                                  {"provider": "agentnb.AssistantAgent", "component_type": "agent",
                                   "config": {"name": "assistant", "model": "default"}}]}}
    from agentnb.studio.serve import serve_in_thread

    with ScriptedModelServer(["Which colour do you like?", "Blue it is."]) as model:
        server, port, stop = serve_in_thread(spec, models={"default": model.llm_config()})
        try:
            client = Client(port, server.token)
            run = client.json("POST", "/api/runs", {})["id"]
            snap = client.wait(run, lambda s: s["pending_inputs"])
            asked = next(e for e in snap["events"] if e["type"] == "HumanInputRequested")
            assert asked["agent"] == "you" and snap["pending_inputs"] == [asked["request_id"]]
            client.json("POST", f"/api/runs/{run}/input/{asked['request_id']}", {"text": "blue"})
            snap = client.wait(run, lambda s: len(s["pending_inputs"]) and s["pending_inputs"] != [asked["request_id"]])
            client.json("POST", f"/api/runs/{run}/input/{snap['pending_inputs'][0]}", {"text": "exit"})
            snap = client.wait(run, lambda s: s["status"] != "running")
        finally:
            stop()
    sent = [e["message"]["content"] for e in snap["events"] if e["type"] == "MessageSent"]
    assert sent == ["Pick a colour.", "Which colour do you like?", "blue", "Blue it is."]
    assert model.requests[1]["messages"][-1]["content"] == "blue"
