"""Test infrastructure shared by the suite (not tests): real Jupyter servers and Chromium, a notebook-kernel
driver, and the pieces of hostile-model scenarios.

Imported as ``support.<module>``: pytest's default ``prepend`` import mode puts ``tests/`` on ``sys.path``
(``tests/`` has no ``__init__.py``), both for ``pytest tests/...`` and ``./dev test``.
"""

__all__: list[str] = []
