"""``autogen.oai`` (0.2): OpenAIWrapper over the real scripted server, custom ModelClients, config helpers."""

from __future__ import annotations

import json
import logging

import pytest
from openai.types.chat import ChatCompletion

import agentnb as autogen
from agentnb.errors import ModelError, redact
from agentnb.io import IOStream
from agentnb.oai import client as oai_client
from agentnb.oai import openai_utils
from agentnb.testing import Fault, ScriptedModelServer, tool_calls

HELLO = [{"role": "user", "content": "hello"}]


class Lines:
    def __init__(self):
        self.lines: list[str] = []

    def print(self, *objects, sep=" ", end="\n", flush=False):
        self.lines.append(sep.join(map(str, objects)))

    def input(self, prompt="", *, password=False):
        return ""


# ----------------------------------------------------------------------------------- OpenAIWrapper


def test_create_returns_a_chat_completion_with_cost(model_server):
    model_server.add("Hi there")
    client = autogen.OpenAIWrapper(config_list=model_server.config_list(price=[1.0, 2.0]))
    response = client.create(messages=HELLO)
    assert isinstance(response, ChatCompletion)
    assert response.choices[0].message.content == "Hi there"
    assert response.model == "scripted-model"
    usage = response.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    assert response.cost == pytest.approx((usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1000)
    assert client.extract_text_or_completion_object(response) == ["Hi there"]
    assert model_server.requests[0]["messages"] == HELLO


def test_base_config_and_create_options_reach_the_server(model_server):
    model_server.add("ok")
    client = autogen.OpenAIWrapper(config_list=model_server.config_list(), temperature=0.25)
    client.create(messages=HELLO, max_tokens=7)
    body = model_server.requests[0]
    assert body["temperature"] == 0.25 and body["max_tokens"] == 7


def test_the_config_entry_wins_over_create_arguments_as_in_0_2(model_server):
    model_server.add("ok")
    client = autogen.OpenAIWrapper(config_list=model_server.config_list(temperature=0.5))
    client.create(messages=HELLO, temperature=0.9)
    assert model_server.requests[0]["temperature"] == 0.5


def test_tool_calls_come_back_as_message_objects(model_server):
    model_server.add(tool_calls([("get_weather", {"city": "Paris"})]))
    client = autogen.OpenAIWrapper(config_list=model_server.config_list())
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    response = client.create(messages=HELLO, tools=tools)
    (message,) = client.extract_text_or_completion_object(response)
    assert not isinstance(message, str)
    call = message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert model_server.requests[0]["tools"] == tools


def test_usage_summaries_total_and_actual_with_the_cache(model_server, tmp_path):
    model_server.add("first")
    client = autogen.OpenAIWrapper(config_list=model_server.config_list(price=[1.0, 1.0]),
                                   cache_path_root=str(tmp_path))
    assert client.total_usage_summary is None and client.actual_usage_summary is None
    one = client.create(messages=HELLO, cache_seed=7)
    two = client.create(messages=HELLO, cache_seed=7)  # served from the disk cache: no second request
    assert two.choices[0].message.content == "first" and len(model_server.requests) == 1
    total, actual = client.total_usage_summary, client.actual_usage_summary
    tokens = one.usage.total_tokens
    assert total["scripted-model"]["total_tokens"] == 2 * tokens
    assert actual["scripted-model"]["total_tokens"] == tokens
    assert total["total_cost"] == pytest.approx(2 * actual["total_cost"])
    lines = Lines()
    with IOStream.set_default(lines):
        client.print_usage_summary()
    assert lines.lines[0] == "-" * 100 and lines.lines[-1] == "-" * 100
    assert "Usage summary excluding cached usage: " in lines.lines
    assert "Usage summary including cached usage: " in lines.lines
    client.clear_usage_summary()
    assert client.total_usage_summary is None
    lines = Lines()
    with IOStream.set_default(lines):
        client.print_usage_summary()
    assert lines.lines == ['No usage summary. Please call "create" first.']


def test_a_failing_entry_falls_back_to_the_next(model_server):
    with ScriptedModelServer() as second:
        model_server.add(Fault.status(401, message="bad key"))
        second.add("from the second")
        client = autogen.OpenAIWrapper(config_list=model_server.config_list() + second.config_list())
        response = client.create(messages=HELLO)
    assert response.choices[0].message.content == "from the second"
    assert response.config_id == 1


def test_the_last_entry_failing_raises(model_server):
    model_server.add(Fault.status(401, message="bad key"))
    client = autogen.OpenAIWrapper(config_list=model_server.config_list())
    with pytest.raises(ModelError, match="401"):
        client.create(messages=HELLO)


def test_filter_func_rejects_a_response_and_the_next_entry_answers(model_server):
    with ScriptedModelServer() as second:
        model_server.add("no digits here")
        second.add("42")
        client = autogen.OpenAIWrapper(config_list=model_server.config_list() + second.config_list())

        def has_digit(context, response):
            return any(c.isdigit() for c in client.extract_text_or_completion_object(response)[0])

        response = client.create(messages=HELLO, filter_func=has_digit)
    assert response.choices[0].message.content == "42" and response.pass_filter is True


def test_context_fills_message_templates(model_server):
    model_server.add("ok", "ok")
    client = autogen.OpenAIWrapper(config_list=model_server.config_list())
    client.create(messages=[{"role": "user", "content": "Say {word}"}], context={"word": "hi"},
                  allow_format_str_template=True)
    client.create(messages=[{"role": "user", "content": lambda ctx: f"Callable {ctx['word']}"}],
                  context={"word": "yo"})
    assert model_server.requests[0]["messages"][0]["content"] == "Say hi"
    assert model_server.requests[1]["messages"][0]["content"] == "Callable yo"


# ----------------------------------------------------------------------------------- custom model clients


class Reply:
    def __init__(self, text, model):
        message = type("Message", (), {"content": text, "function_call": None, "tool_calls": None})()
        self.choices = [type("Choice", (), {"message": message})()]
        self.model = model


class EchoClient:
    """A 0.2 custom model client: no base class, the ModelClient protocol's four methods."""

    def __init__(self, config, **kwargs):
        self.model = config["model"]
        self.prefix = kwargs.get("prefix", "echo: ")
        self.calls: list[dict] = []

    def create(self, params):
        self.calls.append(params)
        return Reply(self.prefix + params["messages"][-1]["content"], self.model)

    def message_retrieval(self, response):
        return [choice.message.content for choice in response.choices]

    def cost(self, response):
        return 0.5

    @staticmethod
    def get_usage(response):
        return {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "cost": response.cost,
                "model": response.model}


def test_custom_model_client_must_be_registered_first():
    client = autogen.OpenAIWrapper(config_list=[{"model": "echo-1", "model_client_cls": "EchoClient"}])
    with pytest.raises(RuntimeError, match=r"\['EchoClient'\] are not activated"):
        client.create(messages=HELLO)
    client.register_model_client(EchoClient, prefix="> ")
    response = client.create(messages=HELLO)
    assert client.extract_text_or_completion_object(response) == ["> hello"]
    assert response.cost == 0.5
    assert client.total_usage_summary == {"total_cost": 0.5, "echo-1": {
        "cost": 0.5, "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    assert client._clients[0].calls[0]["messages"] == HELLO
    assert "model_client_cls" not in client._clients[0].calls[0]


def test_registering_a_class_that_no_entry_names_is_a_value_error():
    client = autogen.OpenAIWrapper(config_list=[{"model": "echo-1", "model_client_cls": "EchoClient"}])
    with pytest.raises(ValueError, match='"model_client_cls": "Other"'):
        client.register_model_client(type("Other", (EchoClient,), {}))


def test_an_agent_chats_through_a_custom_model_client():
    assistant = autogen.AssistantAgent("assistant", llm_config={
        "config_list": [{"model": "echo-1", "model_client_cls": "EchoClient"}]})
    assistant.register_model_client(EchoClient)
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", max_consecutive_auto_reply=0,
                                  code_execution_config=False)
    result = user.initiate_chat(assistant, message="ping", silent=True)
    assert result.chat_history[-1]["content"] == "echo: ping"
    assert assistant.get_total_usage()["echo-1"]["total_tokens"] == 5
    assert result.cost["usage_including_cached_inference"]["echo-1"]["cost"] == 0.5


def test_an_agents_client_answers_0_2_usage_questions(model_server):
    model_server.add("hi")
    agent = autogen.AssistantAgent("a", llm_config=model_server.llm_config())
    assert agent.client.total_usage_summary is None
    agent.generate_reply(HELLO)
    assert agent.client.total_usage_summary == agent.get_total_usage()
    assert agent.client.actual_usage_summary["scripted-model"]["total_tokens"] > 0
    lines = Lines()
    with IOStream.set_default(lines):
        agent.client.print_usage_summary("total")
    assert "Usage summary including cached usage: " in lines.lines
    agent.client.clear_usage_summary()
    assert agent.client.total_usage_summary is None and agent.get_actual_usage() is None
    assert autogen.ConversableAgent.DEFAULT_SUMMARY_METHOD == "last_msg"
    assert autogen.ConversableAgent.DEFAULT_SUMMARY_PROMPT.startswith("Summarize the takeaway")


def test_generate_oai_reply_accepts_a_wrapper_as_config(model_server):
    model_server.add("from the wrapper")
    agent = autogen.ConversableAgent("a", llm_config=False)
    wrapper = autogen.OpenAIWrapper(config_list=model_server.config_list())
    assert agent.generate_oai_reply(HELLO) == (False, None)
    assert agent.generate_oai_reply(HELLO, config=wrapper) == (True, "from the wrapper")


# ----------------------------------------------------------------------------------- config helpers


def test_get_config_list_skips_blank_keys_and_pairs_base_urls():
    assert openai_utils.get_config_list(["k1", " ", "k2"], ["u1", "u2", "u3"], api_type="azure",
                                        api_version="v") == [
        {"api_key": "k1", "base_url": "u1", "api_type": "azure", "api_version": "v"},
        {"api_key": "k2", "base_url": "u3", "api_type": "azure", "api_version": "v"}]
    assert autogen.get_config_list(["k"]) == [{"api_key": "k"}]
    with pytest.raises(AssertionError, match="length of api_keys"):
        autogen.get_config_list(["a", "b"], ["u"])


@pytest.fixture
def clean_env(monkeypatch):
    """Key variables unset, and restored after the test even when the code under test sets them."""
    for name in ("OPENAI_API_KEY", "OPENAI_API_BASE", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_BASE", "OTHER_KEY"):
        monkeypatch.setenv(name, "")  # records the original state (set or not) for teardown
        monkeypatch.delenv(name)
    return monkeypatch


def test_config_list_openai_aoai_reads_key_files_into_the_environment(clean_env, tmp_path):
    import os

    (tmp_path / "key_openai.txt").write_text("sk-openai-file-key-123456\n")
    (tmp_path / "key_aoai.txt").write_text("azure-key-1\nazure-key-2")
    (tmp_path / "base_aoai.txt").write_text("https://a.example\nhttps://b.example")
    config_list = autogen.config_list_openai_aoai(key_file_path=str(tmp_path))
    assert config_list == [
        {"api_key": "sk-openai-file-key-123456"},
        {"api_key": "azure-key-1", "base_url": "https://a.example", "api_type": "azure",
         "api_version": "2024-02-01"},
        {"api_key": "azure-key-2", "base_url": "https://b.example", "api_type": "azure",
         "api_version": "2024-02-01"}]
    assert os.environ["OPENAI_API_KEY"] == "sk-openai-file-key-123456"  # 0.2 exports what it read
    assert "sk-openai-file-key-123456" not in redact("key is sk-openai-file-key-123456")
    assert autogen.config_list_openai_aoai(key_file_path=str(tmp_path), exclude="aoai") == config_list[:1]
    assert autogen.config_list_openai_aoai(key_file_path=str(tmp_path), exclude="openai") == config_list[1:]


def test_config_list_openai_aoai_from_environment_only(clean_env, tmp_path):
    clean_env.setenv("OPENAI_API_KEY", "k1\nk2")
    clean_env.setenv("OPENAI_API_BASE", "http://127.0.0.1:1/v1\nhttp://127.0.0.1:2/v1")
    assert autogen.config_list_openai_aoai(key_file_path=str(tmp_path)) == [
        {"api_key": "k1", "base_url": "http://127.0.0.1:1/v1"}, {"api_key": "k2", "base_url": "http://127.0.0.1:2/v1"}]
    assert autogen.config_list_openai_aoai(key_file_path=None, exclude="openai") == []


def test_config_list_from_models_and_gpt4_gpt35(clean_env, tmp_path):
    clean_env.setenv("OPENAI_API_KEY", "k1")
    models = autogen.config_list_from_models(key_file_path=str(tmp_path), model_list=["m1", "m2"])
    assert models == [{"api_key": "k1", "model": "m1"}, {"api_key": "k1", "model": "m2"}]
    assert [c["model"] for c in autogen.config_list_gpt4_gpt35(key_file_path=str(tmp_path))] == [
        "gpt-4", "gpt-3.5-turbo"]


def test_config_list_from_dotenv(clean_env, tmp_path, caplog):
    env = tmp_path / ".env"
    env.write_text("# keys\nOPENAI_API_KEY=sk-dotenv-key-1234567\nexport OTHER_KEY='other-key-987654'\n")
    config_list = autogen.config_list_from_dotenv(
        dotenv_file_path=str(env),
        model_api_key_map={"gpt-4o": {"api_key_env_var": "OTHER_KEY", "base_url": "http://127.0.0.1:9/v1"},
                           "missing": "NO_SUCH_VAR"})
    assert config_list == [
        {"api_key": "other-key-987654", "base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o"},
        {"api_key": "sk-dotenv-key-1234567", "model": "gpt-4"},
        {"api_key": "sk-dotenv-key-1234567", "model": "gpt-3.5-turbo"}]
    assert "API key not found or empty for model missing" in caplog.text
    only = autogen.config_list_from_dotenv(dotenv_file_path=str(env), filter_dict={"model": ["gpt-4"]})
    assert [c["model"] for c in only] == ["gpt-4"]


def test_config_list_from_dotenv_missing_file_warns_and_uses_the_environment(clean_env, tmp_path, caplog):
    clean_env.setenv("OPENAI_API_KEY", "from-env")
    with caplog.at_level(logging.WARNING):
        config_list = autogen.config_list_from_dotenv(dotenv_file_path=str(tmp_path / "nope.env"))
    assert "does not exist" in caplog.text
    assert [c["api_key"] for c in config_list] == ["from-env", "from-env"]


def test_config_list_from_json_env_var_with_long_json(monkeypatch):
    entries = [{"model": f"model-{i}", "api_key": "k" * 40, "base_url": "http://127.0.0.1:1/v1"} for i in range(6)]
    value = json.dumps(entries)
    assert len(value) > 255  # longer than a file name may be
    monkeypatch.setenv("MY_CONFIG_LIST", value)
    assert autogen.config_list_from_json("MY_CONFIG_LIST") == entries
    assert autogen.config_list_from_json("MY_CONFIG_LIST", filter_dict={"model": ["model-2"]}) == [entries[2]]


def test_filter_config_tags_and_exclude():
    config_list = [{"model": "a", "tags": ["fast"]}, {"model": "b", "tags": ["slow"]}, {"model": "c"}]
    assert autogen.filter_config(config_list, {"tags": ["fast"]}) == [config_list[0]]
    assert autogen.filter_config(config_list, {"model": ["a"]}, exclude=True) == config_list[1:]
    assert autogen.filter_config(config_list, None) == config_list


def test_no_key_variable_leaks_out_of_these_tests():
    import os

    assert not {"OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "OTHER_KEY"} & set(os.environ)


def test_oai_client_module_is_the_wrapper_home():
    assert oai_client.OpenAIWrapper is autogen.OpenAIWrapper
    assert oai_client.ModelClient.RESPONSE_USAGE_KEYS == ["prompt_tokens", "completion_tokens", "total_tokens",
                                                          "cost", "model"]


def test_api_rate_limit_spaces_calls_and_is_not_sent_to_the_server(model_server, monkeypatch):
    from agentnb.oai import rate_limiters

    waits: list[float] = []
    monkeypatch.setattr(rate_limiters.time, "sleep", waits.append)  # record the waits instead of sleeping
    model_server.add("one", "two")
    client = autogen.OpenAIWrapper(config_list=model_server.config_list(api_rate_limit=0.5))
    client.create(messages=HELLO)
    client.create(messages=HELLO)
    assert len(waits) == 1 and 0 < waits[0] <= 2.0  # the second call waited for the 2 s interval
    assert all("api_rate_limit" not in body for body in model_server.requests)
    with pytest.raises(ValueError, match="positive"):
        rate_limiters.TimeRateLimiter(0)
