"""``llm_config`` and ``config_list`` in AutoGen's shape, validated early.

An ``llm_config`` is ``False`` (no model), ``None`` (the default model: the
notebook default, ``OAI_CONFIG_LIST``, ``OPENAI_API_KEY``, else the embedded
local model) or a dict::

    {"config_list": [{"model": "gpt-4o", "api_key": "...", "base_url": "...",
                      "api_type": "openai" | "azure", "api_version": "...", "price": [0.0025, 0.01]}],
     "temperature": 0, "timeout": 60, "cache_seed": None, "stream": False}

Every key is type-checked up front (:mod:`agentnb.llm.schema`); a bad value raises one
:class:`~agentnb.errors.ConfigError` naming the key. ``timeout`` defaults to :data:`DEFAULT_TIMEOUT`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, register_secret
from .schema import check_llm_config

DEFAULT_TIMEOUT = 120.0
"""Seconds of silence from the server after which a model call attempt fails (``llm_config['timeout']``)."""
CONNECT_TIMEOUT = 10.0
"""Seconds connecting to the server may take (never more than the timeout)."""

EMBEDDED = "embedded"
"""``api_type`` of the entry that stands for the embedded local model (resolved on first call)."""

ENTRY_KEYS = {
    "model", "api_key", "base_url", "api_type", "api_version", "price", "tags", "organization",
    "default_headers", "azure_endpoint", "max_retries",
}
REQUEST_KEYS = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "presence_penalty",
    "frequency_penalty", "response_format", "tools", "tool_choice", "functions", "n", "logit_bias", "user",
    "parallel_tool_calls", "reasoning_effort",
}
CLIENT_KEYS = {"config_list", "timeout", "cache_seed", "stream", "cache_path_root", "max_retries"}

_default_llm_config: dict[str, Any] | None = None


@dataclass
class ModelEntry:
    """One validated ``config_list`` entry."""

    model: str
    api_key: str | None = None
    base_url: str | None = None
    api_type: str = "openai"
    api_version: str | None = None
    price: tuple[float, float] | None = None
    """USD per 1,000 prompt and completion tokens."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show the key
        return f"ModelEntry(model={self.model!r}, base_url={self.base_url!r}, api_type={self.api_type!r})"

    @property
    def endpoint(self) -> str:
        return self.base_url or ("(embedded)" if self.api_type == EMBEDDED else "https://api.openai.com/v1")


@dataclass
class LLMConfig:
    """A validated ``llm_config``: entries tried in order, and request options."""

    entries: list[ModelEntry]
    request: dict[str, Any] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    """Seconds without a byte from the server before an attempt fails (see :mod:`agentnb.llm.client`)."""
    cache_seed: int | str | None = None
    cache_path_root: str = ".cache"
    stream: bool | None = None
    max_retries: int = 2

    @property
    def model(self) -> str:
        return self.entries[0].model


def set_default_llm_config(llm_config: dict[str, Any] | None) -> None:
    """Set the process-wide default used by agents created with ``llm_config=None``."""
    global _default_llm_config
    if llm_config is not None:
        parse_llm_config(llm_config)  # validate now
    _default_llm_config = llm_config


def get_default_llm_config() -> dict[str, Any]:
    """The config an agent with ``llm_config=None`` uses (see module docstring for the order)."""
    if _default_llm_config is not None:
        return _default_llm_config
    env_list = os.environ.get("OAI_CONFIG_LIST")
    if env_list:
        return {"config_list": config_list_from_json("OAI_CONFIG_LIST")}
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        entry: dict[str, Any] = {"model": os.environ.get("AGENTNB_MODEL", "gpt-4o-mini"), "api_key": key}
        if os.environ.get("OPENAI_BASE_URL"):
            entry["base_url"] = os.environ["OPENAI_BASE_URL"]
        return {"config_list": [entry]}
    from .local import LOCAL_MAX_TOKENS, LOCAL_TEMPERATURE

    # the server itself starts lazily, on the first model call (see client._resolve)
    return {"config_list": [{"model": "smollm2-135m-instruct", "api_type": EMBEDDED}],
            "temperature": LOCAL_TEMPERATURE, "max_tokens": LOCAL_MAX_TOKENS, "cache_seed": None}


def is_embedded(llm_config: dict[str, Any] | None) -> bool:
    """True when ``llm_config`` (``None`` = the default) resolves to the embedded local model."""
    try:
        cfg = parse_llm_config(llm_config)
    except ConfigError:
        return False
    return all(e.api_type == EMBEDDED for e in cfg.entries)


def parse_llm_config(llm_config: dict[str, Any] | None) -> LLMConfig:
    """Validate ``llm_config`` (``None`` = the default) and return an :class:`LLMConfig`."""
    if llm_config is None:
        llm_config = get_default_llm_config()
    if not isinstance(llm_config, dict):
        raise ConfigError(f"llm_config must be a dict, None or False; got {type(llm_config).__name__}")
    check_llm_config(llm_config)
    raw_list = llm_config.get("config_list")
    if raw_list is None:
        if "model" in llm_config:  # AutoGen also accepts a single entry inline
            raw_list = [{k: v for k, v in llm_config.items() if k in ENTRY_KEYS}]
        else:
            raise ConfigError("llm_config needs a 'config_list' (or a 'model')")
    if not isinstance(raw_list, list) or not raw_list:
        raise ConfigError("llm_config['config_list'] has no usable entry: it must be a non-empty list of dicts")
    entries = [_parse_entry(i, e) for i, e in enumerate(raw_list)]
    request = {k: v for k, v in llm_config.items() if k in REQUEST_KEYS}
    unknown = set(llm_config) - REQUEST_KEYS - CLIENT_KEYS - ENTRY_KEYS - {"functions", "tools"}
    request.update({k: llm_config[k] for k in unknown if not k.startswith("_")})
    timeout = llm_config.get("timeout")
    return LLMConfig(
        entries=entries,
        request=request,
        timeout=float(timeout) if timeout is not None else DEFAULT_TIMEOUT,
        cache_seed=llm_config.get("cache_seed"),
        cache_path_root=llm_config.get("cache_path_root", ".cache"),
        stream=llm_config.get("stream"),
        max_retries=llm_config.get("max_retries", 2),
    )


def _parse_entry(index: int, raw: Any) -> ModelEntry:
    where = f"config_list[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a dict, not {type(raw).__name__}")
    model = raw.get("model")
    if not model or not isinstance(model, str):
        raise ConfigError(f"{where} is missing 'model' (the model name to request, e.g. 'gpt-4o')")
    api_type = str(raw.get("api_type") or "openai").lower()
    if api_type not in {"openai", "azure", EMBEDDED}:
        raise ConfigError(f"{where}: api_type {api_type!r} is not supported (use 'openai' or 'azure'; "
                          "any OpenAI-compatible server works as 'openai' with a base_url)")
    base_url = raw.get("base_url") or raw.get("azure_endpoint")
    if api_type == "azure" and not base_url:
        raise ConfigError(f"{where}: api_type 'azure' needs 'base_url' (the Azure endpoint)")
    price = raw.get("price")
    if price is not None:
        if not (isinstance(price, list | tuple) and len(price) == 2
                and all(isinstance(p, int | float) and p >= 0 for p in price)):
            raise ConfigError(f"{where}: 'price' must be [prompt_price_per_1k, completion_price_per_1k]")
        price = (float(price[0]), float(price[1]))
    api_key = raw.get("api_key")
    register_secret(api_key)
    extra = {k: v for k, v in raw.items() if k not in ENTRY_KEYS}
    return ModelEntry(model=model, api_key=api_key, base_url=base_url, api_type=api_type,
                      api_version=raw.get("api_version"), price=price, extra=extra)


def filter_config(config_list: list[dict[str, Any]], filter_dict: dict[str, Any] | None,
                  exclude: bool = False) -> list[dict[str, Any]]:
    """Keep entries whose fields match ``filter_dict`` (a value matches if it is in the list given)."""
    if not filter_dict:
        return list(config_list)

    def matches(entry: dict[str, Any]) -> bool:
        for key, allowed in filter_dict.items():
            value = entry.get(key)
            allowed_values = allowed if isinstance(allowed, list | set | tuple) else [allowed]
            if isinstance(value, list):  # e.g. tags
                ok = any(v in allowed_values for v in value)
            else:
                ok = value in allowed_values
            if not ok:
                return False
        return True

    return [e for e in config_list if matches(e) != exclude]


def config_list_from_json(env_or_file: str = "OAI_CONFIG_LIST", file_location: str | None = "",
                          filter_dict: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """AutoGen's loader: the env var holds JSON or a file name; else the file ``env_or_file``."""
    value = os.environ.get(env_or_file)
    if value:
        path = Path(file_location or "") / value
        if _is_file(path):
            text = path.read_text()
        elif _is_file(Path(value)):
            text = Path(value).read_text()
        else:
            text = value
    else:
        path = Path(file_location or "") / env_or_file
        if not path.is_file():
            raise FileNotFoundError(
                f"config list not found: neither env var {env_or_file!r} nor file {str(path)!r} exists")
        text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{env_or_file} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ConfigError(f"{env_or_file} must hold a JSON list of config entries")
    return filter_config(data, filter_dict)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for a value that cannot be a path (JSON longer than NAME_MAX, NUL bytes)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False

