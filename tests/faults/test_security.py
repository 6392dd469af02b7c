"""Attacks: impostors, probed download links, and file names that try to leave their folder.

* Impostors (EDPB 01/2022 §§65-79): someone files a request in another person's name. Nothing
  may be disclosed or changed, and nothing may go anywhere but the contact point already on
  file, until that person confirms; a guessed code or an expired link ends the request.
* Download links of access packages (Art. 15(3), Art. 32): an expired link, one used up, or a
  guessed one all answer the same 404.
* Path traversal: every name the engine writes a file under goes through
  :func:`dsar.export.package.safe_filename`, which rejects rather than repairs a name with a
  path in it.
"""

from __future__ import annotations

import re
import secrets
import warnings
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from dsar import identity
from dsar.enums import Channel, RequestKind, RequestStatus
from dsar.errors import InputError
from dsar.export import ExportedRecord, SourceResult, build_package, issue_download, safe_filename
from dsar.intake import create_app
from dsar.models import Export, Request, RequestCreate, utcnow
from dsar.notify import FileMailer
from dsar.register import register_for
from dsar.service import submit_request
from dsar.settings import get_settings
from dsar.store import session_scope
from sandbox.personas import MARIA
from sandbox.server import EMULATORS, RunningSandbox
from tests.faults.conftest import PUBLIC_URL
from tests.faults.harness import WRITES
from tests.mailsink import Inbox

with warnings.catch_warnings():  # Starlette announces a future client; this one still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

ATTACKER = "collector@attacker.example"


@pytest.fixture
def intake_client(flow_env: Inbox) -> Iterator[TestClient]:
    """The intake service's pages (verification links and codes, downloads), in process,
    addressed as the public URL the e-mails link to (its cookies are HTTPS-only)."""
    with TestClient(create_app(), base_url=PUBLIC_URL) as client:
        yield client


def _file_in_maria_s_name(kind: RequestKind) -> str:
    """A contact-form request for Maria's address that asks for delivery elsewhere."""
    with session_scope() as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller="lunexxa",
                kind=kind,
                channel=Channel.CONTACT_FORM,
                email=MARIA.email,
                details={"deliver_to": ATTACKER, "message": "send everything to my new address"},
            ),
            register=register_for("lunexxa"),
            actor="test",
        )
        return request.id


def _run(request_id: str) -> str:
    from flows.embedded import run_with_progress

    return run_with_progress(request_id, console=None)


def _to(inbox: Inbox, address: str) -> list[EmailMessage]:
    return [m for m in inbox.messages if address.lower() in str(m["To"]).lower()]


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _writes(running: RunningSandbox) -> int:
    box = running.sandbox
    return sum(getattr(box, n).calls.effects(k) for n in EMULATORS for k in WRITES[n])


def _status(request_id: str) -> RequestStatus:
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None
        return request.status


def _exports(request_id: str) -> list[Export]:
    with session_scope() as session:
        return list(session.exec(select(Export).where(Export.request_id == request_id)))


class TestImpostors:
    def test_an_impostor_gets_nothing_and_a_guessed_code_ends_the_request(
        self,
        api_only: Path,
        flow_env: Inbox,
        quiet_sandbox: RunningSandbox,
        intake_client: TestClient,
    ) -> None:
        """An erasure filed in Maria's name changes nothing: only Maria's own address hears of
        it, the address named for delivery gets nothing, and three wrong codes reject it."""
        request_id = _file_in_maria_s_name(RequestKind.ERASURE)
        assert _run(request_id) == RequestStatus.VERIFYING.value
        assert [str(m["To"]) for m in flow_env.messages] == [MARIA.email]
        assert _to(flow_env, ATTACKER) == []
        for guess in ("000000", "123456", "999999"):
            page = intake_client.post("/verify", data={"request_id": request_id, "code": guess})
            assert page.status_code != 200
        assert _status(request_id) is RequestStatus.REJECTED
        assert _run(request_id) == RequestStatus.REJECTED.value
        assert _writes(quiet_sandbox) == 0
        assert _to(flow_env, ATTACKER) == []

    def test_data_goes_only_to_the_address_on_file_after_its_owner_confirms(
        self,
        api_only: Path,
        flow_env: Inbox,
        quiet_sandbox: RunningSandbox,
        intake_client: TestClient,
    ) -> None:
        """An access request naming another delivery address: no package before the owner of
        the address on file confirms (opening the link is not confirming); then the link goes
        to that owner, never to the address named in the request."""
        request_id = _file_in_maria_s_name(RequestKind.ACCESS)
        assert _run(request_id) == RequestStatus.VERIFYING.value
        assert _exports(request_id) == []
        (challenge,) = _to(flow_env, MARIA.email)
        match = re.search(r"/verify/([A-Za-z0-9_-]+)", _body(challenge))
        assert match is not None
        link = f"/verify/{match.group(1)}"
        page = intake_client.get(link)  # a mail scanner or link preview opens it first
        assert page.status_code == 200
        assert _run(request_id) == RequestStatus.VERIFYING.value
        assert _exports(request_id) == []
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        assert intake_client.post(link, data={"csrf_token": csrf.group(1)}).status_code == 200
        assert _run(request_id) == RequestStatus.COMPLETED.value
        assert len(_exports(request_id)) == 1
        answer = _to(flow_env, MARIA.email)[-1]
        assert "/exports/" in _body(answer)
        assert _to(flow_env, ATTACKER) == []
        assert all(ATTACKER not in str(m) for m in flow_env.messages)

    def test_an_unanswered_challenge_expires_into_a_rejection(
        self, api_only: Path, flow_env: Inbox, quiet_sandbox: RunningSandbox
    ) -> None:
        """Nobody confirms within the link's lifetime: the request is rejected (Art. 12(4))
        and a later run does nothing."""
        request_id = _file_in_maria_s_name(RequestKind.ERASURE)
        assert _run(request_id) == RequestStatus.VERIFYING.value
        later = utcnow() + timedelta(hours=get_settings().verification_ttl_hours + 1)
        with session_scope() as session:
            assert identity.expire_challenges(session, now=later) == [request_id]
        assert _run(request_id) == RequestStatus.REJECTED.value
        assert _writes(quiet_sandbox) == 0


# ------------------------------------------------------------------------------------------
# Download links
# ------------------------------------------------------------------------------------------


def _package(tmp_path: Path, *, days_ago: int = 0, max_downloads: int = 5) -> str:
    """An access package for a stored request, issued ``days_ago``; returns the link token."""
    register = register_for("lunexxa")
    with session_scope() as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller="lunexxa",
                kind=RequestKind.ACCESS,
                channel=Channel.STAFF,
                email=MARIA.email,
                verified_by="identity checked by staff",
            ),
            register=register,
            actor="test",
        )
        request_id = request.id
    issued = utcnow() - timedelta(days=days_ago)
    package = build_package(
        request_id=request_id,
        kind=RequestKind.ACCESS,
        language="en",
        register=register,
        results=[],
        out_dir=tmp_path / "exports",
        now=issued,
    )
    with session_scope() as session:
        _, token = issue_download(
            session,
            request_id=request_id,
            package=package,
            now=issued,
            max_downloads=max_downloads,
        )
    return token


@pytest.fixture
def downloads(engine: Any) -> Iterator[TestClient]:
    """The intake service, which serves the download links."""
    with TestClient(create_app()) as client:
        yield client


class TestDownloadLinks:
    def test_an_expired_link_is_not_found(self, downloads: TestClient, tmp_path: Path) -> None:
        """A link past its lifetime opens nothing."""
        token = _package(tmp_path, days_ago=get_settings().export_ttl_days + 1)
        assert downloads.get(f"/exports/{token}").status_code == 404

    def test_a_link_used_up_is_not_found(self, downloads: TestClient, tmp_path: Path) -> None:
        """The download after the last one allowed answers 404, like any unknown link."""
        token = _package(tmp_path, max_downloads=2)
        served = [downloads.get(f"/exports/{token}").status_code for _ in range(3)]
        assert served == [200, 200, 404]

    @pytest.mark.parametrize(
        "guess",
        [
            secrets.token_urlsafe(32),
            "0" * 43,
            "..%2F..%2Fdsar.db",
            "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "x" * 500,
        ],
        ids=["random", "zeros", "traversal", "encoded-traversal", "oversized"],
    )
    def test_a_guessed_link_is_not_found(
        self, downloads: TestClient, tmp_path: Path, guess: str
    ) -> None:
        """A token nobody was given opens nothing, whatever it looks like."""
        _package(tmp_path)
        assert downloads.get(f"/exports/{guess}").status_code == 404

    def test_every_refusal_looks_the_same(self, downloads: TestClient, tmp_path: Path) -> None:
        """Expired, used up and unknown links get the same page: probing teaches nothing."""
        expired = _package(tmp_path, days_ago=get_settings().export_ttl_days + 1)
        used = _package(tmp_path, max_downloads=1)
        downloads.get(f"/exports/{used}")
        pages = {
            downloads.get(f"/exports/{token}").text
            for token in (expired, used, secrets.token_urlsafe(32))
        }
        assert len(pages) == 1


# ------------------------------------------------------------------------------------------
# Path traversal
# ------------------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../dsar.db",
    "../../etc/cron.d/job",
    "/etc/passwd",
    "..\\..\\boot.ini",
    "C:evil.zip",
    "..",
    ".",
    "report\0.html",
    "",
    "a" * 201,
]


def _written(folder: Path) -> list[Path]:
    """Files under ``folder``, leaving out the test's own engine home."""
    return [p for p in folder.rglob("*") if p.is_file() and "dsar-home" not in p.parts]


class TestPathTraversal:
    @pytest.mark.parametrize("name", HOSTILE_NAMES)
    def test_a_file_name_with_a_path_is_rejected(self, name: str) -> None:
        """Names that climb out of, or jump past, their folder are refused outright."""
        with pytest.raises(InputError):
            safe_filename(name)

    def test_a_hostile_request_id_writes_no_package(self, tmp_path: Path) -> None:
        """A package named after a request id holding a path is refused; nothing is written."""
        out = tmp_path / "exports"
        with pytest.raises(InputError):
            build_package(
                request_id="../../escaped",
                kind=RequestKind.ACCESS,
                language="en",
                register=register_for("lunexxa"),
                results=[],
                out_dir=out,
                now=utcnow(),
            )
        assert _written(tmp_path) == []

    def test_a_processor_category_with_a_path_writes_no_package(self, tmp_path: Path) -> None:
        """A processor's data whose category tries to name a path inside the zip is refused,
        and no package or temporary file is left behind."""
        hostile = SourceResult(
            recipient="shopify",
            status="exported",
            records=(ExportedRecord("../../../tmp/owned", "shopify", {"id": 1}),),
        )
        with pytest.raises(InputError):
            build_package(
                request_id="a" * 32,
                kind=RequestKind.ACCESS,
                language="en",
                register=register_for("lunexxa"),
                results=[hostile],
                out_dir=tmp_path / "exports",
                now=utcnow(),
            )
        assert _written(tmp_path) == []

    def test_package_members_are_bare_file_names(self, tmp_path: Path) -> None:
        """Every file inside a package sits at its top level (no zip-slip on extraction)."""
        records = (
            ExportedRecord("customer_account", "shopify", {"id": 1, "note": "../../x"}),
            ExportedRecord("orders", "shopify", {"name": "#1001"}),
        )
        package = build_package(
            request_id="b" * 32,
            kind=RequestKind.ACCESS,
            language="en",
            register=register_for("lunexxa"),
            results=[SourceResult("shopify", "exported", records)],
            out_dir=tmp_path / "exports",
            now=utcnow(),
        )
        assert package.path.parent == tmp_path / "exports"
        assert all(safe_filename(name) == name for name in package.files)

    def test_outbox_file_names_ignore_the_addresses(self, tmp_path: Path) -> None:
        """A mail to an address full of path characters still lands in the outbox folder."""
        message = EmailMessage()
        message["To"] = '"../../../etc/x" <../../etc@example.com>'
        message["Subject"] = "notice"
        message.set_content("body")
        FileMailer(tmp_path / "outbox").send(message)
        assert [p.parent for p in _written(tmp_path)] == [tmp_path / "outbox"]
