"""The settings state machine: the seed's loading -> idle <-> saving | testing, and error.

Loading, saving and testing are invoked work (cancelled if their state is left); results come
back as ``done_invoke_<state>``, failures as ``error_execution``. python-statemachine drops an
event that has no transition from the current state, so a change or test asked for while the
machine is busy is validated at once and queued in ``pending``; idle takes the next job through
an eventless transition before any later event is handled, which keeps requests in order.
"""

from __future__ import annotations

from typing import Any

from statemachine import State
from statemachine.transition_list import TransitionList

from chatkernel import Machine

from . import events as ev
from .errors import InvalidSettingError, SettingsError
from .service import SettingsService, UrlTestResult

__all__ = ["SettingsMachine"]

#: command -> (setting it changes, keyword carrying the value; None: back to the default)
CHANGES: dict[str, tuple[str, str | None]] = {
    "SET_THEME": ("theme", "theme"),
    "SET_NOTIFICATIONS": ("notifications", "enabled"),
    "SET_SIGNALING_URL": ("signaling_url", "url"),
    "RESET_SIGNALING_URL": ("signaling_url", None),
}


def _change(idle: State, saving: State, busy: tuple[State, ...], error: State) -> TransitionList:
    """One change command: saved from idle, queued while busy, refused (with a reason) otherwise."""
    transitions = idle.to(saving, cond="change_ok", on="start_change")
    for state in busy:
        transitions |= state.to(None, cond="change_ok", on="defer")
    for state in (idle, *busy, error):
        transitions |= state.to(None, on="refuse_change")
    return transitions


class SettingsMachine(Machine):
    loading = State(initial=True)
    idle = State()
    saving = State()
    testing = State()
    error = State()

    SET_THEME = _change(idle, saving, (loading, saving, testing), error)
    SET_NOTIFICATIONS = _change(idle, saving, (loading, saving, testing), error)
    SET_SIGNALING_URL = _change(idle, saving, (loading, saving, testing), error)
    RESET_SIGNALING_URL = _change(idle, saving, (loading, saving, testing), error)
    TEST_SIGNALING_URL = (idle.to(testing, on="start_test") | loading.to(None, on="defer")
                          | saving.to(None, on="defer") | testing.to(None, on="defer")
                          | error.to(None, on="refuse_test"))
    RETRY = error.to(loading)
    APP_READY = (loading.to(None, on="note_ready") | error.to(None, on="note_ready")
                 | idle.to(None, on="announce_ready") | saving.to(None, on="announce_ready")
                 | testing.to(None, on="announce_ready"))

    idle.to(saving, cond="next_is_change", on="take_next")  # eventless: queued work resumes in order
    idle.to(testing, cond="next_is_test", on="take_next")

    done_invoke_loading = loading.to(idle, on="loaded")
    done_invoke_saving = saving.to(idle, on="saved")
    done_invoke_testing = testing.to(idle, on="tested")
    error_execution = (loading.to(error, on="load_failed") | saving.to(idle, on="save_failed")
                       | testing.to(idle, on="test_failed"))

    snapshot_fields = ("settings", "last_test", "last_error", "job", "pending")

    def __init__(self, service: SettingsService, **kw: Any):
        self.service = service
        self.last_test: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.job: dict[str, Any] | None = None
        self.pending: list[dict[str, Any]] = []
        self.app_ready = False
        super().__init__(**kw)

    # ------------------------------------------------------------------ context
    @property
    def settings(self) -> dict[str, Any]:
        return self.service.settings

    @settings.setter
    def settings(self, values: dict[str, Any]) -> None:
        self.service.replace(values)

    @property
    def busy(self) -> bool:
        """True until the machine rests (idle or error) with nothing queued and no step running.

        Invoked work reports back from its own task, outside the actor's mailbox, so the actor
        looking idle does not mean this machine is done.
        """
        return self.is_stepping() or bool(self.pending) or not (self.idle.is_active or self.error.is_active)

    def is_busy(self) -> bool:
        """What ``Actor.settle()`` waits for: a rest in idle or error with nothing queued."""
        return self.busy

    def _requested(self, event: Any, kwargs: dict[str, Any]) -> tuple[str, Any]:
        """The (key, validated value) a change command asks for."""
        key, arg = CHANGES[str(event)]
        if arg is None:
            return key, None
        if arg not in kwargs:
            raise InvalidSettingError(key, f"{event} needs a {arg!r} argument")
        return key, self.service.validate(key, kwargs[arg])

    # ------------------------------------------------------------------ guards
    def change_ok(self, event: Any, **kwargs: Any) -> bool:
        try:
            self._requested(event, kwargs)
        except SettingsError:
            return False
        return True

    def next_is_change(self) -> bool:
        return bool(self.pending) and self.pending[0]["kind"] == "change"

    def next_is_test(self) -> bool:
        return bool(self.pending) and self.pending[0]["kind"] == "test"

    # ------------------------------------------------------------------ commands
    def start_change(self, event: Any, **kwargs: Any) -> None:
        key, value = self._requested(event, kwargs)
        self.job = {"kind": "change", "key": key, "value": value}

    def start_test(self, url: str | None = None, **_: Any) -> None:
        self.job = {"kind": "test", "url": url}

    def defer(self, event: Any, **kwargs: Any) -> None:
        if str(event) == "TEST_SIGNALING_URL":
            self.pending.append({"kind": "test", "url": kwargs.get("url")})
        else:
            key, value = self._requested(event, kwargs)
            self.pending.append({"kind": "change", "key": key, "value": value})

    def take_next(self) -> None:
        self.job = self.pending.pop(0)

    def refuse_change(self, event: Any, **kwargs: Any) -> None:
        key = CHANGES[str(event)][0]
        if self.error.is_active:
            reason = self._not_loaded()
        else:
            try:
                self._requested(event, kwargs)
                reason = "refused"  # pragma: no cover - only reached when change_ok said no
            except SettingsError as exc:
                reason = getattr(exc, "reason", str(exc))
        self.emit(ev.SETTINGS_SAVE_FAILED, {"key": key, "reason": reason})

    def refuse_test(self, url: str | None = None, **_: Any) -> None:
        target = url if url is not None else self.service.effective_signaling_url
        self._report_test(UrlTestResult(str(target), False, reason=f"not tested: {self._not_loaded()}"))

    def _not_loaded(self) -> str:
        return f"settings could not be loaded ({self.last_error}); fix the file, then RETRY"

    # ------------------------------------------------------------------ app lifecycle
    def note_ready(self, **_: Any) -> None:
        self.app_ready = True

    def announce_ready(self, **_: Any) -> None:
        self.app_ready = True
        self._announce()

    def _announce(self) -> None:
        self.emit(ev.SIGNALING_URL_CHANGED, {"url": self.service.effective_signaling_url,
                                             "custom": self.service.custom_signaling_url,
                                             "allow_insecure_remote": self.service.allow_insecure_remote})

    # ------------------------------------------------------------------ invoked work
    async def on_invoke_loading(self, **_: Any) -> dict[str, Any]:
        return await self.service.load()

    async def on_invoke_saving(self, **_: Any) -> bool:
        job = self.job or {}
        return await self.service.save({**self.service.settings, job["key"]: job["value"]})

    async def on_invoke_testing(self, **_: Any) -> UrlTestResult:
        return await self.service.test_signaling_url((self.job or {}).get("url"))

    # ------------------------------------------------------------------ results
    def loaded(self, **_: Any) -> None:
        self.last_error = None
        self.emit(ev.SETTINGS_LOADED, {"settings": self.service.settings})
        if self.app_ready:
            self._announce()

    def load_failed(self, error: BaseException | None = None, **_: Any) -> None:
        self.last_error = str(error) if isinstance(error, SettingsError) else f"{type(error).__name__}: {error}"
        for job in self.pending:  # nothing waits on a machine that cannot save: say so now
            if job["kind"] == "change":
                self.emit(ev.SETTINGS_SAVE_FAILED, {"key": job["key"], "reason": self._not_loaded()})
            else:
                self.refuse_test(job["url"])
        self.pending.clear()

    def saved(self, **_: Any) -> None:
        job, self.job = self.job or {}, None
        before = self.service.effective_signaling_url
        self.service.apply(job["key"], job["value"])
        settings = self.service.settings
        self.emit(ev.SETTINGS_CHANGED, {"key": job["key"], "value": settings[job["key"]], "settings": settings})
        url = self.service.effective_signaling_url
        if url != before:
            if self.last_test is not None and self.last_test.get("url") != url:
                self.last_test = None
            self._announce()

    def save_failed(self, error: BaseException | None = None, **_: Any) -> None:
        job, self.job = self.job or {}, None
        reason = getattr(error, "reason", None) if isinstance(error, SettingsError) else None
        self.emit(ev.SETTINGS_SAVE_FAILED, {
            "key": job.get("key"), "reason": reason or f"{type(error).__name__}: {error}"})

    def tested(self, data: UrlTestResult | None = None, **_: Any) -> None:
        self.job = None
        if isinstance(data, UrlTestResult):
            self._report_test(data)

    def test_failed(self, error: BaseException | None = None, **_: Any) -> None:
        job, self.job = self.job or {}, None
        url = job.get("url") or self.service.effective_signaling_url
        self._report_test(UrlTestResult(str(url), False, reason=f"{type(error).__name__}: {error}"))

    def _report_test(self, result: UrlTestResult) -> None:
        self.last_test = result.as_payload()
        self.emit(ev.SIGNALING_URL_TESTED, result.as_payload())
