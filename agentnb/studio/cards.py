"""One agent of the builder as an editable card (ipywidgets), and the role templates a card starts from.

A card keeps the agent's whole component dict, so fields it does not show (an agent's own termination, tool
descriptions, the kernel name...) survive an edit; the widgets overlay the fields they show. Numbers typed in a
text box that do not parse are passed on as typed, so the spec's validation error shows next to the box.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .spec import AGENT_PROVIDERS

GALLERY_TOOLS = ["agentnb.studio.gallery_tools:calculate", "agentnb.studio.gallery_tools:word_count",
                 "agentnb.studio.gallery_tools:convert_length"]

ROLES: dict[str, dict[str, Any]] = {
    "assistant": {"kind": "assistant", "model": "default"},
    "executor": {"kind": "user_proxy", "human_input_mode": "NEVER", "default_auto_reply": "(no code to run)",
                 "code_execution": {"executor": "kernel", "work_dir": "coding", "approval": "always"}},
    "human": {"kind": "user_proxy", "human_input_mode": "ALWAYS"},
    "planner": {"kind": "assistant", "model": "default", "description": "Breaks the task into steps.",
                "system_message": "You are the planner. Break the task into at most four short numbered steps. "
                                  "Do not write code."},
    "coder": {"kind": "assistant", "model": "default", "description": "Writes Python code.",
              "system_message": "You are the coder. Write one complete ```python block that carries out the plan "
                                "and prints its results; send corrected code in full when asked."},
    "reviewer": {"kind": "assistant", "model": "default", "description": "Checks the result.",
                 "system_message": "You are the reviewer. Check the output against the task. If it is right, "
                                   "say so in one sentence and end with TERMINATE; otherwise say what to fix."},
    "analyst": {"kind": "assistant", "model": "default", "description": "Writes pandas/matplotlib code.",
                "system_message": "You are a data analyst. Answer with one ```python block using pandas and "
                                  "matplotlib; print the numbers and draw one labelled plot with plt.show()."},
    "critic": {"kind": "assistant", "model": "default", "description": "Reviews numbers and plots.",
               "system_message": "You are a critic. Review the output and the plot; if right, state the finding "
                                 "and end with TERMINATE, otherwise list the fixes."},
}
"""Role template -> agent fields (``kind`` picks the class)."""

NO_MODEL = "(no model)"


def role_component(role: str, name: str) -> dict[str, Any]:
    """A new agent component dict from a role template."""
    fields = copy.deepcopy(ROLES[role])
    kind = fields.pop("kind")
    return {"provider": AGENT_PROVIDERS[kind], "component_type": "agent", "label": name,
            "config": {"name": name, **fields}}


class AgentCard(widgets.VBox):
    """Name, role template, kind, system message, model, human input, code execution, approval, tools."""

    def __init__(self, component: dict[str, Any], *, models: list[str], tools: list[str], agents: list[str],
                 on_change: Callable[[], None], on_duplicate: Callable[[AgentCard], object],
                 on_remove: Callable[[AgentCard], None]):
        self.component = copy.deepcopy(component)
        cfg = self.component.setdefault("config", {})
        self._on_change = on_change
        self._quiet = True
        kinds: dict[str, str] = {v: k for k, v in AGENT_PROVIDERS.items()}
        self.name = widgets.Text(value=cfg.get("name", ""), description="name")
        self.role = widgets.Dropdown(options=["(keep)", *ROLES], value="(keep)", description="role")
        self.kind = widgets.Dropdown(options=list(AGENT_PROVIDERS), value=kinds.get(str(self.component.get("provider")),
                                                                                   "assistant"), description="kind")
        self.system_message = widgets.Textarea(value=cfg.get("system_message") or "", description="system",
                                               placeholder="(the class default)",
                                               layout=widgets.Layout(width="98%", height="70px"))
        self.model = widgets.Dropdown(description="model")
        self.human_input = widgets.Dropdown(options=["NEVER", "TERMINATE", "ALWAYS"],
                                            value=cfg.get("human_input_mode", "NEVER"), description="human input")
        code = cfg.get("code_execution")
        self.code = widgets.Checkbox(value=code is not None, description="runs code")
        self.approval = widgets.Dropdown(options=["always", "first", "never"],
                                         value=(code or {}).get("approval", "always"), description="approval")
        wide = {"description_width": "initial"}
        self.work_dir = widgets.Text(value=(code or {}).get("work_dir") or "", description="work dir",
                                     placeholder="(a temporary folder)", style=wide,
                                     layout=widgets.Layout(width="230px"))
        self.timeout = widgets.Text(value=_text((code or {}).get("timeout")), description="timeout (s)",
                                    placeholder="(none)", style=wide, layout=widgets.Layout(width="160px"))
        self.max_auto = widgets.Text(value=_text(cfg.get("max_consecutive_auto_reply")),
                                     description="max auto replies", placeholder="(class default)", style=wide,
                                     layout=widgets.Layout(width="240px"))
        self.tools = widgets.SelectMultiple(description="tools", layout=widgets.Layout(width="98%"))
        self.tool_executor = widgets.Dropdown(description="tools run by")
        self.errors = widgets.HTML()
        """Validation errors of this agent (from the spec), shown next to its fields."""
        self.duplicate_button = widgets.Button(description="Duplicate", icon="copy")
        self.remove_button = widgets.Button(description="Remove", icon="trash", button_style="danger")
        self.duplicate_button.on_click(lambda _b: on_duplicate(self))
        self.remove_button.on_click(lambda _b: on_remove(self))
        self.set_choices(models=models, tools=tools, agents=agents)
        self.code.observe(self._code_toggled, names="value")  # first: it fills in the work dir the spec gets
        for w in (self.name, self.kind, self.system_message, self.model, self.human_input, self.code, self.approval,
                  self.work_dir, self.timeout, self.max_auto, self.tools, self.tool_executor):
            w.observe(self._changed, names="value")
        self.role.observe(self._apply_role, names="value")
        self.code_box = widgets.HBox([self.approval, self.work_dir, self.timeout])
        """The code execution settings (shown while the agent runs code)."""
        self.code_box.layout.display = None if self.code.value else "none"
        super().__init__([widgets.HBox([self.name, self.role, self.kind]), self.system_message,
                          widgets.HBox([self.model, self.human_input, self.max_auto]),
                          widgets.HBox([self.code, self.code_box]), self.tools, self.tool_executor, self.errors,
                          widgets.HBox([self.duplicate_button, self.remove_button])],
                         layout=widgets.Layout(border="1px solid #ccc", padding="6px", margin="4px 0"))
        self._quiet = False

    def set_choices(self, *, models: list[str], tools: list[str], agents: list[str]) -> None:
        """Refresh the model, tool and executor options (keeping the current choices)."""
        quiet, self._quiet = self._quiet, True
        cfg = self.component["config"]
        model = cfg.get("model")
        options = [NO_MODEL, "default", *[m for m in models if m != "default"]]
        if model is not None and model not in options:
            options.append(model)  # a model that is gone stays chosen, so the error shows on this card
        self.model.options = options
        self.model.value = model if model is not None else NO_MODEL
        current = [t["function"] for t in cfg.get("tools", [])]
        self.tools.options = list(dict.fromkeys([*tools, *current]))
        self.tools.value = tuple(current)
        executors = {t.get("executor") for t in cfg.get("tools", [])} - {None}
        self.tool_executor.options = ["(itself)", *[a for a in agents if a != cfg.get("name")]]
        chosen = next(iter(executors), None)
        self.tool_executor.value = chosen if chosen in self.tool_executor.options else "(itself)"
        self._quiet = quiet

    def _apply_role(self, change: dict[str, Any]) -> None:
        if change["new"] == "(keep)":
            return
        template = role_component(change["new"], self.name.value or change["new"])
        self.component["provider"] = template["provider"]
        config = self.component["config"]
        for key in ("system_message", "description", "code_execution", "model", "human_input_mode",
                    "default_auto_reply"):
            config.pop(key, None)
        config.update({k: v for k, v in template["config"].items() if k != "name"})
        self._load_fields()
        self.role.value = "(keep)"
        self._changed()

    def _load_fields(self) -> None:
        quiet, self._quiet = self._quiet, True
        kinds = {v: k for k, v in AGENT_PROVIDERS.items()}
        cfg = self.component["config"]
        self.kind.value = kinds[self.component["provider"]]
        self.system_message.value = cfg.get("system_message") or ""
        model = cfg.get("model")
        self.model.value = model if model in self.model.options else NO_MODEL
        self.human_input.value = cfg.get("human_input_mode", "NEVER")
        code = cfg.get("code_execution")
        self.code.value = code is not None
        self.approval.value = (code or {}).get("approval", "always")
        self.work_dir.value = (code or {}).get("work_dir") or ""
        self.timeout.value = _text((code or {}).get("timeout"))
        self.max_auto.value = _text(cfg.get("max_consecutive_auto_reply"))
        self._quiet = quiet

    def _code_toggled(self, change: dict[str, Any]) -> None:
        self.code_box.layout.display = None if change["new"] else "none"
        if change["new"] and not self.work_dir.value and not self._quiet:
            quiet, self._quiet = self._quiet, True
            self.work_dir.value = "coding"  # code written by the agent lands in a folder of its own
            self._quiet = quiet

    def _changed(self, _change: Any = None) -> None:
        if not self._quiet:
            self._on_change()

    def to_component(self) -> dict[str, Any]:
        """The agent component with the card's edits applied."""
        component = copy.deepcopy(self.component)
        cfg = component["config"]
        cfg["name"] = self.name.value.strip()
        component["provider"] = AGENT_PROVIDERS[self.kind.value]
        if component.get("label") in (None, "", self.component["config"].get("name")):
            component["label"] = cfg["name"]
        cfg["system_message"] = self.system_message.value or None
        cfg["model"] = None if self.model.value == NO_MODEL else self.model.value
        cfg["human_input_mode"] = self.human_input.value
        cfg["max_consecutive_auto_reply"] = _number(self.max_auto.value, int)
        if self.code.value:
            code = dict(cfg.get("code_execution") or {"executor": "kernel"})
            code.update(approval=self.approval.value, work_dir=self.work_dir.value.strip() or None,
                        timeout=_number(self.timeout.value, float))
            cfg["code_execution"] = code
        else:
            cfg["code_execution"] = None
        executor = None if self.tool_executor.value in (None, "(itself)") else self.tool_executor.value
        old = {t["function"]: t for t in cfg.get("tools", [])}
        cfg["tools"] = [dict(old.get(ref, {"function": ref}), executor=executor) for ref in self.tools.value]
        return component


def _text(value: Any) -> str:
    """A number for a text box (``None``: empty)."""
    if value is None:
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _number(text: str, kind: type[int] | type[float]) -> Any:
    """A text box's number: ``None`` when empty, the text itself when it does not parse (the spec says why)."""
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        return text


class ModelRow(widgets.HBox):
    """One model of the team: its name in the spec, the model, the endpoint and the key's environment variable."""

    def __init__(self, name: str, component: dict[str, Any], *, on_change: Callable[[], None],
                 on_remove: Callable[[ModelRow], None]):
        self.component = copy.deepcopy(component)
        cfg = self.component.setdefault("config", {})
        small = widgets.Layout(width="180px")
        self.name = widgets.Text(value=name, placeholder="name in the spec", layout=small)
        self.model = widgets.Text(value=cfg.get("model", ""), placeholder="model (gpt-4o-mini, llama3...)",
                                  layout=small)
        self.base_url = widgets.Text(value=cfg.get("base_url") or "", placeholder="base URL (empty: OpenAI)",
                                     layout=widgets.Layout(width="260px"))
        self.key_env = widgets.Text(value=cfg.get("api_key_env") or "", placeholder="key's env variable",
                                    layout=small)
        self.remove_button = widgets.Button(icon="trash", layout=widgets.Layout(width="40px"),
                                            tooltip="remove this model")
        self.remove_button.on_click(lambda _b: on_remove(self))
        for w in (self.name, self.model, self.base_url, self.key_env):
            w.observe(lambda _c: on_change(), names="value")
        super().__init__([self.name, self.model, self.base_url, self.key_env, self.remove_button])

    def to_component(self) -> dict[str, Any]:
        component = copy.deepcopy(self.component)
        component.update(provider="agentnb.OpenAIModel", component_type="model")
        component.setdefault("label", self.name.value)
        cfg = component["config"]
        cfg["model"] = self.model.value.strip()
        cfg["base_url"] = self.base_url.value.strip() or None
        cfg["api_key_env"] = self.key_env.value.strip() or None
        return component


TERMINATION_MODES = [("no text ends the chat", "none"), ("a message ending with", "endswith"),
                     ("a message containing", "contains")]


class TeamOptions(widgets.VBox):
    """The team's termination (a text mention, max turns of a pair) and its group chat manager's settings
    (whether the graph lists allowed or disallowed transitions, the manager's system message)."""

    def __init__(self, on_change: Callable[[], None]):
        self.termination_mode = widgets.Dropdown(options=TERMINATION_MODES, value="none", description="ends on")
        self.termination_text = widgets.Text(value="TERMINATE", description="text")
        self.max_turns = widgets.Text(description="max turns", placeholder="(no limit)")
        self.transitions_type = widgets.Dropdown(options=[("allowed next speakers", "allowed"),
                                                          ("disallowed next speakers", "disallowed")],
                                                 value="allowed", description="graph lists")
        self.manager_system = widgets.Textarea(description="manager", placeholder="(the manager's default "
                                               "system message)", layout=widgets.Layout(width="98%", height="50px"))
        for w in (self.termination_mode, self.termination_text, self.max_turns, self.transitions_type,
                  self.manager_system):
            w.observe(lambda _c: on_change(), names="value")
        self.group_box = widgets.VBox([self.transitions_type, self.manager_system])
        """Shown for group chats only."""
        super().__init__([widgets.HBox([self.termination_mode, self.termination_text, self.max_turns]),
                          self.group_box])

    def load(self, cfg: dict[str, Any]) -> None:
        """Show a team config's values (the caller keeps change notifications quiet)."""
        termination = (cfg.get("termination") or {}).get("config")
        self.termination_mode.value = (termination.get("mode", "endswith") or "endswith") if termination is not None \
            else "none"
        self.termination_text.value = (termination or {}).get("text", "TERMINATE")
        self.max_turns.value = _text(cfg.get("max_turns"))
        group = cfg.get("group") or {}
        self.transitions_type.value = group.get("transitions_type", "allowed")
        self.manager_system.value = (group.get("manager") or {}).get("system_message") or ""

    def apply(self, cfg: dict[str, Any]) -> None:
        """Write the widgets' values into a team config dict (``cfg["group"]`` already built for a group)."""
        if self.termination_mode.value == "none":
            cfg["termination"] = None
        else:
            termination = dict(cfg.get("termination") or {"provider": "agentnb.TextMentionTermination",
                                                           "component_type": "termination"})
            termination["config"] = {"text": self.termination_text.value, "mode": self.termination_mode.value}
            cfg["termination"] = termination
        cfg["max_turns"] = _number(self.max_turns.value, int) if cfg.get("kind") == "pair" else cfg.get("max_turns")
        group = cfg.get("group")
        if group is not None:
            group["transitions_type"] = self.transitions_type.value
            manager = group.setdefault("manager", {})
            manager["system_message"] = self.manager_system.value or None

    def show_for(self, kind: str) -> None:
        self.group_box.layout.display = None if kind == "group" else "none"
        self.max_turns.layout.display = None if kind == "pair" else "none"
        self.termination_text.layout.display = None if self.termination_mode.value != "none" else "none"
