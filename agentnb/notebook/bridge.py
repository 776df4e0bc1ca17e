"""Move variables between the notebook and the agents' kernel (``--share``, ``pull``).

Share (notebook → agents): each variable is pickled by the notebook into a private folder
under the work dir and loaded by the agents' kernel; the model is told what each one is
(type, shape, DataFrame columns and dtypes, a few rows) via :func:`describe`.

Pull (agents → notebook) never unpickles: the agents' kernel runs code the model wrote, and
a pickle from there could run anything in the notebook, where the person's own secrets
live. Values come back in data-only formats: JSON for plain values (numbers, text,
lists, dicts), ``.npy`` without pickles for numpy arrays, and pandas' JSON ``table``
layout (schema + rows) for DataFrames and Series. Anything else is refused with a message.
"""

from __future__ import annotations

import json
import pickle
import secrets
import shutil
from pathlib import Path
from typing import Any

from ..coding.base import CodeBlock

__all__ = ["describe", "pull_from", "share_into"]

ROWS_SHOWN = 3


def describe(name: str, value: Any) -> str:
    """One Markdown bullet telling the model what ``name`` is."""
    kind = f"{type(value).__module__.split('.')[0]}.{type(value).__qualname__}".removeprefix("builtins.")
    shape = getattr(value, "shape", None)
    frame = hasattr(value, "dtypes") and hasattr(value, "columns") and hasattr(value, "head")
    if frame and shape is not None:  # a DataFrame
        dtypes = ", ".join(f"{c}: {t}" for c, t in value.dtypes.items())
        rows = value.head(ROWS_SHOWN).to_string()
        return (f"- `{name}`: {kind}, {shape[0]} rows × {shape[1]} columns; dtypes: {dtypes}; "
                f"first rows:\n```\n{rows}\n```")  # one line: a Markdown soft break would join them anyway
    if shape is not None:
        dtype = getattr(value, "dtype", "")
        return f"- `{name}`: {kind}, shape {tuple(shape)}" + (f", dtype {dtype}" if dtype != "" else "")
    if isinstance(value, (list, tuple, dict, set, str, bytes)):
        text = repr(value)
        return f"- `{name}`: {kind} of length {len(value)}: `{text[:80]}{'…' if len(text) > 80 else ''}`"
    return f"- `{name}`: {kind}: `{repr(value)[:80]}`"


def _folder(work_dir: str) -> Path:
    # absolute: the agents' kernel runs inside work_dir, so a relative path would point one level too deep
    folder = Path(work_dir).resolve() / f".agentnb-transfer-{secrets.token_hex(6)}"
    folder.mkdir(parents=True, mode=0o700)
    return folder


async def share_into(executor: Any, namespace: dict[str, Any], names: list[str], work_dir: str) -> str:
    """Copy ``names`` from ``namespace`` into ``executor``'s kernel; return the model's description."""
    missing = [n for n in names if n not in namespace]
    if missing:
        raise NameError(f"--share: no variable {', '.join(map(repr, missing))} in the notebook")
    folder = _folder(work_dir)
    try:
        for name in names:
            with open(folder / f"{name}.pkl", "wb") as fh:
                pickle.dump(namespace[name], fh, protocol=pickle.HIGHEST_PROTOCOL)
        loads = "\n".join(f"with open({str(folder / (n + '.pkl'))!r}, 'rb') as _f:\n    {n} = _pickle.load(_f)"
                          for n in names)
        result = await executor.a_execute(CodeBlock(code=f"import pickle as _pickle\n{loads}\ndel _f, _pickle",
                                                    language="python"))
        if result.exit_code != 0:
            raise RuntimeError(f"--share: the agents' kernel could not load the variables: {result.output[-500:]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return "\n".join(describe(n, namespace[n]) for n in names)


_DUMP = """
import json as _json
def _agentnb_dump(_value, _path):
    _kind = type(_value).__module__.split(".")[0] + "." + type(_value).__name__
    if _kind in ("pandas.DataFrame", "pandas.Series"):
        _value.to_json(_path + ".table.json", orient="table")
        return "table"
    if _kind == "numpy.ndarray":
        import numpy as _np
        if _value.dtype.hasobject:
            raise TypeError("a numpy array of Python objects cannot be pulled")
        _np.save(_path + ".npy", _value, allow_pickle=False)
        return "npy"
    with open(_path + ".json", "w", encoding="utf-8") as _f:
        _json.dump(_value, _f)
    return "json"
print("agentnb-pulled:" + _agentnb_dump({name}, {path!r}))
del _agentnb_dump, _json
"""


async def pull_from(executor: Any, name: str, work_dir: str) -> Any:
    """The value of ``name`` in ``executor``'s kernel, carried in a data-only format (no pickle)."""
    if not name.isidentifier():
        raise ValueError(f"pull: {name!r} is not a variable name")
    folder = _folder(work_dir)
    try:
        base = str(folder / "value")
        result = await executor.a_execute(CodeBlock(code=_DUMP.format(name=name, path=base), language="python"))
        marker = next((line.split(":", 1)[1].strip() for line in result.output.splitlines()
                       if line.startswith("agentnb-pulled:")), None)
        if result.exit_code != 0 or marker is None:
            raise ValueError(f"pull {name}: {result.output.strip()[-400:] or 'nothing came back'} "
                             "(only numbers, text, lists, dicts, numpy arrays and pandas objects can be pulled)")
        if marker == "table":
            import pandas as pd

            return pd.read_json(base + ".table.json", orient="table")
        if marker == "npy":
            import numpy as np

            return np.load(base + ".npy", allow_pickle=False)
        with open(base + ".json", encoding="utf-8") as fh:
            return json.load(fh)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
