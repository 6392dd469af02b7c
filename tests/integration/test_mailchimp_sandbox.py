"""The Mailchimp connector against the emulator over real sockets: several audiences, the
edge network's throttle, and the emulator holding the connector to the published contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from connectors import MailchimpConnector, RetryPolicy, Subject
from sandbox import JONAS, MAILCHIMP_EVENTS_LIST_ID, MAILCHIMP_LIST_ID
from sandbox.mailchimp_state import MailchimpProblem, subscriber_hash
from sandbox.server import RunningSandbox, running_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

AUDIENCES = (MAILCHIMP_LIST_ID, MAILCHIMP_EVENTS_LIST_ID)
RETRY = RetryPolicy(max_attempts=5, max_elapsed=10.0, backoff_initial=0.001, backoff_max=0.01)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """The connectors run on asyncio."""
    return "asyncio"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSandbox]:
    """One fault-free sandbox for the module."""
    with running_sandbox(seed=77, customers=60) as box:
        yield box


@pytest.fixture
async def mailchimp(running: RunningSandbox) -> AsyncIterator[MailchimpConnector]:
    """The connector on the sandbox's address, without a list id: it searches every audience."""
    async with MailchimpConnector(
        running.mailchimp_url, running.mailchimp_api_key, retry=RETRY
    ) as connector:
        yield connector


def newsletter_member(running: RunningSandbox, index: int) -> str:
    """The address of a newsletter member who is in no other audience."""
    state = running.sandbox.mailchimp
    only_there = [
        m.email_address
        for m in state.members.values()
        if m.status == "subscribed" and len(state.memberships(m.email_address)) == 1
    ]
    return only_there[index]


async def test_each_membership_is_exported_naming_its_audience(
    mailchimp: MailchimpConnector,
) -> None:
    """Jonas is in the newsletter and the events audience: one record for each."""
    records = (await mailchimp.export(Subject(emails=(JONAS.email,)))).records
    assert sorted(r.data["list_id"] for r in records) == sorted(AUDIENCES)
    assert {r.data["id"] for r in records} == {JONAS.mailchimp_subscriber_hash}


async def test_a_person_in_two_audiences_is_found_and_erased_in_both(
    mailchimp: MailchimpConnector, running: RunningSandbox
) -> None:
    """search-members finds each membership; each is deleted permanently, and neither audience
    takes the address back."""
    state = running.sandbox.mailchimp
    email = newsletter_member(running, 0)
    state.add({"email_address": email, "status": "pending"}, list_id=MAILCHIMP_EVENTS_LIST_ID)
    subject = Subject(emails=(email.upper(),))
    member_id = subscriber_hash(email)
    located = await mailchimp.locate(subject)
    assert sorted(located.refs) == sorted(f"member:{a}/{member_id}" for a in AUDIENCES)

    outcome = await mailchimp.erase(subject)
    assert (outcome.complete, outcome.count) == (True, 2)
    assert state.memberships(email) == []
    assert state.calls.effects("member_deleted_permanently", member_id) == 2
    for list_id in AUDIENCES:
        with pytest.raises(MailchimpProblem, match="Forgotten"):
            state.add({"email_address": email, "status": "subscribed"}, list_id=list_id)
    again = await mailchimp.erase(subject)
    assert (again.complete, again.count) == (True, 0)


async def test_restriction_unsubscribes_in_every_audience(
    mailchimp: MailchimpConnector, running: RunningSandbox
) -> None:
    state = running.sandbox.mailchimp
    email = newsletter_member(running, 1)
    state.add({"email_address": email, "status": "subscribed"}, list_id=MAILCHIMP_EVENTS_LIST_ID)
    outcome = await mailchimp.restrict(Subject(emails=(email,)))
    assert outcome.count == 2
    assert {m.status for _, m in state.memberships(email)} == {"unsubscribed"}


async def test_a_bodyless_403_throttle_is_waited_out(
    mailchimp: MailchimpConnector, running: RunningSandbox
) -> None:
    """With the emulator throttling as Mailchimp's edge does (403, no body), the connector
    retries and gets its answer; nothing is mistaken for bad credentials."""
    box = running.sandbox
    box.mailchimp.bodyless_403_throttle = True
    throttled = box.mailchimp.calls.throttled
    refused = box.mailchimp.calls.statuses[403]
    try:
        box.injector("mailchimp").force_throttle(2)
        located = await mailchimp.locate(Subject(emails=(JONAS.email,)))
    finally:
        box.mailchimp.bodyless_403_throttle = False
    assert located.found
    assert box.mailchimp.calls.throttled - throttled == 2
    assert box.mailchimp.calls.statuses[403] - refused == 2


async def test_every_request_of_the_connector_passes_the_contract(
    mailchimp: MailchimpConnector, running: RunningSandbox
) -> None:
    """A run of every operation draws no 400, 404 or 501 from the emulator's contract checks."""
    box = running.sandbox
    before = dict(box.mailchimp.calls.statuses)
    subject = Subject(emails=(newsletter_member(running, 2),))
    await mailchimp.locate(subject)
    await mailchimp.export(subject)
    await mailchimp.rectify(subject, {"first_name": "Renamed", "phone": "+43 1 234567"})
    await mailchimp.restrict(subject)
    await mailchimp.lift_restriction(subject)
    await mailchimp.erase(subject)
    after = box.mailchimp.calls.statuses
    new = {status: after[status] - before.get(status, 0) for status in after}
    assert {s for s, n in new.items() if n and s >= 400} == set()
