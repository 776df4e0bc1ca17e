"""AutoGen 0.2's config-list helpers (``autogen.oai.openai_utils``), with 0.2's environment behaviour.

- :func:`get_config_list` / :func:`get_config`: entries from keys and base URLs;
- :func:`config_list_openai_aoai`: keys from ``key_openai.txt`` / ``key_aoai.txt`` / ``base_*.txt`` under
  ``key_file_path`` (copied into ``OPENAI_API_KEY``, ``OPENAI_API_BASE``, ``AZURE_OPENAI_API_KEY``,
  ``AZURE_OPENAI_API_BASE``), then one entry per line of those variables;
- :func:`config_list_from_models`, :func:`config_list_gpt4_gpt35`: the same, once per model;
- :func:`config_list_from_dotenv`: keys named in ``model_api_key_map`` read from a ``.env`` file / the environment;
- :func:`config_list_from_json`, :func:`filter_config`: agentnb's own (:mod:`agentnb.llm.config`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..errors import register_secret
from ..llm.config import config_list_from_json, filter_config

logger = logging.getLogger(__name__)

DEFAULT_AZURE_API_VERSION = "2024-02-01"
DEFAULT_MODELS = ("gpt-4", "gpt-3.5-turbo")


def get_config(api_key: str | None, base_url: str | None = None, api_type: str | None = None,
               api_version: str | None = None) -> dict[str, Any]:
    """One entry: ``api_key`` plus whichever of the other fields are given."""
    config: dict[str, Any] = {"api_key": api_key}
    for key, value in (("base_url", base_url), ("api_type", api_type), ("api_version", api_version)):
        if value:
            config[key] = value
    return config


def get_config_list(api_keys: list[str], base_urls: list[str] | None = None, api_type: str | None = None,
                    api_version: str | None = None) -> list[dict[str, Any]]:
    """One entry per non-blank key (``base_urls``, if given, pairs with ``api_keys`` one to one)."""
    if base_urls is not None and len(api_keys) != len(base_urls):
        raise AssertionError("The length of api_keys must match the length of base_urls")
    config_list = []
    for i, api_key in enumerate(api_keys):
        if not api_key.strip():
            continue
        register_secret(api_key)
        config_list.append(get_config(api_key, base_urls[i] if base_urls else None, api_type, api_version))
    return config_list


def _file_to_env(directory: str, name: str | None, variable: str) -> None:
    if name is None:
        return
    try:
        value = (Path(directory) / name).read_text().strip()
    except FileNotFoundError:
        logger.info("%s not found under %s; %s keeps its value from the environment", name, directory, variable)
        return
    register_secret(value)
    os.environ[variable] = value


def config_list_openai_aoai(key_file_path: str | None = ".", openai_api_key_file: str | None = "key_openai.txt",
                            aoai_api_key_file: str | None = "key_aoai.txt",
                            openai_api_base_file: str | None = "base_openai.txt",
                            aoai_api_base_file: str | None = "base_aoai.txt",
                            exclude: str | None = None) -> list[dict[str, Any]]:
    """OpenAI entries then Azure OpenAI entries, from key files (if present) and environment variables.

    ``exclude="openai"`` or ``"aoai"`` leaves one kind out. Entries carry no ``model``: add one, or use
    :func:`config_list_from_models`.
    """
    if exclude != "openai" and key_file_path is not None:
        _file_to_env(key_file_path, openai_api_key_file, "OPENAI_API_KEY")
        _file_to_env(key_file_path, openai_api_base_file, "OPENAI_API_BASE")
    if exclude != "aoai" and key_file_path is not None:
        _file_to_env(key_file_path, aoai_api_key_file or "key_aoai.txt", "AZURE_OPENAI_API_KEY")
        _file_to_env(key_file_path, aoai_api_base_file or "base_aoai.txt", "AZURE_OPENAI_API_BASE")
    aoai = get_config_list(os.environ.get("AZURE_OPENAI_API_KEY", "").split("\n"),
                           os.environ.get("AZURE_OPENAI_API_BASE", "").split("\n"),
                           api_type="azure", api_version=DEFAULT_AZURE_API_VERSION) if exclude != "aoai" else []
    bases = os.environ.get("OPENAI_API_BASE")
    openai = get_config_list(os.environ.get("OPENAI_API_KEY", "").split("\n"),
                             bases.split("\n") if bases is not None else None) if exclude != "openai" else []
    return openai + aoai


def config_list_from_models(key_file_path: str | None = ".", openai_api_key_file: str | None = "key_openai.txt",
                            aoai_api_key_file: str | None = "key_aoai.txt",
                            aoai_api_base_file: str | None = "base_aoai.txt", exclude: str | None = None,
                            model_list: list[str] | None = None) -> list[dict[str, Any]]:
    """:func:`config_list_openai_aoai`, repeated for each model of ``model_list`` (models outermost)."""
    config_list = config_list_openai_aoai(key_file_path, openai_api_key_file, aoai_api_key_file,
                                          aoai_api_base_file=aoai_api_base_file, exclude=exclude)
    if model_list:
        config_list = [{**config, "model": model} for model in model_list for config in config_list]
    return config_list


def config_list_gpt4_gpt35(key_file_path: str | None = ".", openai_api_key_file: str | None = "key_openai.txt",
                           aoai_api_key_file: str | None = "key_aoai.txt",
                           aoai_api_base_file: str | None = "base_aoai.txt",
                           exclude: str | None = None) -> list[dict[str, Any]]:
    """Entries for ``gpt-4`` followed by ``gpt-3.5-turbo``."""
    return config_list_from_models(key_file_path, openai_api_key_file, aoai_api_key_file, aoai_api_base_file,
                                   exclude, model_list=list(DEFAULT_MODELS))


def _find_dotenv() -> Path | None:
    for folder in [Path.cwd(), *Path.cwd().parents]:
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def load_dotenv(path: str | os.PathLike) -> None:
    """Set the variables of a ``.env`` file that the environment does not already have (``KEY=value`` lines;
    ``export``, quotes and ``#`` comments allowed)."""
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) > 1:
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key and key not in os.environ:
            register_secret(value)
            os.environ[key] = value


def config_list_from_dotenv(dotenv_file_path: str | None = None, model_api_key_map: dict[str, Any] | None = None,
                            filter_dict: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One entry per model of ``model_api_key_map`` whose key variable is set (after loading the ``.env`` file).

    A map value is the name of the variable holding the key, or a dict with ``api_key_env_var`` and other
    entry fields (``base_url``, ``api_type``, ``api_version``). ``gpt-4`` and ``gpt-3.5-turbo`` default to
    ``OPENAI_API_KEY``. Models without a key are skipped (with a warning).
    """
    if dotenv_file_path:
        if Path(dotenv_file_path).exists():
            load_dotenv(dotenv_file_path)
        else:
            logger.warning("The specified .env file %s does not exist.", dotenv_file_path)
    else:
        found = _find_dotenv()
        if found is None:
            logger.warning("No .env file found. Loading configurations from environment variables.")
        else:
            load_dotenv(found)
    model_api_key_map = dict(model_api_key_map or {})
    for model in DEFAULT_MODELS:
        model_api_key_map.setdefault(model, "OPENAI_API_KEY")
    config_list = []
    for model, spec in model_api_key_map.items():
        if isinstance(spec, str):
            config = get_config(os.getenv(spec))
        elif isinstance(spec, dict):
            fields = {k: v for k, v in spec.items() if k != "api_key_env_var"}
            config = get_config(os.getenv(spec.get("api_key_env_var", "OPENAI_API_KEY")), **fields)
        else:
            logger.warning("Unsupported type %s for model %s configuration", type(spec), model)
            continue
        if not config["api_key"] or not config["api_key"].strip():
            logger.warning("API key not found or empty for model %s. Please ensure path to .env file is correct.",
                           model)
            continue
        register_secret(config["api_key"])
        config["model"] = model
        config_list.append(config)
    config_list = filter_config(config_list, filter_dict)
    if not config_list:
        logger.error("No configurations loaded.")
    return config_list


__all__ = [
    "DEFAULT_AZURE_API_VERSION", "config_list_from_dotenv", "config_list_from_json", "config_list_from_models",
    "config_list_gpt4_gpt35", "config_list_openai_aoai", "filter_config", "get_config", "get_config_list",
]
