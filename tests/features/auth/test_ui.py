"""LoginForm and SignupForm drive the service: set the widgets, click, await the event."""

from __future__ import annotations

import pytest

import features.auth as auth_pkg

from .conftest import PASSPHRASE, WRONG, Clock

pytestmark = pytest.mark.anyio


def forms(booted):
    return auth_pkg.feature.ui["SignupForm"]()(booted.app), auth_pkg.feature.ui["LoginForm"]()(booted.app)


async def test_sign_up_then_log_in_through_the_forms(boot):
    b = await boot()
    signup, login = forms(b)
    assert login.profile.options == () and "sign up first" in login.message_text
    signup.profile.value, signup.display_name.value = "alice", "Alice"
    signup.passphrase.value = signup.confirm.value = PASSPHRASE
    signup.signup_button.click()
    assert signup.signup_button.disabled and signup.passphrase.value == "" and signup.confirm.value == ""
    success = await b.wait_for("AUTH_SUCCESS")
    await b.settle()
    assert success["profile"] == "alice" and success["user_id"] == b.identity.user_id
    assert not signup.signup_button.disabled and signup.message_kind == "ok"
    assert login.profile.options == ("alice",)  # the new profile appears in the login form

    await b.service.log_out()
    await b.settle()
    assert "Logged out of alice" in login.message_text
    login.profile.value = "alice"
    login.passphrase.value = PASSPHRASE
    login.login_button.click()
    assert login.login_button.disabled and login.passphrase.value == ""
    assert (await b.wait_for("AUTH_SUCCESS", 2))["user_id"] == success["user_id"]
    await b.settle()
    assert login.message_text == "Unlocked alice." and not login.login_button.disabled
    signup.close()
    login.close()


async def test_a_wrong_passphrase_shows_the_countdown_and_clears_the_field(boot):
    b = await boot()
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.service.log_out()
    clock = Clock()
    b.service.clock = clock
    _, login = forms(b)
    login.profile.value = "alice"
    for attempt in (1, 2):
        login.passphrase.value = WRONG
        login.login_button.click()
        assert login.passphrase.value == ""
        await b.wait_for("AUTH_FAILED", attempt)
        await b.settle()
        clock.advance(0.5)
    assert login.message_text.startswith("Wrong passphrase. Try again in 1 s")
    assert login.login_button.disabled  # until the delay has passed
    assert "var(--jp-error-color1" in login.message.value
    login.close()


@pytest.mark.parametrize(("values", "message"), [
    (("", "Alice", PASSPHRASE, PASSPHRASE), "Choose a profile name."),
    (("../x", "Alice", PASSPHRASE, PASSPHRASE), "Profile name: use 1-64 letters"),
    (("alice", "  ", PASSPHRASE, PASSPHRASE), "Type the name your contacts will see."),
    (("alice", "Alice", "short", "short"), "Passphrase is 5 characters; use at least 12"),
    (("alice", "Alice", PASSPHRASE, PASSPHRASE + "!"), "The two passphrases differ"),
])
async def test_sign_up_validation_messages(boot, values, message):
    b = await boot()
    signup, _ = forms(b)
    signup.profile.value, signup.display_name.value, signup.passphrase.value, signup.confirm.value = values
    signup.signup_button.click()
    assert signup.message_text.startswith(message), signup.message_text
    assert signup.passphrase.value == "" and signup.confirm.value == "" and not signup.signup_button.disabled
    await b.settle()
    assert b.of("AUTH_FAILED") == [] and b.service.list_profiles() == []
    signup.close()


async def test_an_existing_profile_is_named_in_the_form(boot):
    b = await boot()
    await b.service.sign_up("alice", "Alice", PASSPHRASE)
    await b.service.log_out()
    signup, login = forms(b)
    signup.profile.value, signup.display_name.value = "alice", "Mallory"
    signup.passphrase.value = signup.confirm.value = PASSPHRASE
    signup.signup_button.click()
    assert "already exists" in signup.message_text
    login.profile.value = "alice"
    login.login_button.click()
    assert login.message_text == "Type the profile's passphrase."
    signup.close()
    login.close()


def test_the_forms_need_an_app_or_actor():
    with pytest.raises(TypeError, match="LoginForm needs a booted App"):
        auth_pkg.feature.ui["LoginForm"]()(object())
