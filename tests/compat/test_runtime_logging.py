"""``autogen.runtime_logging`` (0.2): sqlite and file loggers fed by real chats against the scripted server."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

import agentnb as autogen
from agentnb import runtime_logging
from agentnb.logger import FileLogger, LoggerFactory, SqliteLogger
from agentnb.testing import tool_calls

SECRET = "sk-logging-test-secret-key-0123456789"
TABLES = {"chat_completions", "agents", "events", "oai_wrappers", "oai_clients", "version", "function_calls"}


@pytest.fixture
def sqlite_log(tmp_path):
    dbname = str(tmp_path / "logs.db")
    session_id = runtime_logging.start(config={"dbname": dbname})
    yield session_id, dbname
    runtime_logging.stop()


def rows(con: sqlite3.Connection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def tool_pair(server):
    llm_config = {"config_list": [{"model": "scripted-model", "api_key": SECRET, "base_url": server.base_url}]}
    assistant = autogen.AssistantAgent("assistant", llm_config=llm_config)
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                                  is_termination_msg=lambda m: m.get("content") == "TERMINATE")

    @user.register_for_execution()
    @assistant.register_for_llm(description="Add two numbers.")
    def add(a: int, b: int) -> int:
        return a + b

    return assistant, user


def test_start_creates_0_2_tables_and_returns_the_session_id(sqlite_log):
    session_id, _ = sqlite_log
    assert runtime_logging.logging_enabled()
    con = runtime_logging.get_connection()
    assert isinstance(con, sqlite3.Connection)
    names = {r[0] for r in rows(con, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert TABLES <= names
    assert rows(con, "SELECT version_number FROM version") == [(1,)]
    assert len(session_id) == 36 and session_id.count("-") == 4


def test_a_chat_is_logged_completions_agents_events_and_tool_calls(sqlite_log, model_server):
    session_id, dbname = sqlite_log
    model_server.add(tool_calls([("add", {"a": 2, "b": 3})]), "The sum is 5.", "TERMINATE")
    assistant, user = tool_pair(model_server)
    user.initiate_chat(assistant, message="What is 2 + 3?", silent=True, max_turns=2)
    con = sqlite3.connect(dbname)

    agents = rows(con, "SELECT name, class, session_id, init_args FROM agents ORDER BY id")
    assert [(n, c, s) for n, c, s, _ in agents] == [("assistant", "AssistantAgent", session_id),
                                                     ("user", "UserProxyAgent", session_id)]
    assert json.loads(agents[0][3])["name"] == "assistant"

    completions = rows(con, "SELECT source_name, request, response, is_cached, cost, session_id "
                            "FROM chat_completions ORDER BY id")
    assert len(completions) == len(model_server.requests) == 2
    source, request, response, cached, cost, sid = completions[0]
    assert (source, cached, cost, sid) == ("assistant", 0, 0.0, session_id)  # no price for the scripted model
    assert json.loads(request)["messages"][-1]["content"] == "What is 2 + 3?"
    assert json.loads(response)["tool_calls"][0]["function"]["name"] == "add"
    assert json.loads(completions[1][2])["content"] == "The sum is 5."
    assert json.loads(completions[1][2])["usage"]["total_tokens"] > 0

    calls = rows(con, "SELECT source_name, function_name, args, returns FROM function_calls")
    assert len(calls) == 1
    name, function, args, returns = calls[0]
    assert (name, function) == ("user", "add")
    assert json.loads(json.loads(args)["arguments"]) == {"a": 2, "b": 3}
    assert json.loads(returns)["content"] == "5"

    received = rows(con, "SELECT source_name, json_state, agent_class_name FROM events "
                         "WHERE event_name='received_message' ORDER BY id")
    assert received[0][0] == "assistant" and received[0][2] == "AssistantAgent"
    assert json.loads(received[0][1])["message"]["content"] == "What is 2 + 3?"
    assert json.loads(received[0][1])["sender"] == "user"
    names = {r[0] for r in rows(con, "SELECT event_name FROM events")}
    assert {"chat_started", "chat_finished", "received_message"} <= names

    dump = "\n".join(con.iterdump())
    assert SECRET not in dump  # keys are never logged


def test_openai_wrapper_and_its_clients_are_logged(sqlite_log, model_server):
    _, dbname = sqlite_log
    model_server.add("wrapped")
    wrapper = autogen.OpenAIWrapper(config_list=model_server.config_list(api_key=SECRET), temperature=0)
    wrapper.create(messages=[{"role": "user", "content": "hi"}])
    con = sqlite3.connect(dbname)
    (wrapper_row,) = rows(con, "SELECT wrapper_id, init_args FROM oai_wrappers")
    assert wrapper_row[0] == id(wrapper) and json.loads(wrapper_row[1])["temperature"] == 0
    (client_row,) = rows(con, "SELECT wrapper_id, class FROM oai_clients")
    assert client_row == (id(wrapper), "OpenAIClient")
    (completion,) = rows(con, "SELECT source_name, response FROM chat_completions")
    assert completion[0] == "OpenAIWrapper" and json.loads(completion[1])["content"] == "wrapped"
    assert SECRET not in "\n".join(con.iterdump())


def test_async_chats_on_the_callers_loop_are_logged(sqlite_log, model_server):
    _, dbname = sqlite_log
    model_server.add("async answer")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                                  max_consecutive_auto_reply=0)
    asyncio.run(user.a_initiate_chat(assistant, message="hi", silent=True))
    con = sqlite3.connect(dbname)
    assert [json.loads(r[0])["content"] for r in rows(con, "SELECT response FROM chat_completions")] == [
        "async answer"]


def test_stop_ends_logging(tmp_path, model_server):
    dbname = str(tmp_path / "stop.db")
    runtime_logging.start(config={"dbname": dbname})
    runtime_logging.stop()
    assert not runtime_logging.logging_enabled()
    assert runtime_logging.get_connection() is None
    model_server.add("not logged")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    assistant.generate_reply([{"role": "user", "content": "hi"}])
    con = sqlite3.connect(dbname)
    assert rows(con, "SELECT COUNT(*) FROM chat_completions") == [(0,)]
    assert rows(con, "SELECT COUNT(*) FROM agents") == [(0,)]


def test_file_logger_writes_json_lines(tmp_path, model_server):
    filename = tmp_path / "runtime.log"
    session_id = runtime_logging.start(logger_type="file", config={"filename": str(filename)})
    try:
        assert runtime_logging.get_connection() is None
        model_server.add("filed")
        assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config(api_key=SECRET))
        assistant.generate_reply([{"role": "user", "content": "hi"}])
    finally:
        runtime_logging.stop()
    text = filename.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0] == {**records[0], "event_name": "session_started", "session_id": session_id}
    agents = [r for r in records if r.get("agent_name") == "assistant"]
    assert agents and agents[0]["agent_type"] == "AssistantAgent"
    completions = [r for r in records if "invocation_id" in r]
    assert len(completions) == 1 and completions[0]["response"]["content"] == "filed"
    assert completions[0]["source_name"] == "assistant"
    assert SECRET not in text


def test_a_logger_object_can_be_passed_and_the_factory_knows_both_types(tmp_path):
    assert isinstance(LoggerFactory.get_logger("sqlite", {"dbname": str(tmp_path / "x.db")}), SqliteLogger)
    assert isinstance(LoggerFactory.get_logger("file", {"filename": str(tmp_path / "x.log")}), FileLogger)
    with pytest.raises(ValueError, match="Unknown logger type"):
        LoggerFactory.get_logger("cosmos")
    mine = SqliteLogger({"dbname": str(tmp_path / "mine.db")})
    session_id = runtime_logging.start(logger=mine)
    try:
        assert session_id == mine.session_id and runtime_logging.get_connection() is mine.con
        runtime_logging.log_event("tester", "custom_event", detail={"n": 1})
        runtime_logging.log_function_use("tester", "fn", {"x": 1}, "ok")
    finally:
        runtime_logging.stop()
    con = sqlite3.connect(tmp_path / "mine.db")
    assert rows(con, "SELECT source_name, event_name, json_state FROM events") == [
        ("tester", "custom_event", '{"detail": {"n": 1}}')]
    assert rows(con, "SELECT function_name, args, returns FROM function_calls") == [("fn", '{"x": 1}', '"ok"')]
