"""Shared fixtures of the adversarial suite: approvers that record, one real kernel per module."""

from __future__ import annotations

import pytest
from support.faults import RecordingApprover


@pytest.fixture
def rejecting():
    """An approver that rejects everything and records what it was asked."""
    return RecordingApprover(False)


@pytest.fixture
def approving():
    """An approver that approves everything and records what it was asked."""
    return RecordingApprover(True)


@pytest.fixture(scope="module")
def kernel_executor(tmp_path_factory):
    """One real Jupyter kernel for the whole module (the agents do not own it, so chats leave it running)."""
    from agentnb.coding.kernel import KernelExecutor

    executor = KernelExecutor(tmp_path_factory.mktemp("kernel"), timeout=30)
    executor.start()
    yield executor
    executor.close()
