"""What each ``code_execution_config`` key accepts, checked when the agent is built (before anything runs).

Keys not listed pass unchanged (AutoGen 0.2 configs carry keys other versions read; ``approval`` is
checked by the approval gate itself).
"""

from __future__ import annotations

from typing import Any

from .._validate import (
    BOOL,
    NON_EMPTY_STR,
    NON_NEGATIVE_INT,
    NONE,
    PATH,
    POSITIVE_SECONDS,
    STR,
    Rule,
    check,
    check_mapping,
    dict_of,
    list_of,
    one_of,
)

LAST_N_MESSAGES = NON_NEGATIVE_INT | one_of("auto")

CODE_EXECUTION_RULES: dict[str, Rule] = {
    "work_dir": PATH | NONE,
    "timeout": POSITIVE_SECONDS | NONE,
    "last_n_messages": LAST_N_MESSAGES,
    "use_docker": BOOL | STR | list_of(STR, "image names") | NONE,
    "executor": NON_EMPTY_STR | Rule(lambda v: _is_executor(v) or _follows_02_protocol(v),
                                     "a CodeExecutor instance (or an object with 0.2's execute_code_blocks)"),
    "kernel_name": NON_EMPTY_STR,
    "env": dict_of(STR, STR, "a dict of str names to str values") | NONE,
}


def _is_executor(value: Any) -> bool:
    from .base import CodeExecutor

    return isinstance(value, CodeExecutor)


def _follows_02_protocol(value: Any) -> bool:
    """AutoGen 0.2's ``CodeExecutor`` protocol: ``execute_code_blocks`` (make_executor wraps such objects)."""
    return not isinstance(value, type) and callable(getattr(value, "execute_code_blocks", None))


def check_code_execution_config(config: Any) -> None:
    """Raise :class:`~agentnb.errors.ConfigError` naming the first bad key (``config`` False/None/executor pass)."""
    if config is False or config is None or config is True or _is_executor(config):
        return
    check("code_execution_config", config, Rule(lambda v: isinstance(v, dict),
                                                "a dict, False, None or a CodeExecutor"))
    check_mapping("code_execution_config", config, CODE_EXECUTION_RULES)
