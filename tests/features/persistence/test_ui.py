"""PersistenceStatus: what it shows for each state, and its Lock button."""

from __future__ import annotations

import os

import pytest

import features.persistence as persistence_pkg

pytestmark = pytest.mark.anyio


def panel_for(booted):
    return persistence_pkg.feature.ui["PersistenceStatus"]()(booted.app)


async def test_closed_then_open_then_locked_by_the_button(boot, key):
    b = await boot()
    panel = panel_for(b)
    assert panel.rows["State"] == "closed" and panel.rows["Profile"] == "default"
    assert panel.rows["Size"] == "\u2014" and panel.lock_button.disabled
    await b.service.open(key, "alice")
    await b.settle()
    assert panel.rows["State"] == "open" and panel.rows["Profile"] == "alice"
    assert panel.rows["Path"] == str(b.service.path)
    assert panel.rows["Size"].endswith("KiB") and not panel.lock_button.disabled
    assert repr(panel) == "PersistenceStatus(profile='alice', state='open')"
    panel.lock_button.click()
    await b.settle()
    assert b.service.state == "closed" and panel.rows["State"] == "closed"
    panel.close()


async def test_an_error_is_shown_with_its_reason_and_themed_colours(boot, key):
    b = await boot()
    panel = panel_for(b)
    await b.service.open(key, "alice")
    await b.service.close()
    with pytest.raises(Exception):
        await b.service.open(os.urandom(32), "alice")
    await b.settle()
    assert panel.rows["State"] == "error"
    assert panel.rows["Error"] == "the key does not unlock this profile"
    assert "var(--jp-error-color1" in panel.table.value and "var(--jp-ui-font-color1" in panel.table.value
    assert key.hex() not in panel.table.value
    assert not panel.lock_button.disabled  # Lock clears the error
    panel.close()


async def test_the_panel_escapes_what_it_shows(boot, config):
    b = await boot()
    panel = panel_for(b)
    b.actor.machine.profile = "<b>x</b>"
    panel.refresh()
    assert "&lt;b&gt;" in panel.table.value and "<b>x" not in panel.table.value
    panel.close()


def test_the_panel_needs_an_app_or_actor():
    with pytest.raises(TypeError, match="needs a booted App with the persistence feature"):
        persistence_pkg.feature.ui["PersistenceStatus"]()(object())
