"""What people type at 3 a.m., acted on as they meant it (found in review, session 25): a lone incident number in
another incident's channel names that incident; someone whose email is inside many others is found in PagerDuty;
names with `&` (Slack sends `&amp;`) are found; `/incident page-im` with no incident-manager rota says so before a
form is filled in; zero-width spaces are no text, and no subcommand."""

from __future__ import annotations

from typing import Any

from bot.catalogue import Catalogue, SandboxPerson
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, command, incident_channels, replies, settle, state, trigger
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"


def channel_of(running: RunningSandbox, incident: dict[str, Any]) -> dict[str, Any]:
    prefix = f"inc-{incident['incident_number']}-"
    return next(c for c in incident_channels(running) if c["name"].startswith(prefix))


def pd_incident(running: RunningSandbox, incident_id: str) -> dict[str, Any]:
    return next(i for i in state(running)["pagerduty"]["incidents"] if i["id"] == incident_id)


def pd_user(running: RunningSandbox, email: str) -> str:
    return str(next(u["id"] for u in state(running)["pagerduty"]["users"] if u["email"] == email))


def pd_notes(running: RunningSandbox, incident_id: str) -> list[str]:
    return [n["content"] for n in state(running)["pagerduty"]["notes"] if n["incident_id"] == incident_id]


# ----- 1. a lone number inside another incident's channel ------------------------------------------------------------

async def test_a_lone_incident_number_typed_in_another_incidents_channel_does_not_resolve_this_one(
        sandbox: RunningSandbox) -> None:
    """In #inc-1, `/incident ack 2` acknowledges #2, but `/incident resolve 2` resolved #1 — with the resolution
    note "2". A lone number is never a resolution note anyone meant; resolving the wrong incident pages nobody back."""
    first = await trigger(sandbox, "Checkout returns 500s")
    second = await trigger(sandbox, "Basket page slow")
    answer = await command(sandbox, f"resolve {second['incident_number']}", channel_of(sandbox, first)["id"])
    assert pd_incident(sandbox, first["id"])["status"] == "triggered", replies(answer)
    assert pd_notes(sandbox, first["id"]) == []


# ----- 2. the PagerDuty user looked up on the first page of a substring search only ----------------------------------

async def test_someone_whose_email_is_inside_many_other_emails_is_still_found_in_pagerduty(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """GET /users?query=<email> matches names and emails containing it, 25 a page; the bot read the first page only.
    li@example.com, in an account with 30 people whose emails end in .li@example.com, was told "There is no
    PagerDuty user with your Slack email" and could not act."""
    seed = catalogue.sandbox
    assert seed is not None
    others = [SandboxPerson(name=f"Person {i}", email=f"p{i}.li@example.com", slack=False) for i in range(30)]
    people = [*others, *seed.people, SandboxPerson(name="Li Wei", email="li@example.com")]
    running = await start_sandbox(catalogue.model_copy(update={"sandbox": seed.model_copy(update={"people": people})}))
    incident = await trigger(running)
    answer = await command(running, "ack", channel_of(running, incident)["id"], user="li@example.com")
    assert "There is no PagerDuty user" not in replies(answer), replies(answer)
    assert pd_incident(running, incident["id"])["acknowledged_by"] == pd_user(running, "li@example.com")


# ----- 3. names with & (Slack sends &amp;) ---------------------------------------------------------------------------

async def test_paging_an_escalation_policy_whose_name_has_an_ampersand(start_sandbox: StartSandbox,
                                                                      catalogue: Catalogue) -> None:
    """Slack sends a typed `&` as `&amp;`; the page's target was looked up as sent, so "Search & Discovery" was
    never found, and the refusal showed the name unescaped ("I can't find `Search & Discovery`") as if it did not
    exist."""
    seed = catalogue.sandbox
    assert seed is not None
    policies = [p.model_copy(update={"name": "Search & Discovery"}) if p.id == "PSRCHEP" else p
                for p in seed.escalation_policies]
    running = await start_sandbox(catalogue.model_copy(update={"sandbox": seed.model_copy(
        update={"escalation_policies": policies})}))
    incident = await trigger(running)
    channel = channel_of(running, incident)["id"]
    answer = await command(running, 'page "Search & Discovery" Is search down too?', channel)
    requests = [r for r in state(running)["pagerduty"]["responder_requests"] if r["incident_id"] == incident["id"]]
    assert [r["targets"] for r in requests] == [[{"type": "escalation_policy_reference", "id": "PSRCHEP"}]], \
        replies(answer)


async def test_oncall_for_a_team_whose_name_has_an_ampersand(start_sandbox: StartSandbox,
                                                            catalogue: Catalogue) -> None:
    """The same for `/incident oncall <team>` (and `/incident service`, a rota's name): matched against `&amp;`."""
    teams = [t.model_copy(update={"name": "Basket & Checkout"}) if t.id == "basket" else t for t in catalogue.teams]
    running = await start_sandbox(catalogue.model_copy(update={"teams": teams}))
    answer = await command(running, "oncall Basket & Checkout", "team-basket")
    assert "Asha Patel" in replies(answer), replies(answer)


# ----- 4. a form for something that cannot be done --------------------------------------------------------------------

async def test_page_im_without_an_incident_manager_rota_says_so_instead_of_opening_a_form(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """Without `incident_manager` the card hides its Page button (it "could only answer that none is configured"),
    but a bare `/incident page-im` still opened the form: the person wrote their message, submitted, and only then
    was told no rota is configured."""
    running = await start_sandbox(catalogue.model_copy(update={"incident_manager": None}))
    incident = await trigger(running)
    answer = await command(running, "page-im", channel_of(running, incident)["id"])
    assert answer["views_opened"] == []
    assert "No incident-manager rota is configured" in replies(answer)


# ----- 5. invisible text ----------------------------------------------------------------------------------------------

async def test_a_resolution_note_of_zero_width_spaces_is_refused_in_the_form(sandbox: RunningSandbox) -> None:
    """A note of only spaces is refused in the form; one of only zero-width spaces (pasted) resolved the incident
    with an invisible resolution note ("Resolution: \\u200b\\u200b")."""
    incident = await trigger(sandbox)
    [view] = (await command(sandbox, "resolve", channel_of(sandbox, incident)["id"]))["views_opened"]
    submitted = await as_user(sandbox, "view_submission", user=ASHA, view_id=view["id"],
                              values={"resolution": {"text": "\u200b\u200b"}})
    await settle(sandbox)
    assert submitted["view_outcome"] == "errors" and "resolution" in submitted["view"]["errors"]
    assert pd_incident(sandbox, incident["id"])["status"] == "triggered"
    assert pd_notes(sandbox, incident["id"]) == []


async def test_a_zero_width_space_before_the_subcommand_still_acknowledges(sandbox: RunningSandbox) -> None:
    """`visible()` drops a zero-width space inside the subcommand's word (`\\u200back`), but one standing as a word of
    its own before it made the subcommand "" — help — and the `ack` after it was ignored."""
    incident = await trigger(sandbox)
    answer = await command(sandbox, "\u200b ack", channel_of(sandbox, incident)["id"])
    assert pd_incident(sandbox, incident["id"])["acknowledged_by"] == pd_user(sandbox, ASHA), replies(answer)[:200]
