"""Shared pieces of the adversarial suite: a hostile scripted model's code, approvers that record."""

from __future__ import annotations

import threading

import pytest

from agentnb.messages import ApprovalDecision, ApprovalRequest


class RecordingApprover:
    """A sync approver that answers ``answer`` and remembers every request (thread-safe)."""

    def __init__(self, answer: object = False) -> None:
        self.answer = answer
        self.requests: list[ApprovalRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: ApprovalRequest) -> object:
        with self._lock:
            self.requests.append(request)
        if isinstance(self.answer, bool):
            return ApprovalDecision(approved=self.answer, reason="" if self.answer else "not allowed")
        return self.answer

    @property
    def kinds(self) -> list[str]:
        return [r.kind for r in self.requests]


@pytest.fixture
def rejecting():
    """An approver that rejects everything and records what it was asked."""
    return RecordingApprover(False)


@pytest.fixture
def approving():
    """An approver that approves everything and records what it was asked."""
    return RecordingApprover(True)
