"""The methods that forget a person (contract, section 15); the erasure itself is in
``chalicelib.store.erasure``."""

from chalicelib.api.registry import READ, Param, method
from chalicelib.api.webhook_methods import events_and_companies
from chalicelib.catalog import COMPANY, EVENT
from chalicelib.errors import NotFound


@method("webhook.erasePerson", "Forget a person (admin only): every message about them in the delivery logs of "
        "the events' and companies' webhooks is deleted, and none still queued is sent.",
        params=(Param("personID", "id", "The person to forget.", required=True),
                Param("eventID", "ids", "The events whose webhooks' logs to erase them from."),
                Param("companyID", "ids", "The companies whose company-level webhooks' logs to erase them from.")),
        status=202, answer="ErasureStarted", admin=True)
def erase_person(ctx, params):
    person = params.identifier("personID")
    events, companies = events_and_companies(params, "an erasure may name")
    owners = [[EVENT, event] for event in events] + [[COMPANY, company] for company in companies]
    erasure = ctx.services.erasures.start(person, owners, ctx.now)
    return 202, {"erasureID": erasure.erasure_id}


@method("webhook.erasure", "How far an erasure got (admin only): running or done, and how many messages it erased.",
        params=(Param("erasureID", "id", "The erasure, as webhook.erasePerson answered.", required=True),),
        verbs=READ, answer="Erasure", admin=True)
def erasure_status(ctx, params):
    erasure = ctx.services.erasures.get(params.identifier("erasureID"))
    if erasure is None:
        raise NotFound("no erasure with that erasureID", field="erasureID")
    return 200, erasure.public()
