"""A US opt-out carried out end to end: no identity challenge, marketing stopped at Luma-Flux's
processors (its emulators), the advertising partners left to staff."""

from __future__ import annotations

import pytest
from sqlmodel import select

from dsar.enums import Channel, RequestKind
from dsar.models import ManualTask, Notice, Request, RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.settings import get_settings
from dsar.store import session_scope
from sandbox import BOTH_SHOPS, MARIA_SECOND_SHOP, RunningShop, describe_shops
from tests.flows.conftest import run
from tests.mailsink import Inbox

pytestmark = pytest.mark.integration


@pytest.fixture
def luma_env(
    prefect_api: None,
    sandbox_shops: dict[str, RunningShop],
    smtp: tuple[Inbox, str],
    monkeypatch: pytest.MonkeyPatch,
) -> RunningShop:
    """The engine pointed at both shops' emulators; Luma-Flux's is returned."""
    _, url = smtp
    for key, value in describe_shops(sandbox_shops)["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DSAR_SMTP_URL", url)
    monkeypatch.setenv("DSAR_ASYNC_WAIT_SECONDS", "15")
    get_settings.cache_clear()
    return sandbox_shops["luma-flux"]


def test_opt_out_runs_unverified_and_stops_marketing_at_luma_flux(luma_env: RunningShop) -> None:
    """11 CCR § 7026: no verification; Klaviyo suppressed; the partners become a staff task."""
    with session_scope() as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller="luma-flux", kind=RequestKind.OPT_OUT, channel=Channel.WEB_PAGE,
                email=BOTH_SHOPS.email, residence_country="US", residence_subdivision="CA",
            ),
            register=register_for("luma-flux"),
            actor="test",
        )  # fmt: skip
        request_id = request.id
    assert run(request_id) in {"awaiting_manual", "completed"}
    box = luma_env.sandbox
    (profile,) = box.klaviyo.find("email", BOTH_SHOPS.email)
    assert profile.id == MARIA_SECOND_SHOP.klaviyo_profile_id
    assert profile.suppressions
    with session_scope() as session:
        stored = session.get(Request, request_id)
        assert stored is not None
        assert stored.verified_at is None
        purposes = {n.purpose for n in session.exec(select(Notice))}
        assert "verification" not in purposes
        tasks = session.exec(select(ManualTask).where(ManualTask.request_id == request_id)).all()
    assert [t.recipient for t in tasks] == ["advertising_partners"]
