"""AutoGen 0.2's ``autogen.oai``: :class:`OpenAIWrapper`, the :class:`ModelClient` protocol, config-list helpers.

Submodules keep 0.2's import paths: ``autogen.oai.client``, ``autogen.oai.openai_utils`` and
``autogen.oai.rate_limiters``.
"""

from ..llm.cache import Cache
from .client import ModelClient, OpenAIWrapper
from .openai_utils import (
    config_list_from_dotenv,
    config_list_from_json,
    config_list_from_models,
    config_list_gpt4_gpt35,
    config_list_openai_aoai,
    filter_config,
    get_config_list,
)

__all__ = [
    "Cache",
    "ModelClient",
    "OpenAIWrapper",
    "config_list_from_dotenv",
    "config_list_from_json",
    "config_list_from_models",
    "config_list_gpt4_gpt35",
    "config_list_openai_aoai",
    "filter_config",
    "get_config_list",
]
