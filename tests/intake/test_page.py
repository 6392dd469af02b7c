"""The request page: accessible, English and German, CSRF-protected, the webhook's rules."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import Engine

from dsar.enums import Channel, RequestKind
from dsar.intake import CSRF_COOKIE, CsrfGuard, page_language
from tests.intake.conftest import RecordingDispatcher, TestClient, request_count, stored_requests

PAGE = "/privacy-request"


def token_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def fields(token: str, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": token,
        "language": "en",
        "controller": "lunexxa",
        "kind": "access",
        "email": "jana.novak@example.com",
        "name": "Jana Novak",
        "order_number": "",
        "message": "",
    }
    data.update(overrides)
    return data


class TestRendering:
    def test_page_renders_in_english_by_default(self, client: TestClient) -> None:
        """Without a language hint the page is English, a plain HTML form without JavaScript."""
        response = client.get(PAGE)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert '<html lang="en">' in html
        assert "<h1>Privacy request</h1>" in html
        assert "<script" not in html
        assert CSRF_COOKIE in response.cookies
        assert response.cookies[CSRF_COOKIE] == token_of(html)

    @pytest.mark.parametrize(
        ("query", "accept"),
        [("?lang=de", ""), ("", "de-AT,de;q=0.9,en;q=0.5"), ("?lang=de", "en-GB")],
        ids=["query", "accept-language", "query-wins"],
    )
    def test_page_renders_in_german(self, client: TestClient, query: str, accept: str) -> None:
        """?lang=de or a browser preferring German gives the German page."""
        response = client.get(PAGE + query, headers={"accept-language": accept})
        assert '<html lang="de">' in response.text
        assert "Datenschutz-Anfrage" in response.text
        assert "Meine Daten löschen (Art. 17)" in response.text

    def test_every_field_has_a_label(self, client: TestClient) -> None:
        """Each visible input is named by a <label for=...> (WCAG 1.3.1, 4.1.2)."""
        html = client.get(PAGE).text
        ids = set(re.findall(r'<(?:input|textarea|select)[^>]* id="([^"]+)"', html))
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        assert ids
        assert ids <= labelled

    def test_pages_forbid_scripts_and_referrers(self, client: TestClient) -> None:
        """The CSP allows no script, and no page leaks its URL as a referrer."""
        headers = client.get(PAGE).headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"


class TestSubmission:
    def test_valid_post_stores_one_request_and_confirms_with_its_reference(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """The page's request is stored like a webhook's and answered with an HTML confirmation."""
        token = token_of(client.get(PAGE).text)
        response = client.post(PAGE + "?lang=en", data=fields(token))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        [stored] = stored_requests(engine)
        assert stored.channel == Channel.WEB_PAGE
        assert stored.kind == RequestKind.ACCESS
        assert stored.id in response.text
        assert "confirmation link" in response.text
        assert dispatcher.calls == [stored.id]

    def test_german_confirmation(self, client: TestClient, engine: Engine) -> None:
        """A German page confirms in German and stores German as the answer's language."""
        token = token_of(client.get(PAGE + "?lang=de").text)
        response = client.post(PAGE + "?lang=de", data=fields(token, language="de"))
        assert response.status_code == 200
        assert "Bestätigungslink" in response.text
        assert stored_requests(engine)[0].language == "de"

    def test_double_submit_stores_one_request(self, client: TestClient, engine: Engine) -> None:
        """Sending the same form twice (a double click) is one request: the token is its key."""
        token = token_of(client.get(PAGE).text)
        first = client.post(PAGE, data=fields(token))
        second = client.post(PAGE, data=fields(token))
        assert first.status_code == second.status_code == 200
        assert request_count(engine) == 1

    def test_post_without_csrf_token_is_refused(self, client: TestClient, engine: Engine) -> None:
        """A post without the form's token (e.g. from another site) re-renders the form, 400."""
        client.get(PAGE)
        response = client.post(
            PAGE, data={k: v for k, v in fields("").items() if k != "csrf_token"}
        )
        assert response.status_code == 400
        assert "The form has expired" in response.text
        assert request_count(engine) == 0

    def test_post_with_a_forged_token_is_refused(self, client: TestClient, engine: Engine) -> None:
        """A token whose signature does not verify is refused even when field and cookie agree."""
        token = token_of(client.get(PAGE).text)
        nonce, expiry, _ = token.split(".")
        forged = f"{nonce}.{expiry}.{'0' * 64}"
        client.cookies.set(CSRF_COOKIE, forged, path=PAGE)
        response = client.post(PAGE, data=fields(forged))
        assert response.status_code == 400
        assert request_count(engine) == 0

    def test_post_whose_cookie_is_missing_is_refused(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The hidden field alone is not enough: the cookie must carry the same token."""
        token = token_of(client.get(PAGE).text)
        client.cookies.clear()
        response = client.post(PAGE, data=fields(token))
        assert response.status_code == 400
        assert request_count(engine) == 0

    def test_invalid_fields_re_render_the_form_with_messages(
        self, client: TestClient, engine: Engine
    ) -> None:
        """Errors come back on the form (400), in the page's language, with the entries kept."""
        token = token_of(client.get(PAGE + "?lang=de").text)
        response = client.post(
            PAGE, data=fields(token, language="de", email="not-an-address", kind="")
        )
        assert response.status_code == 400
        html = response.text
        assert 'role="alert"' in html
        assert "Bitte geben Sie eine gültige E-Mail-Adresse an." in html
        assert "Bitte wählen Sie, was Sie möchten" in html
        assert 'value="Jana Novak"' in html
        assert 'aria-invalid="true"' in html
        assert request_count(engine) == 0

    def test_entries_are_escaped_when_re_rendered(self, client: TestClient, engine: Engine) -> None:
        """What was typed comes back as text, never as markup."""
        token = token_of(client.get(PAGE).text)
        response = client.post(PAGE, data=fields(token, name='"><script>x()</script>', email="x"))
        assert response.status_code == 400
        assert "<script>x()" not in response.text
        assert request_count(engine) == 0


class TestCsrfGuard:
    def test_token_expires(self) -> None:
        """A token older than its lifetime is refused."""
        now = [1_000_000.0]
        guard = CsrfGuard(b"k" * 32, clock=lambda: now[0])
        token = guard.issue()
        assert guard.check(token, token) is not None
        now[0] += 3 * 60 * 60
        assert guard.check(token, token) is None

    def test_token_from_another_key_is_refused(self) -> None:
        """A token is only valid for the service that signed it."""
        token = CsrfGuard(b"a" * 32).issue()
        assert CsrfGuard(b"b" * 32).check(token, token) is None

    def test_field_and_cookie_must_agree(self) -> None:
        """Two valid tokens of the same service do not stand in for each other."""
        guard = CsrfGuard(b"k" * 32)
        assert guard.check(guard.issue(), guard.issue()) is None


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        (None, None, "en"),
        ("de", None, "de"),
        ("fr", "de", "de"),
        (None, "fr-FR,fr;q=0.9,de;q=0.8", "de"),
        (None, "de;q=0, en", "en"),
        (None, "de;q=bogus,en;q=0.5", "en"),
    ],
)
def test_page_language_negotiation(query: str | None, accept: str | None, expected: str) -> None:
    """?lang= first, then the browser's preference order, then English."""
    assert page_language(query, accept) == expected


class TestUsConsumers:
    """A US business's own page (``?controller=``) speaks to consumers in US terms."""

    GDPR_WORDS = ("GDPR", "DSGVO", "Art. ", "Member State", "supervisory authority")

    def test_a_us_business_page_offers_the_us_rights_without_gdpr_words(
        self, client: TestClient
    ) -> None:
        html = client.get(f"{PAGE}?controller=luma-flux").text
        assert 'value="opt-out"' in html
        assert 'value="limit-sensitive"' in html
        assert "Do not sell or share my personal information" in html
        assert 'value="restriction"' not in html
        assert '<input type="hidden" name="controller" value="luma-flux">' in html
        for word in self.GDPR_WORDS:
            assert word not in html, word

    def test_the_gdpr_shop_page_keeps_its_articles(self, client: TestClient) -> None:
        html = client.get(f"{PAGE}?controller=lunexxa").text
        assert "Art. 15" in html
        assert 'value="opt-out"' not in html

    def test_an_opt_out_sent_from_the_us_page_is_stored_and_confirmed_in_us_terms(
        self, client: TestClient, engine: Engine
    ) -> None:
        page = client.get(f"{PAGE}?controller=luma-flux")
        answer = client.post(
            PAGE,
            data=fields(token_of(page.text), controller="luma-flux", kind="opt-out"),
        )
        assert answer.status_code == 200, answer.text
        for word in self.GDPR_WORDS:
            assert word not in answer.text, word
        stored = stored_requests(engine)
        assert [(r.controller, r.kind) for r in stored] == [("luma-flux", RequestKind.OPT_OUT)]
