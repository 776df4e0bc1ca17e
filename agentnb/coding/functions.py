"""User functions made available to executed code (AutoGen 0.2's ``autogen.coding.func_with_reqs``).

    @with_requirements(python_packages=["pandas"], global_imports=["pandas"])
    def load(path: str) -> "pandas.DataFrame":
        return pandas.read_csv(path)

    executor = LocalCommandLineCodeExecutor(work_dir="coding", functions=[load])
    # model-written code can now do: from functions import load

The functions' source (plus their imports) is written to ``<work_dir>/<functions_module>.py``.
"""

from __future__ import annotations

import functools
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from typing_extensions import ParamSpec

T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class Alias:
    """``import name as alias``."""

    name: str
    alias: str


@dataclass
class ImportFromModule:
    """``from module import a, b as c`` (``imports`` holds names or :class:`Alias`)."""

    module: str
    imports: list[str | Alias]


Import = str | ImportFromModule | Alias


def import_statement(im: Import) -> str:
    """The Python import line for one requirement."""
    if isinstance(im, str):
        return f"import {im}"
    if isinstance(im, Alias):
        return f"import {im.name} as {im.alias}"
    names = ", ".join(i if isinstance(i, str) else f"{i.name} as {i.alias}" for i in im.imports)
    return f"from {im.module} import {names}"


@dataclass
class FunctionWithRequirements(Generic[T, P]):
    """A function plus the packages and imports its source needs; calling it calls the function."""

    func: Callable[P, T]
    python_packages: list[str] = field(default_factory=list)
    global_imports: list[Import] = field(default_factory=list)

    @classmethod
    def from_callable(cls, func: Callable[P, T], python_packages: list[str] | None = None,
                      global_imports: list[Import] | None = None) -> FunctionWithRequirements[T, P]:
        return cls(func=func, python_packages=list(python_packages or []),
                   global_imports=list(global_imports or []))

    @staticmethod
    def from_str(func: str, python_packages: list[str] | None = None,
                 global_imports: list[Import] | None = None) -> FunctionWithRequirementsStr:
        return FunctionWithRequirementsStr(func, python_packages or [], global_imports or [])

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.func(*args, **kwargs)


class FunctionWithRequirementsStr:
    """A function given as source text (exactly one ``def``); not callable directly."""

    def __init__(self, func: str, python_packages: list[str] | None = None,
                 global_imports: list[Import] | None = None):
        self.func = textwrap.dedent(func)
        self.python_packages = list(python_packages or [])
        self.global_imports = list(global_imports or [])
        namespace: dict[str, Any] = {"__name__": "func_module"}
        try:
            # the user's own source text (not model output), as in 0.2
            exec(compile(self.func, "<function source>", "exec", dont_inherit=True), namespace)
        except Exception as exc:
            raise ValueError(f"Could not compile function: {exc}") from exc
        found = [(n, v) for n, v in namespace.items()
                 if inspect.isfunction(v) and getattr(v, "__module__", None) == "func_module"]
        if len(found) != 1:
            raise ValueError("The string must contain exactly one function")
        self._func_name, self._compiled_func = found[0]

    @property
    def func_name(self) -> str:
        """The name of the function the source defines."""
        return self._func_name

    @property
    def compiled_func(self) -> Callable[..., Any]:
        """The function the source defines, compiled (for its signature and docstring)."""
        return self._compiled_func

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("String based function with requirement objects are not directly callable")


def with_requirements(python_packages: list[str] | None = None, global_imports: list[Import] | None = None
                      ) -> Callable[[Callable[P, T]], FunctionWithRequirements[T, P]]:
    """Decorator: attach ``python_packages`` (installed before first use) and ``global_imports``."""

    def wrap(func: Callable[P, T]) -> FunctionWithRequirements[T, P]:
        wrapped = FunctionWithRequirements.from_callable(func, python_packages, global_imports)
        functools.update_wrapper(wrapped, func)
        return wrapped

    return wrap


UserFunction = FunctionWithRequirements[Any, Any] | FunctionWithRequirementsStr | Callable[..., Any]


def function_name(func: UserFunction) -> str:
    if isinstance(func, FunctionWithRequirementsStr):
        return func.func_name
    if isinstance(func, FunctionWithRequirements):
        return func.func.__name__
    return func.__name__


def function_source(func: UserFunction) -> str:
    """The function's source without its decorators."""
    if isinstance(func, FunctionWithRequirementsStr):
        return func.func
    target = func.func if isinstance(func, FunctionWithRequirements) else func
    try:
        source = textwrap.dedent(inspect.getsource(target))
    except (OSError, TypeError) as exc:
        raise ValueError(f"the source of function {function_name(func)!r} cannot be read ({exc}); "
                         "define it in a file or pass FunctionWithRequirements.from_str(source)") from None
    lines = source.splitlines(keepends=True)
    while lines and lines[0].lstrip().startswith("@"):
        lines.pop(0)  # a decorator spanning several lines is not supported (as in 0.2)
    return "".join(lines)


def build_functions_module(funcs: list[UserFunction]) -> str:
    """Source of the module that holds ``funcs``: their imports first, then each function."""
    imports: list[str] = []
    for func in funcs:
        if isinstance(func, FunctionWithRequirements | FunctionWithRequirementsStr):
            for im in func.global_imports:
                line = import_statement(im)
                if line not in imports:
                    imports.append(line)
    return "\n".join(imports) + "\n\n" + "".join(function_source(f) + "\n\n" for f in funcs)


def required_packages(funcs: list[UserFunction]) -> list[str]:
    packages: list[str] = []
    for func in funcs:
        if isinstance(func, FunctionWithRequirements | FunctionWithRequirementsStr):
            packages.extend(p for p in func.python_packages if p not in packages)
    return packages


def to_stub(func: UserFunction) -> str:
    """``def name(signature):`` with the docstring and ``...``: how the model is shown a function."""
    if isinstance(func, FunctionWithRequirementsStr):
        return to_stub(func.compiled_func)
    target = func.func if isinstance(func, FunctionWithRequirements) else func
    stub = f"def {target.__name__}{inspect.signature(target)}:\n"
    if target.__doc__:
        stub += textwrap.indent('"""' + textwrap.dedent(target.__doc__) + '"""', "    ") + "\n"
    return stub + "    ..."
