"""The Studio builder: edit a team as agent cards or as JSON, run it in a ChatPanel below, save and load it.

    from agentnb.studio import studio
    studio()                                   # or: %agents studio
    studio("team.json")                        # start from a file, a TeamSpec or a gallery name

The form and the JSON tab edit the same spec; validation errors show next to the agent they concern
and, with their JSON path, under the editor. **Run** builds the team and runs it on the kernel's loop
in the existing ChatPanel (Approve / Reject / Stop stay live); runs go to the run history.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import re
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pydantic

from ..notebook.html import escape
from .cards import GALLERY_TOOLS, ROLES, AgentCard, ModelRow, TeamOptions, role_component
from .spec import TeamSpec, parse_team


def studio(start: Any = "coder", *, models: dict[str, dict[str, Any]] | None = None,
           namespace: dict[str, Any] | None = None) -> Studio:
    """A builder widget, starting from a gallery name, a path, a dict or a :class:`TeamSpec`.

    ``models`` maps the spec's model names to ``llm_config`` dicts for Run (not saved in the spec);
    ``namespace`` is where tool functions are offered from (default: the notebook's).
    """
    return Studio(start, models=models, namespace=namespace)


def _namespace_tools(namespace: dict[str, Any] | None) -> list[str]:
    """Import paths of the documented module-level functions of ``namespace`` (the notebook's by default)."""
    from .dump import import_path

    if namespace is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            namespace = shell.user_ns if shell is not None else {}
        except ImportError:
            namespace = {}
    import sys

    out = []
    for name, value in sorted(namespace.items()):
        if name.startswith("_") or not inspect.isfunction(value) or not inspect.getdoc(value):
            continue
        top = str(getattr(value, "__module__", "")).split(".")[0]
        if top == "agentnb" or top in sys.stdlib_module_names:
            continue  # the notebook's own functions and those of the user's packages, not library APIs
        path = import_path(value)
        if path is not None:
            out.append(path)
    return out


def risk_note(spec: TeamSpec | None) -> str:
    """HTML naming the agents that would run code or tool calls with nobody asked (empty when there are none)."""
    if spec is None:
        return ""
    unasked = []
    for agent in spec.config.agents:
        cfg = agent.config
        if cfg.code_execution is not None and cfg.code_execution.approval == "never":
            unasked.append(f"{cfg.name} runs code")
        runs_tools = any((t.executor or a.config.name) == cfg.name for a in spec.config.agents for t in a.config.tools)
        policy = cfg.tool_approval or (cfg.code_execution.approval if cfg.code_execution else "never")
        if runs_tools and policy == "never":
            unasked.append(f"{cfg.name} runs tool calls")
    if not unasked:
        return ""
    return ('<div style="background:#fff3cd;padding:4px">⚠ without asking anyone: '
            f"{escape('; '.join(unasked))}. Set approval to 'always' or 'first' to be asked.</div>")


class Studio(widgets.VBox):
    """The builder widget (see the module docstring)."""

    def __init__(self, start: Any = "coder", *, models: dict[str, dict[str, Any]] | None = None,
                 namespace: dict[str, Any] | None = None):
        self.models_override = models
        self.tool_choices = list(dict.fromkeys([*GALLERY_TOOLS, *_namespace_tools(namespace)]))
        self.data: dict[str, Any] = {}
        """The spec being edited, as a dict (the form and the JSON tab both write it)."""
        self.spec: TeamSpec | None = None
        """The last valid spec (None while the edits do not validate)."""
        self.errors: list[Any] = []  # pydantic's error details
        self.cards: list[AgentCard] = []
        self.run_task: asyncio.Future | None = None
        self.last_result: Any = None
        self._loading = False
        self._build_widgets()
        self.load(start)

    # ------------------------------------------------------------------ layout

    def _build_widgets(self) -> None:
        from .catalog import gallery_names

        w = widgets
        self.label = w.Text(description="team")
        self.kind = w.ToggleButtons(options=[("two agents", "pair"), ("group chat", "group")])
        self.initiator = w.Dropdown(description="starts")
        self.recipient = w.Dropdown(description="talks to")
        self.selection = w.Dropdown(options=["auto", "round_robin", "random", "manual"], description="next speaker")
        self.max_round = w.BoundedIntText(min=1, max=1000, value=10, description="max rounds")
        self.manager_model = w.Dropdown(description="manager model")
        self.transitions = w.Textarea(placeholder="optional speaker graph, one line per agent:\nplanner: coder\n"
                                                  "coder: executor", description="graph",
                                      layout=w.Layout(width="98%", height="70px"))
        self.graph = w.HTML()
        self.options = TeamOptions(on_change=self._form_changed)
        """Termination, max turns, allowed/disallowed graph, the manager's system message."""
        self.cards_box = w.VBox()
        self.add_role = w.Dropdown(options=list(ROLES),
                                   value="assistant", description="new agent")
        self.add_button = w.Button(description="Add agent", icon="plus")
        self.add_button.on_click(lambda _b: self.add_agent(self.add_role.value))
        self.team_errors = w.HTML()
        self.model_rows: list[ModelRow] = []
        self.models_box = w.VBox()
        self.add_model_button = w.Button(description="Add model", icon="plus")
        self.add_model_button.on_click(lambda _b: self.add_model())
        models = w.VBox([w.HTML("<b>models</b> (<code>default</code>: agentnb's default; keys are read from the "
                                "environment variable named here, never saved)"), self.models_box,
                         self.add_model_button])
        form = w.VBox([self.label, self.kind, models, w.HBox([self.initiator, self.recipient]),
                       w.HBox([self.selection, self.max_round, self.manager_model]), self.transitions, self.graph,
                       self.options, self.team_errors, self.cards_box, w.HBox([self.add_role, self.add_button])])
        self.json_text = w.Textarea(layout=w.Layout(width="98%", height="360px"))
        self.json_apply = w.Button(description="Apply JSON")
        self.json_apply.on_click(lambda _b: self.apply_json())
        self.json_errors = w.HTML()
        self.tabs = w.Tab([form, w.VBox([self.json_text, self.json_apply, self.json_errors])])
        self.tabs.set_title(0, "Team")
        self.tabs.set_title(1, "JSON")
        self.gallery_pick = w.Dropdown(options=gallery_names(), description="gallery")
        self.new_button = w.Button(description="New from gallery")
        self.new_button.on_click(lambda _b: self.load(self.gallery_pick.value))
        self.path = w.Text(value="team.json", description="file")
        self.save_button = w.Button(description="Save", icon="save")
        self.load_button = w.Button(description="Load", icon="folder-open")
        self.save_button.on_click(lambda _b: self.save())
        self.load_button.on_click(lambda _b: self.load(Path(self.path.value)))
        self.status = w.HTML()
        self.risk = w.HTML()
        """A warning when an agent runs code or tool calls without asking anyone."""
        self.task = w.Textarea(description="task", layout=w.Layout(width="98%", height="60px"))
        self.run_button = w.Button(description="Run", icon="play", button_style="success")
        self.run_button.on_click(lambda _b: self.run())
        self.playground = w.VBox()
        """Where Run puts its ChatPanel."""
        for widget in (self.label, self.kind, self.initiator, self.recipient, self.selection, self.max_round,
                       self.manager_model, self.transitions, self.task):
            widget.observe(lambda _c: self._form_changed(), names="value")
        super().__init__([w.HBox([self.gallery_pick, self.new_button]),
                          w.HBox([self.path, self.save_button, self.load_button]), self.tabs, self.status,
                          self.risk, self.task, self.run_button, self.playground])

    # ------------------------------------------------------------------ spec <-> form

    def load(self, source: Any) -> None:
        """Show a spec: a gallery name, a path, JSON text, a dict or a TeamSpec."""
        from .catalog import gallery_names, gallery_spec

        try:
            if isinstance(source, str) and source in gallery_names():
                spec = gallery_spec(source)
            else:
                from .build import _spec_from

                spec = source if isinstance(source, TeamSpec) else _spec_from(source)
        except Exception as exc:  # a bad file: say why, keep the current team
            self.status.value = f"<b>could not load</b>: {escape(type(exc).__name__)}: {escape(str(exc))}"
            return
        self._show(spec.to_dict())
        self.status.value = f"loaded {escape(spec.label or 'team')}"

    def _show(self, data: dict[str, Any]) -> None:
        self._loading = True
        try:
            self.data = copy.deepcopy(data)
            cfg = self.data.setdefault("config", {})
            self.label.value = self.data.get("label") or ""
            self.kind.value = cfg.get("kind", "pair")
            group = cfg.get("group") or {}
            self.selection.value = group.get("selection_method", "round_robin")
            self.max_round.value = group.get("max_round", 10)
            self.transitions.value = "\n".join(f"{a}: {', '.join(bs)}"
                                               for a, bs in (group.get("transitions") or {}).items())
            self.task.value = cfg.get("task") or ""
            self.options.load(cfg)
            self.model_rows = [self._model_row(n, c) for n, c in (cfg.get("models") or {}).items()]
            self.models_box.children = self.model_rows
            self.cards = [self._card(c) for c in cfg.get("agents", [])]
            self.cards_box.children = self.cards
            self._refresh_choices()
            self.initiator.value = cfg.get("initiator") if cfg.get("initiator") in self.initiator.options else None
            recipient = cfg.get("recipient")
            self.recipient.value = recipient if recipient in self.recipient.options else None
            manager = (group.get("manager") or {}).get("model")
            self.manager_model.value = manager if manager in self.manager_model.options else "(no model)"
        finally:
            self._loading = False
        self._sync()

    def _card(self, component: dict[str, Any]) -> AgentCard:
        return AgentCard(component, models=self._model_names(), tools=self.tool_choices, agents=self._agent_names(),
                         on_change=self._form_changed, on_duplicate=self.duplicate_agent,
                         on_remove=self.remove_agent)

    def _model_names(self) -> list[str]:
        return [row.name.value for row in self.model_rows if row.name.value]

    def _model_row(self, name: str, component: dict[str, Any]) -> ModelRow:
        return ModelRow(name, component, on_change=self._form_changed, on_remove=self.remove_model)

    def add_model(self, name: str = "") -> ModelRow:
        """A new model row (fill in its name, model and endpoint)."""
        taken = set(self._model_names())
        name, n = name or "model", 2
        base = name
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        row = self._model_row(name, {"config": {"model": "", "api_key_env": "OPENAI_API_KEY"}})
        self.model_rows.append(row)
        self.models_box.children = self.model_rows
        self._form_changed()
        return row

    def remove_model(self, row: ModelRow) -> None:
        self.model_rows.remove(row)
        self.models_box.children = self.model_rows
        row.close()
        self._form_changed()

    def _agent_names(self) -> list[str]:
        return [c.name.value for c in self.cards] if self.cards else [
            a["config"]["name"] for a in (self.data.get("config") or {}).get("agents", [])]

    def _refresh_choices(self) -> None:
        names = self._agent_names()
        loading, self._loading = self._loading, True
        for dropdown in (self.initiator, self.recipient):
            value = dropdown.value
            dropdown.options = names
            dropdown.value = value if value in names else None
        value = self.manager_model.value
        self.manager_model.options = ["(no model)", "default", *[m for m in self._model_names() if m != "default"]]
        self.manager_model.value = value if value in self.manager_model.options else "(no model)"
        for card in self.cards:
            card.set_choices(models=self._model_names(), tools=self.tool_choices, agents=names)
        self._loading = loading
        group = self.kind.value == "group"
        self.recipient.layout.display = "none" if group else None
        for widget in (self.selection, self.max_round, self.manager_model, self.transitions, self.graph):
            widget.layout.display = None if group else "none"
        self.options.show_for(self.kind.value)

    def form_data(self) -> dict[str, Any]:
        """The spec dict the form describes (fields the form does not show are kept from the loaded spec)."""
        data = copy.deepcopy(self.data)
        data.update(provider="agentnb.Team", component_type="team", version=1, label=self.label.value or None)
        cfg = data.setdefault("config", {})
        cfg["kind"] = self.kind.value
        cfg["models"] = {row.name.value: row.to_component() for row in self.model_rows}
        cfg["agents"] = [card.to_component() for card in self.cards]
        names = [a["config"]["name"] for a in cfg["agents"]]
        cfg["initiator"] = self.initiator.value or (names[0] if names else "")
        cfg["task"] = self.task.value or None
        if self.kind.value == "pair":
            cfg["group"] = None
            cfg["recipient"] = self.recipient.value or next((n for n in names if n != cfg["initiator"]), None)
        else:
            group = dict(cfg.get("group") or {})
            members = [n for n in names if n != cfg["initiator"] or n in (group.get("members") or names)]
            group.update(members=members, selection_method=self.selection.value, max_round=self.max_round.value,
                         transitions=self._transitions(), manager=dict(group.get("manager") or {}))
            group["manager"]["model"] = None if self.manager_model.value == "(no model)" else self.manager_model.value
            cfg["group"], cfg["recipient"] = group, None
        self.options.apply(cfg)
        return data

    def _transitions(self) -> dict[str, list[str]] | None:
        graph: dict[str, list[str]] = {}
        for line in self.transitions.value.splitlines():
            if ":" in line:
                source, _, targets = line.partition(":")
                graph[source.strip()] = [t.strip() for t in targets.split(",") if t.strip()]
        return graph or None

    def _form_changed(self) -> None:
        if self._loading:
            return
        for card in self.cards:
            card.component = card.to_component()  # the cards' edits, before their choices are refreshed
        self._refresh_choices()
        self.data = self.form_data()
        self._sync()

    def _sync(self) -> None:
        """Validate ``self.data``; update the JSON tab, the error labels and the graph picture."""
        self.json_text.value = json.dumps(self.data, indent=2)
        self.validate()
        self._draw_graph()
        self.risk.value = risk_note(self.spec)

    def validate(self) -> bool:
        try:
            self.spec = parse_team(self.data)
            self.errors = []
        except pydantic.ValidationError as exc:
            self.spec = None
            self.errors = exc.errors(include_url=False)
        self._show_errors()
        return self.spec is not None

    def _show_errors(self) -> None:
        per_card: dict[int, list[str]] = {}
        team: list[str] = []
        lines = []
        for error in self.errors:
            loc = [str(p) for p in error["loc"]]
            message = escape(error["msg"])
            lines.append(f"<li><code>{escape('.'.join(loc) or '(spec)')}</code>: {message}</li>")
            if loc[:2] == ["config", "agents"] and len(loc) > 2 and loc[2].isdigit():
                field = ".".join(loc[4:]) or "agent"
                per_card.setdefault(int(loc[2]), []).append(f"<code>{escape(field)}</code>: {message}")
            else:
                named = re.search(r"agent '([^']+)'", error["msg"])  # a cross-field check about one agent
                index = next((i for i, c in enumerate(self.cards) if named and c.name.value == named.group(1)), None)
                if index is not None:
                    per_card.setdefault(index, []).append(message)
                else:
                    field = ".".join(loc[1:] if loc[:1] == ["config"] else loc)
                    team.append(f"<code>{escape(field)}</code>: {message}" if field else message)
        red = '<div style="color:#b00020">{}</div>'
        self.json_errors.value = red.format(f"<ul>{''.join(lines)}</ul>") if lines else "✓ valid"
        self.team_errors.value = red.format("<br>".join(team)) if team else ""
        for i, card in enumerate(self.cards):
            card.errors.value = red.format("<br>".join(per_card.get(i, []))) if per_card.get(i) else ""

    def _draw_graph(self) -> None:
        if self.kind.value != "group":
            self.graph.value = ""
            return
        from ..groupchat.graph import transitions_svg

        cfg = self.data.get("config", {})
        members = (cfg.get("group") or {}).get("members") or []
        listed = self._transitions()
        if listed and self.options.transitions_type.value == "disallowed":  # draw what may happen
            edges = {m: [n for n in members if n != m and n not in listed.get(m, [])] for m in members}
        else:
            edges = listed or {m: [n for n in members if n != m] for m in members}
        self.graph.value = transitions_svg(members, edges, size=260)

    def apply_json(self) -> bool:
        """Take the JSON tab's text as the spec (errors are shown; the form follows when it is valid JSON)."""
        try:
            data = json.loads(self.json_text.value)
        except json.JSONDecodeError as exc:
            self.json_errors.value = f'<div style="color:#b00020">JSON: {escape(str(exc))}</div>'
            return False
        text = self.json_text.value
        self._show(data)
        if self.spec is None:
            self.json_text.value = text  # keep the person's text (and formatting) while it has errors
        return self.spec is not None

    # ------------------------------------------------------------------ agents

    def add_agent(self, role: str = "assistant") -> AgentCard:
        taken = set(self._agent_names())
        name, n = role, 2
        while name in taken:
            name, n = f"{role}_{n}", n + 1
        card = self._card(role_component(role, name))
        self.cards.append(card)
        self.cards_box.children = self.cards
        self._form_changed()
        return card

    def duplicate_agent(self, card: AgentCard) -> AgentCard:
        component = card.to_component()
        taken = set(self._agent_names())
        base, n = component["config"]["name"], 2
        while f"{base}_{n}" in taken:
            n += 1
        component["config"]["name"] = component["label"] = f"{base}_{n}"
        copy_card = self._card(component)
        self.cards.insert(self.cards.index(card) + 1, copy_card)
        self.cards_box.children = self.cards
        self._form_changed()
        return copy_card

    def remove_agent(self, card: AgentCard) -> None:
        self.cards.remove(card)
        self.cards_box.children = self.cards
        card.close()
        self._form_changed()

    # ------------------------------------------------------------------ save / run

    def save(self, path: str | Path | None = None) -> Path | None:
        if path is not None:
            self.path.value = str(path)
        if not self.validate():
            self.status.value = "<b>not saved</b>: fix the errors first (see the JSON tab)"
            return None
        target = self.spec.save(self.path.value)  # type: ignore[union-attr]
        self.status.value = f"saved {escape(str(target))}"
        return target

    def run(self) -> Any:
        """Build the team and run the task in a ChatPanel below (a task on the running loop, else to the end)."""
        from ..notebook.panel import ChatPanel
        from ._switch import record_history, run_context
        from .build import load_team

        if not self.validate():
            self.status.value = "<b>cannot run</b>: fix the errors first (see the JSON tab)"
            return None
        try:
            team = load_team(self.spec, models=self.models_override)  # type: ignore[arg-type]
        except Exception as exc:  # a tool that does not import, a bad model config: show it, do not crash
            self.status.value = f"<b>cannot run</b>: {escape(type(exc).__name__)}: {escape(str(exc))}"
            return None
        panel = ChatPanel(self.spec.label or "studio")  # type: ignore[union-attr]
        self.panel = panel
        self.playground.children = [panel]
        task = self.task.value or None

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None

        async def go() -> Any:
            from ..views import shown_in

            # the playground's panel shows the chat (no loop: nobody can click, the hooks answer)
            with record_history(), team.recording(), run_context(source="studio"), shown_in(panel):
                result = await team.initiator.a_initiate_chat(team.recipient, **team.chat_kwargs(task))
            self.last_result = result
            return result

        if loop is None:  # plain Python: run to the end here
            from .._aio import run_sync

            self.status.value = "running..."
            result = run_sync(go())
            self.status.value = f"finished: {escape(result.stop_reason)}"
            return result
        self.run_task = asyncio.ensure_future(go())
        panel.on_stop(self.run_task.cancel)
        self.run_task.add_done_callback(self._finished)
        self.status.value = "running..."
        return self.run_task

    def _finished(self, task: asyncio.Future) -> None:
        if task.cancelled():
            self.status.value = "stopped"
        elif task.exception() is not None:
            exc = task.exception()
            self.status.value = f"<b>error</b>: {escape(type(exc).__name__)}: {escape(str(exc))}"
        else:
            self.status.value = f"finished: {escape(task.result().stop_reason)}"
