"""Shared fixtures: the generated fixture world, written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from webtext.world.spec import World


@pytest.fixture(scope="session")
def world() -> World:
    return World(seed=0)


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory, world: World) -> Path:
    """The world's dumps (every format) and world.json, written once."""
    from webtext.world.dumps import write_world

    out = tmp_path_factory.mktemp("world")
    write_world(world, out)
    return out
