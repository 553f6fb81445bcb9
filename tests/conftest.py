"""Shared test setup: every test starts and ends in English (the language is process-wide state; a test that switches
to Chinese must not leak it into the next one)."""

from __future__ import annotations

import pytest

from gpuplan.i18n import set_language


@pytest.fixture(autouse=True)
def english():
    set_language("en")
    yield
    set_language("en")
