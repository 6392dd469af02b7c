"""Links from the engine's e-mails: the confirmation link shows a button whose CSRF-protected
post starts processing; downloads are served while valid; an unusable link looks the same."""

from __future__ import annotations

import hashlib
import re
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dsar.enums import Channel, RequestStatus
from dsar.export import PackageFile, issue_download
from dsar.identity import BY_CODE, BY_LINK, issue_challenge
from dsar.intake import CSRF_COOKIE
from dsar.models import Request, utcnow
from tests.factories import make_request
from tests.intake.conftest import RecordingDispatcher, TestClient

VIENNA = "Europe/Vienna"


def challenge(engine: Engine, language: str = "en", **kwargs: Any) -> tuple[str, str, str]:
    """A contact-form request waiting for its identity check: (request id, token, code)."""
    with Session(engine, expire_on_commit=False) as session:
        request = make_request(
            session, channel=Channel.CONTACT_FORM, received_at=utcnow(), language=language
        )
        _, token, code = issue_challenge(session, request=request, tz=VIENNA, **kwargs)
        session.commit()
        return request.id, token, code


def reload(engine: Engine, request_id: str) -> Request:
    with Session(engine) as session:
        request = session.get(Request, request_id)
        assert request is not None
        return request


def token_of(page: str) -> str:
    """The CSRF token in the confirmation page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the confirmation form carries a CSRF token"
    return match.group(1)


def confirm(client: TestClient, token: str) -> httpx.Response:
    """Open the link and press the button, as a browser does."""
    page = client.get(f"/verify/{token}")
    assert page.status_code == 200
    pressed: httpx.Response = client.post(
        f"/verify/{token}", data={"csrf_token": token_of(page.text)}
    )
    return pressed


class TestVerifyLink:
    def test_opening_the_link_verifies_nothing_and_leaves_it_usable(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """A GET (a mail scanner, a link preview) only shows the button: the request still
        waits, nothing starts, and the link works afterwards."""
        request_id, token, _ = challenge(engine)
        for _ in range(3):
            page = client.get(f"/verify/{token}")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert f'<form method="post" action="/verify/{token}">' in page.text
            assert request_id in page.text
        stored = reload(engine, request_id)
        assert stored.verified_at is None
        assert stored.status == RequestStatus.VERIFYING
        assert dispatcher.calls == []
        response = client.post(f"/verify/{token}", data={"csrf_token": token_of(page.text)})
        assert response.status_code == 200
        assert reload(engine, request_id).verified_by == BY_LINK

    def test_pressing_the_button_verifies_and_starts_processing_once(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """The form's POST marks the request verified and dispatches it exactly once."""
        request_id, token, _ = challenge(engine)
        response = confirm(client, token)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "E-mail address confirmed" in response.text
        assert request_id in response.text
        stored = reload(engine, request_id)
        assert stored.verified_at is not None
        assert stored.verified_by == BY_LINK
        assert dispatcher.calls == [request_id]

    def test_confirmation_page_speaks_the_request_s_language(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The button is offered in the language the request was made in."""
        _, token, _ = challenge(engine, language="de")
        page = client.get(f"/verify/{token}", headers={"accept-language": "en"})
        assert "Anfrage bestätigen" in page.text
        assert '<html lang="de">' in page.text

    @pytest.mark.parametrize("case", ["no_token", "no_cookie", "forged", "json"])
    def test_a_post_without_the_page_s_csrf_token_verifies_nothing(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher, case: str
    ) -> None:
        """Only the button of a page this service showed confirms: a post without its token,
        without its cookie, with a forged token or not as a form is refused (4xx)."""
        request_id, token, _ = challenge(engine)
        issued = token_of(client.get(f"/verify/{token}").text)
        url = f"/verify/{token}"
        if case == "no_token":
            response = client.post(url, data={"csrf_token": ""})
        elif case == "no_cookie":
            client.cookies.clear()
            response = client.post(url, data={"csrf_token": issued})
        elif case == "forged":
            nonce, expiry, _ = issued.split(".")
            forged = f"{nonce}.{expiry}.{'0' * 64}"
            client.cookies.set(CSRF_COOKIE, forged, path="/verify")
            response = client.post(url, data={"csrf_token": forged})
        else:
            response = client.post(url, json={"csrf_token": issued})
        assert 400 <= response.status_code < 500
        assert reload(engine, request_id).verified_at is None
        assert dispatcher.calls == []
        client.cookies.clear()
        assert confirm(client, token).status_code == 200

    def test_a_refused_post_offers_the_button_again(
        self, client: TestClient, engine: Engine
    ) -> None:
        """A post whose form expired gets the button again (400), which then works."""
        request_id, token, _ = challenge(engine)
        client.get(f"/verify/{token}")
        refused = client.post(f"/verify/{token}", data={"csrf_token": ""})
        assert refused.status_code == 400
        assert "This page has expired" in refused.text
        again = client.post(f"/verify/{token}", data={"csrf_token": token_of(refused.text)})
        assert again.status_code == 200
        assert reload(engine, request_id).verified_by == BY_LINK

    def test_second_use_of_a_link_is_404(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """A link works once; afterwards opening it or pressing the button finds nothing."""
        _, token, _ = challenge(engine)
        page = client.get(f"/verify/{token}")
        csrf = token_of(page.text)
        assert client.post(f"/verify/{token}", data={"csrf_token": csrf}).status_code == 200
        assert client.get(f"/verify/{token}").status_code == 404
        assert client.post(f"/verify/{token}", data={"csrf_token": csrf}).status_code == 404
        assert len(dispatcher.calls) == 1

    def test_link_of_a_request_confirmed_by_code_is_404(
        self, client: TestClient, engine: Engine
    ) -> None:
        """Once the code confirmed the request, its link offers no button."""
        request_id, token, code = challenge(engine)
        client.post("/verify", data={"request_id": request_id, "code": code})
        assert client.get(f"/verify/{token}").status_code == 404

    def test_unknown_used_and_expired_links_look_alike(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """No answer tells which links exist: unknown, used and expired give one 404 page,
        whether opened or posted to."""
        _, used, _ = challenge(engine)
        confirm(client, used)
        expired_id, expired, _ = challenge(engine, now=utcnow() - timedelta(hours=100))
        live_id, live, _ = challenge(engine)
        csrf = token_of(client.get(f"/verify/{live}").text)
        tokens = ("no-such-token", used, expired, "x" * 500)
        answers = [client.get(f"/verify/{token}") for token in tokens]
        answers += [client.post(f"/verify/{t}", data={"csrf_token": csrf}) for t in tokens]
        assert {a.status_code for a in answers} == {404}
        assert len({a.text for a in answers}) == 1
        assert reload(engine, expired_id).verified_at is None
        assert reload(engine, live_id).verified_at is None
        assert len(dispatcher.calls) == 1


class TestVerifyCode:
    def test_code_page_renders(self, client: TestClient) -> None:
        """The code form is there for when a link is mangled by a mail program."""
        response = client.get("/verify?lang=de")
        assert response.status_code == 200
        assert "Mit Code bestätigen" in response.text

    def test_correct_code_verifies_and_starts_processing(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """request_id + the 6-digit code confirm like the link does."""
        request_id, _, code = challenge(engine)
        response = client.post("/verify", data={"request_id": request_id, "code": code})
        assert response.status_code == 200
        assert reload(engine, request_id).verified_by == BY_CODE
        assert dispatcher.calls == [request_id]

    def test_wrong_code_is_refused_and_counted(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """A wrong code re-renders the form (400) and uses up one attempt."""
        request_id, _, code = challenge(engine)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        response = client.post("/verify", data={"request_id": request_id, "code": wrong})
        assert response.status_code == 400
        assert "The code is wrong" in response.text
        assert reload(engine, request_id).verified_at is None
        assert dispatcher.calls == []

    def test_too_many_wrong_codes_reject_the_request(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """The attempt limit holds through the service: guessing ends in rejection (Art. 12(4))."""
        request_id, _, code = challenge(engine)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(3):
            client.post("/verify", data={"request_id": request_id, "code": wrong})
        response = client.post("/verify", data={"request_id": request_id, "code": code})
        assert response.status_code == 400
        assert reload(engine, request_id).status == RequestStatus.REJECTED
        assert dispatcher.calls == []

    def test_code_for_unknown_request_looks_like_a_wrong_code(
        self, client: TestClient, engine: Engine
    ) -> None:
        """An unknown reference gets the same answer as a wrong code."""
        response = client.post("/verify", json={"request_id": "0" * 32, "code": "123456"})
        assert response.status_code == 400
        assert "The code is wrong" in response.text


class TestDownloads:
    @pytest.fixture
    def package(self, tmp_path: Path) -> PackageFile:
        path = tmp_path / "dsar-export.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data.json", '{"orders": []}')
        content = path.read_bytes()
        return PackageFile(
            path=path,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            files=("data.json",),
        )

    def _issue(self, engine: Engine, package: PackageFile, **kwargs: Any) -> str:
        with Session(engine) as session:
            request = make_request(session)
            _, token = issue_download(session, request_id=request.id, package=package, **kwargs)
            session.commit()
        return token

    def test_valid_link_streams_the_zip_as_an_attachment(
        self, client: TestClient, engine: Engine, package: PackageFile
    ) -> None:
        """The package is served as a download, byte for byte."""
        token = self._issue(engine, package)
        response = client.get(f"/exports/{token}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert 'filename="dsar-export.zip"' in response.headers["content-disposition"]
        assert hashlib.sha256(response.content).hexdigest() == package.sha256

    @pytest.mark.parametrize("case", ["expired", "unknown", "exhausted"])
    def test_unusable_links_are_404_without_a_hint(
        self, client: TestClient, engine: Engine, package: PackageFile, case: str
    ) -> None:
        """Expired, unknown and used-up links all answer the same 404 page."""
        if case == "expired":
            token = self._issue(engine, package, now=utcnow() - timedelta(days=20), ttl_days=14)
        elif case == "unknown":
            token = "no-such-token"
        else:
            token = self._issue(engine, package, max_downloads=1)
            assert client.get(f"/exports/{token}").status_code == 200
        response = client.get(f"/exports/{token}")
        assert response.status_code == 404
        assert "invalid, has expired or has already been used" in response.text
        unknown = client.get("/exports/another-unknown-token")
        assert response.text == unknown.text
