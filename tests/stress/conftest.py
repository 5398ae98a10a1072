"""Fixtures of the hardening suite: ``budget`` (short in make test, full in make stress) and ``figures``."""

from __future__ import annotations

import pytest

from tests.stress.figures import Figures, figures_dir, stress_mode


@pytest.fixture(scope="session")
def budget():
    """``budget(short=..., full=...)`` returns the size for this run (examples, kills, seconds...)."""
    is_full = stress_mode() == "full"

    def pick(*, short, full):
        return full if is_full else short

    return pick


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures(figures_dir())


@pytest.fixture(scope="session")
def ood_corpus(tmp_path_factory):
    """The out-of-domain corpus of issue 13 (ood_corpus.build), built once per run."""
    from tests.stress.ood_corpus import build

    return build(tmp_path_factory.mktemp("ood"))
