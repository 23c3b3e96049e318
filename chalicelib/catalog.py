"""The platform's webhook types (contract, section 11), as data: everything else reads this.

Validation of ``webhook.create`` and ``webhook.dispatch``, the EventBridge rule's pattern, the
subject that orders deliveries and numbers them, the examples, ``webhook.types``, the OpenAPI
document and the console all come from ``CATALOG``. A new type is one entry here.
"""

from dataclasses import dataclass

EVENT = "event"
COMPANY = "company"
LEVELS = (EVENT, COMPANY)
# The ID in ``data`` that names each kind of subject.
SUBJECT_FIELD = {"event": "eventID", "person": "personID", "activity": "activityID", "speaker": "speakerID",
                 "webhook": "webhookID"}
EXAMPLE_IDS = {"eventID": "1234", "personID": "5521", "activityID": "98", "speakerID": "77", "companyID": "42",
               "webhookID": "wh_01KB2X3Y4Z5A6B7C8D9E0F1G2J"}


@dataclass(frozen=True)
class WebhookType:
    """One type: what happened, at which levels a webhook may take it, what its order is kept
    per, and the IDs its platform events and deliveries carry."""

    name: str
    description: str
    subject: str
    fields: tuple
    levels: tuple = LEVELS
    # False for the service's own notices (contract, section 15): the service sends them about its
    # webhooks, the platform cannot dispatch them. Their data is ``example`` shaped, with the
    # owner's eventID or companyID.
    dispatchable: bool = True
    example: tuple = ()

    @property
    def subject_field(self):
        return SUBJECT_FIELD[self.subject]

    def describe(self, example):
        """The type as ``webhook.types`` answers it, with ``example``, a delivered body."""
        return {"type": self.name, "description": self.description, "levels": list(self.levels),
                "subject": self.subject, "fields": list(self.fields), "example": example}


def _type(name, description, subject, *fields, levels=LEVELS):
    return WebhookType(name, description, subject, ("eventID",) + fields, levels)


CATALOG = {
    t.name: t
    for t in (
        _type("eventCreated", "an event was created", "event", levels=(COMPANY,)),
        _type("eventEdited", "the event's details changed", "event"),
        _type("eventEnd", "the event ended", "event"),
        _type("eventEnrollment", "a person registered for the event", "person", "personID"),
        _type("eventEnrollmentUpdate", "a registration changed", "person", "personID"),
        _type("eventDismissal", "a person's registration was removed", "person", "personID"),
        _type("eventCheckIn", "a person checked in to the event", "person", "personID"),
        _type("eventCheckOut", "a person checked out of the event", "person", "personID"),
        _type("activityEnrollment", "a person enrolled in an activity", "person", "activityID", "personID"),
        _type("activityDismissal", "a person left an activity", "person", "activityID", "personID"),
        _type("activityCheckIn", "a person checked in to an activity", "person", "activityID", "personID"),
        _type("activityCheckOut", "a person checked out of an activity", "person", "activityID", "personID"),
        _type("activityCreated", "an activity was created", "activity", "activityID"),
        _type("activityEdited", "an activity changed", "activity", "activityID"),
        _type("activityRemoved", "an activity was removed", "activity", "activityID"),
        _type("speakerCreated", "a speaker was added", "speaker", "speakerID"),
        _type("speakerEdited", "a speaker changed", "speaker", "speakerID"),
        _type("speakerRemoved", "a speaker was removed", "speaker", "speakerID"),
        WebhookType("webhookDisabled", "the service disabled another webhook of this event (or company) after "
                    "AUTO_DISABLE_AFTER of failures, or a 410", "webhook",
                    ("webhookID", "url", "type", "types", "reason", "failingSince"), dispatchable=False,
                    example=(("webhookID", EXAMPLE_IDS["webhookID"]), ("url", "https://example.com/hooks/inevent"),
                             ("type", "activityEnrollment"), ("types", ("activityEnrollment",)),
                             ("reason", "the endpoint accepted no delivery for 24h"), ("failingSince", "1764187200"))),
        WebhookType("messageFailed", "a message to another webhook of this event (or company) was given up after "
                    "its last attempt (at most one a minute per webhook: alsoFailed counts the others)", "webhook",
                    ("webhookID", "url", "messageID", "type", "attempts", "lastError", "alsoFailed"),
                    dispatchable=False,
                    example=(("webhookID", EXAMPLE_IDS["webhookID"]), ("url", "https://example.com/hooks/inevent"),
                             ("messageID", "msg_01KB2X3Y4Z5A6B7C8D9E0F1G2K"), ("type", "activityEnrollment"),
                             ("attempts", 8), ("lastStatusCode", "500"), ("lastError", "HTTP 500"),
                             ("alsoFailed", 0))),
    )
}
TYPE_NAMES = tuple(CATALOG)
# The types the platform reports (webhook.dispatch and EventBridge): all but the service's notices.
PLATFORM_TYPES = tuple(name for name, t in CATALOG.items() if t.dispatchable)
NOTICE_TYPES = tuple(name for name, t in CATALOG.items() if not t.dispatchable)
# Every ID a platform type carries, and companyID: the names ``webhook.dispatch`` takes besides
# type, date and data.
ID_FIELDS = tuple(dict.fromkeys(f for n in PLATFORM_TYPES for f in CATALOG[n].fields)) + ("companyID",)
# Types whose platform events must name a company: those that exist at the company level only.
COMPANY_REQUIRED = frozenset(name for name, t in CATALOG.items() if t.levels == (COMPANY,))
# A webhook's types: ``("*",)`` takes every type of its level, those the catalog gains later too.
ALL_TYPES = "*"


def level_types(level):
    """The names of the types a webhook of ``level`` may take, in catalog order."""
    return tuple(name for name, t in CATALOG.items() if level in t.levels)
