"""The billing provider both conformance suites talk to, one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance._provider import Provider, provider


@pytest.fixture(scope="module")
def llm() -> Iterator[Provider]:
    with provider() as p:
        yield p
