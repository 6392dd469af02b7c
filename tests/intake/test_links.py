"""Links from the engine's e-mails: identity confirmation starts processing; downloads are
served while valid; an unusable link of any sort looks the same."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dsar.enums import Channel, RequestStatus
from dsar.export import PackageFile, issue_download
from dsar.identity import BY_CODE, BY_LINK, issue_challenge
from dsar.models import Request, utcnow
from tests.factories import make_request
from tests.intake.conftest import RecordingDispatcher, TestClient

VIENNA = "Europe/Vienna"


def challenge(engine: Engine, **kwargs: Any) -> tuple[str, str, str]:
    """A contact-form request waiting for its identity check: (request id, token, code)."""
    with Session(engine, expire_on_commit=False) as session:
        request = make_request(session, channel=Channel.CONTACT_FORM, received_at=utcnow())
        _, token, code = issue_challenge(session, request=request, tz=VIENNA, **kwargs)
        session.commit()
        return request.id, token, code


def reload(engine: Engine, request_id: str) -> Request:
    with Session(engine) as session:
        request = session.get(Request, request_id)
        assert request is not None
        return request


class TestVerifyLink:
    def test_valid_link_verifies_and_starts_processing_once(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """Following the link marks the request verified and dispatches it exactly once."""
        request_id, token, _ = challenge(engine)
        response = client.get(f"/verify/{token}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert request_id in response.text
        stored = reload(engine, request_id)
        assert stored.verified_at is not None
        assert stored.verified_by == BY_LINK
        assert dispatcher.calls == [request_id]

    def test_second_use_of_a_link_is_404(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """A link works once; the second visit finds nothing and starts nothing."""
        _, token, _ = challenge(engine)
        assert client.get(f"/verify/{token}").status_code == 200
        response = client.get(f"/verify/{token}")
        assert response.status_code == 404
        assert len(dispatcher.calls) == 1

    def test_unknown_used_and_expired_links_look_alike(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """No answer tells which links exist: unknown, used and expired give one 404 page."""
        _, used, _ = challenge(engine)
        client.get(f"/verify/{used}")
        expired_id, expired, _ = challenge(engine, now=utcnow() - timedelta(hours=100))
        answers = [
            client.get(f"/verify/{token}") for token in ("no-such-token", used, expired, "x" * 500)
        ]
        assert {a.status_code for a in answers} == {404}
        assert len({a.text for a in answers}) == 1
        assert reload(engine, expired_id).verified_at is None
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
