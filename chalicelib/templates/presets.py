"""The service's own templates for chat tools (contract, section 21): ``slack`` and ``teams``.

Each says one readable line per type, naming the person, activity or speaker (or the event) by
``data.name`` when the platform sent it, else by its ID: "Ana Souza checked in to event 1234",
"Person 5521 checked in to event 1234". The lines are Mustache templates, rendered by the same
bounded renderer as a tenant's; the message around the line is built here, as JSON, so a preset
always sends valid JSON whatever the data holds.

- ``slack``: ``{"text": "<line>"}``, what Slack's incoming webhooks (and Slack workflows) take.
  Slack reads ``<...>`` as links and mentions (``<!channel>``), so ``&``, ``<`` and ``>`` in the
  values are escaped as Slack asks (``&amp;``, ``&lt;``, ``&gt;``): a person's name cannot ping
  a channel or post a link.
- ``teams``: a message with one Adaptive Card whose one TextBlock's text is the line, as the
  Teams Workflows app's "when a Teams webhook request is received" flow takes it. A TextBlock
  reads a subset of CommonMark (bold, italic, lists, links), so ``\\``, ``*``, ``_``, ``[`` and
  ``]`` in the values are escaped with a backslash: a name cannot make a link.
"""

import functools

from chalicelib.templates.mustache import parse, render

PRESETS = ("slack", "teams")


def _named(field, what):
    """``data.name`` when the platform sent one, else ``<What> <ID>``."""
    return (f"{{{{#data.name}}}}{{{{data.name}}}}{{{{/data.name}}}}"
            f"{{{{^data.name}}}}{what} {{{{data.{field}}}}}{{{{/data.name}}}}")


_PERSON, _ACTIVITY, _SPEAKER, _EVENT = (_named("personID", "Person"), _named("activityID", "Activity"),
                                        _named("speakerID", "Speaker"), _named("eventID", "Event"))
_IN_EVENT = "event {{data.eventID}}"
_ACTIVITY_ID = "activity {{data.activityID}}"
LINES = {
    "eventCreated": f"{_EVENT} was created",
    "eventEdited": f"{_EVENT} was edited",
    "eventEnd": f"{_EVENT} ended",
    "eventEnrollment": f"{_PERSON} registered for {_IN_EVENT}",
    "eventEnrollmentUpdate": f"{_PERSON} changed their registration for {_IN_EVENT}",
    "eventDismissal": f"{_PERSON}'s registration for {_IN_EVENT} was removed",
    "eventCheckIn": f"{_PERSON} checked in to {_IN_EVENT}",
    "eventCheckOut": f"{_PERSON} checked out of {_IN_EVENT}",
    "activityEnrollment": f"{_PERSON} enrolled in {_ACTIVITY_ID}",
    "activityDismissal": f"{_PERSON} left {_ACTIVITY_ID}",
    "activityCheckIn": f"{_PERSON} checked in to {_ACTIVITY_ID}",
    "activityCheckOut": f"{_PERSON} checked out of {_ACTIVITY_ID}",
    "activityCreated": f"{_ACTIVITY} was created in {_IN_EVENT}",
    "activityEdited": f"{_ACTIVITY} was edited in {_IN_EVENT}",
    "activityRemoved": f"{_ACTIVITY} was removed from {_IN_EVENT}",
    "speakerCreated": f"{_SPEAKER} was added to {_IN_EVENT}",
    "speakerEdited": f"{_SPEAKER} was edited in {_IN_EVENT}",
    "speakerRemoved": f"{_SPEAKER} was removed from {_IN_EVENT}",
    "webhookDisabled": "Webhook {{data.webhookID}} ({{data.url}}) was disabled: {{data.reason}}",
    "messageFailed": "A {{data.type}} message to webhook {{data.webhookID}} ({{data.url}}) was given up after "
                     "{{data.attempts}} attempts: {{data.lastError}}",
    "webhook.test": "A test delivery from InEvent webhooks",
}
# A type the catalog gains later still gets a line.
OTHER = "{{type}}{{#data.eventID}} in event {{data.eventID}}{{/data.eventID}}"


def _slack_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _markdown_escape(text):
    for mark in ("\\", "*", "_", "[", "]"):
        text = text.replace(mark, "\\" + mark)
    return text


ESCAPES = {"slack": _slack_escape, "teams": _markdown_escape}


@functools.lru_cache(maxsize=None)
def _parsed(type):
    return parse(LINES.get(type, OTHER))


def line(preset, payload, max_steps):
    """The preset's one line about ``payload`` (a parsed section-4 body), its values escaped for
    the tool. Bounded like any template (:func:`chalicelib.templates.mustache.render`)."""
    return render(_parsed(payload.get("type")), payload, escape=ESCAPES[preset], max_steps=max_steps)


def message(preset, payload, max_steps):
    """The JSON object a preset sends about ``payload``."""
    text = line(preset, payload, max_steps)
    if preset == "slack":
        return {"text": text}
    return {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{"type": "TextBlock", "text": text, "wrap": True}],
            },
        }],
    }
