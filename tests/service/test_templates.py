"""Templates (contract, section 21): the delivered body shaped by a webhook's Mustache template or a
preset, checked when set, signed over the rendered bytes, and bounded at delivery; through the
API and the worker to a real receiver."""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from chalicelib.services import get_services
from chalicelib.templates import webhook_template
from dev.receiver import Receiver
from tests.helpers import stored_message

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANA = {"name": "Ana \"Aninha\" Souza\\\n", "ticket": "VIP"}  # quotes, a backslash and a newline to escape
CARD = '{"text": "{{data.name}} ({{data.ticket}}) is in activity {{data.activityID}}", "seq": {{sequence}}}'


@pytest.fixture
def plain():
    """A receiver that takes any body: a template's are not section 4's, which the default one checks."""
    with Receiver(check_schema=False) as server:
        yield server


def create(api, url, template, type="activityEnrollment", **extra):
    status, body = api.call("webhook.create", eventID="1234", type=type, url=url, template=template, **extra)
    assert status == 201, body
    return body


def dispatch(api, type="activityEnrollment", **ids):
    """webhook.dispatch of ``type`` with the example IDs of its kind (eventID 1234, personID 5521...)."""
    defaults = {"eventID": "1234", "activityID": "98", "personID": "5521"} if type.startswith("activity") else \
        {"eventID": "1234", "personID": "5521"} if type.startswith("event") else {"eventID": "1234"}
    status, body = api.call("webhook.dispatch", type=type, **{**defaults, **ids})
    assert status == 202, body
    return body["messageID"]


def delivered(api, worker, receiver, hook, **dispatched):
    message_id = dispatch(api, **dispatched)
    worker.run(until=lambda: receiver.requests, timeout=10)
    (request,) = receiver.wait_for(1)
    return message_id, request


def test_the_body_is_the_template_rendered_over_the_delivered_body_and_signed_over_its_bytes(api, worker, plain):
    hook = create(api, plain.url, {"body": CARD, "contentType": "application/json"})
    message_id, request = delivered(api, worker, plain, hook, data=ANA)
    assert request.json() == {"text": f"{ANA['name']} (VIP) is in activity 98", "seq": 1}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == message_id
    Verifier(hook["secret"]).verify(request.body, request.headers)  # over the rendered bytes
    # {{x}} writes JSON string escaping without the quotes: the exact value comes back out.
    assert request.body.decode("utf-8").startswith('{"text": "Ana \\"Aninha\\" Souza\\\\\\n (VIP)')


def test_a_text_plain_template_is_sent_as_it_renders_with_that_content_type(api, worker, plain):
    template = "{{type}},{{data.personID}},{{data.name}}\n"
    hook = create(api, plain.url, {"body": template, "contentType": "text/plain"})
    _, request = delivered(api, worker, plain, hook, data={"name": 'Ana "A" <Souza>'})
    assert request.body == 'activityEnrollment,5521,Ana "A" <Souza>\n'.encode()
    assert request.headers["content-type"] == "text/plain"
    Verifier(hook["secret"]).verify(request.body, request.headers, json_parse=False)


def test_a_triple_mustache_writes_a_value_as_json_text(api, worker, plain):
    hook = create(api, plain.url, {"body": '{"who": {{{data}}}, "kind": "{{type}}"}', "contentType": "application/json"})
    _, request = delivered(api, worker, plain, hook, data={"name": "Ana", "tags": ["a", 1, True]})
    assert request.json()["who"] == {"eventID": "1234", "activityID": "98", "personID": "5521",
                                     "date": request.json()["who"]["date"], "name": "Ana", "tags": ["a", 1, True]}


def test_the_slack_preset_says_one_line_naming_the_person_by_name_or_else_by_id(api, worker, plain):
    hook = create(api, plain.url, {"preset": "slack"}, type="eventCheckIn")
    _, named = delivered(api, worker, plain, hook, type="eventCheckIn", data={"name": "Ana Souza"})
    assert named.json() == {"text": "Ana Souza checked in to event 1234"}
    assert named.headers["content-type"] == "application/json"
    Verifier(hook["secret"]).verify(named.body, named.headers)
    plain.requests.clear()
    _, unnamed = delivered(api, worker, plain, hook, type="eventCheckIn", personID="77")
    assert unnamed.json() == {"text": "Person 77 checked in to event 1234"}


def test_slack_cannot_be_made_to_ping_a_channel_or_link_by_a_name(api, worker, plain):
    hook = create(api, plain.url, {"preset": "slack"})
    _, request = delivered(api, worker, plain, hook, data={"name": "<!channel> & <https://x.example|click>"})
    assert request.json() == {"text": "&lt;!channel&gt; &amp; &lt;https://x.example|click&gt; enrolled in activity 98"}


def test_the_teams_preset_sends_a_message_with_one_adaptive_card_whose_text_is_the_line(api, worker, plain):
    hook = create(api, plain.url, {"preset": "teams"}, type="speakerCreated")
    _, request = delivered(api, worker, plain, hook, type="speakerCreated", speakerID="77",
                           data={"name": "Dr. [Ana](https://x.example) Souza"})
    message = request.json()
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"]
    (block,) = card["body"]
    assert block == {"type": "TextBlock", "text": "Dr. \\[Ana\\](https://x.example) Souza was added to event 1234",
                     "wrap": True}


def test_every_type_has_its_own_readable_preset_line(api):
    from chalicelib.catalog import CATALOG
    from chalicelib.templates.presets import LINES

    assert set(CATALOG) <= set(LINES)
    assert len(set(LINES.values())) == len(LINES)


@pytest.mark.parametrize("template, says", [
    ({"body": '{"a": "{{#data}}"}', "contentType": "application/json"}, "does not parse"),
    ({"body": "{{> partial}}", "contentType": "text/plain"}, "partials"),
    ({"body": '{"a": {{data.personID}}x}', "contentType": "application/json"}, "not valid JSON"),
    ({"body": "{{{.}}}" * 585, "contentType": "text/plain"}, "64 KiB"),
    ({"body": "x" * 4097, "contentType": "text/plain"}, "4 KiB"),
    ({"body": "{}", "contentType": "text/html"}, "contentType"),
    ({"preset": "discord"}, "preset"),
    ({"preset": "slack", "body": "{}"}, "preset"),
    ({"body": 12}, "string"),
    ({"text": "{{type}}"}, "body and contentType"),
    ("not json", "JSON object"),
])
def test_a_template_is_checked_when_set_and_a_bad_one_is_400_on_template(api, template, says):
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url="http://127.0.0.1:9/x",
                            template=template)
    assert status == 400 and body["error"]["field"] == "template", body
    assert says in body["error"]["message"]
    assert api.call("webhook.find", eventID="1234")[1]["count"] == 0  # nothing was made
    hook = api.create("http://127.0.0.1:9/y")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], template=template)
    assert status == 400 and body["error"]["field"] == "template"


def test_the_template_is_checked_against_the_webhooks_own_type(api):
    # activityID is in an activityEnrollment's data, not in an eventCheckIn's: a number there is valid JSON
    # for one, and for the other leaves a hole.
    template = {"body": '{"activity": {{data.activityID}}}', "contentType": "application/json"}
    assert api.call("webhook.create", eventID="1234", type="activityEnrollment", url="http://127.0.0.1:9/a",
                    template=template)[0] == 201
    status, body = api.call("webhook.create", eventID="1234", type="eventCheckIn", url="http://127.0.0.1:9/b",
                            template=template)
    assert status == 400 and "eventCheckIn" in body["error"]["message"]


def test_update_sets_and_empty_object_removes_the_template_and_omitting_it_keeps_it(api, worker, plain):
    hook = api.create(plain.url)
    status, _ = api.call("webhook.update", webhookID=hook["webhookID"], template={"preset": "slack"})
    assert status == 200
    assert api.call("webhook.update", webhookID=hook["webhookID"], rateLimit=5)[0] == 200  # template not given: kept
    _, request = delivered(api, worker, plain, hook)
    assert request.json() == {"text": "Person 5521 enrolled in activity 98"}
    assert api.call("webhook.update", webhookID=hook["webhookID"], template={})[0] == 200
    plain.requests.clear()
    _, request = delivered(api, worker, plain, hook, personID="6")
    assert request.json()["type"] == "activityEnrollment" and request.json()["data"]["personID"] == "6"


def test_a_form_or_query_string_gives_the_template_as_json_text(api):
    hook = api.create("http://127.0.0.1:9/x")
    response = api.client.http.post("/api/webhook.update", headers={
        "authorization": f"Bearer {api.token}", "content-type": "application/x-www-form-urlencoded"},
        body="webhookID=" + hook["webhookID"] + "&template=%7B%22preset%22%3A%22teams%22%7D")
    assert response.status_code == 200, response.body
    status, example = api.call("webhook.requestExample", http="GET", webhookID=hook["webhookID"])
    assert example["template"] == {"preset": "teams"}


def test_the_template_stays_out_of_the_webhook_object_and_the_owners_listing(api):
    template = {"body": '{"t": "{{type}}"}', "contentType": "application/json"}
    hook = create(api, "http://127.0.0.1:9/x", template)
    assert "template" not in hook
    assert api.call("webhook.find", eventID="1234")[1]["data"] == [{k: v for k, v in hook.items() if k != "secret"}]
    services = get_services()
    listings = services.dynamodb.query(TableName=services.settings.table_name, KeyConditionExpression="pk = :pk",
                                       ExpressionAttributeValues={":pk": {"S": "EV#1234"}})["Items"]
    assert len(listings) == 1 and "template" not in listings[0]
    assert services.webhooks.get(hook["webhookID"]).template == template  # the webhook item keeps it


def test_request_example_shows_the_rendered_body_signed_and_the_template(api):
    template = {"body": "{{data.personID}} did {{type}}", "contentType": "text/plain"}
    hook = create(api, "http://127.0.0.1:9/x", template)
    status, example = api.call("webhook.requestExample", http="GET", webhookID=hook["webhookID"])
    assert status == 200
    assert example["body"] == "5521 did activityEnrollment" and example["payload"] is None
    assert example["headers"]["content-type"] == "text/plain" and example["template"] == template
    Verifier(hook["secret"]).verify(example["body"].encode(), example["headers"], json_parse=False)


def test_request_example_tries_a_template_without_setting_it(api):
    hook = api.create("http://127.0.0.1:9/x")
    status, example = api.call("webhook.requestExample", webhookID=hook["webhookID"], template={"preset": "slack"})
    assert status == 200 and example["payload"] == {"text": "Person 5521 enrolled in activity 98"}
    assert example["template"] == {"preset": "slack"}
    status, body = api.call("webhook.requestExample", webhookID=hook["webhookID"], template={"body": "{{#x}}"})
    assert status == 400 and body["error"]["field"] == "template"
    status, example = api.call("webhook.requestExample", webhookID=hook["webhookID"])
    assert example["template"] is None and example["payload"]["type"] == "activityEnrollment"  # nothing was set


def test_webhook_message_shows_the_rendered_body_that_was_sent(api, worker, plain):
    hook = create(api, plain.url, {"preset": "slack"})
    message_id, request = delivered(api, worker, plain, hook, data={"name": "Ana"})
    status, message = api.call("webhook.message", http="GET", webhookID=hook["webhookID"], messageID=message_id)
    assert status == 200
    assert message["request"]["body"] == request.body.decode() == '{"text":"Ana enrolled in activity 98"}'
    assert message["request"]["headers"]["webhook-signature"] == request.headers["webhook-signature"]


def test_a_test_send_is_shaped_by_the_template_too(api, plain):
    hook = create(api, plain.url, {"preset": "slack"})
    status, answer = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and answer["statusCode"] == 200
    (request,) = plain.wait_for(1)
    assert request.json() == {"text": "A test delivery from InEvent webhooks"}


def test_a_body_that_would_pass_64_kib_fails_the_attempt_with_an_error_that_says_so(api, worker, plain, settings):
    settings(RETRY_SCHEDULE="0s,1h")
    hook = create(api, plain.url, {"body": "{{data.blob}}{{data.blob}}{{data.blob}}", "contentType": "text/plain"})
    message_id = api.dispatch(data={"blob": "x" * 30_000})["messageID"]
    worker.run()
    record = stored_message(hook["webhookID"], message_id)
    (attempt,) = record["attempts"]
    assert attempt["statusCode"] is None and "64 KiB" in attempt["error"] and attempt["error"].startswith("not sent")
    assert record["status"] == "pending"  # retried on the schedule: the template may be fixed meanwhile
    assert plain.requests == []


def test_a_retry_after_the_template_was_fixed_sends_the_new_shape_with_the_same_webhook_id(api, worker, plain,
                                                                                              settings):
    settings(RETRY_SCHEDULE="0s,1s")
    hook = create(api, plain.url, {"body": "{{data.blob}}{{data.blob}}{{data.blob}}", "contentType": "text/plain"})
    message_id = api.dispatch(data={"blob": "x" * 30_000})["messageID"]
    worker.run()
    assert api.call("webhook.update", webhookID=hook["webhookID"],
                    template={"body": "{{data.personID}}", "contentType": "text/plain"})[0] == 200
    assert worker.run(until=lambda: plain.requests, timeout=10)
    (request,) = plain.wait_for(1)
    assert request.body == b"5521" and request.headers["webhook-id"] == message_id
    assert stored_message(hook["webhookID"], message_id)["sequence"] == 1


# A hostile template costs the others nothing measurable.

HOSTILE = {
    "sections nested over a large list":
        {"body": "{{#data.l}}" * 15 + "{{^x}}{{/x}}" + "{{/data.l}}" * 15, "contentType": "text/plain"},
    # Each turn writes all of data again (about 40 KB): thousands of turns, without a bound on the output.
    "a huge output": {"body": "{{#data.l}}{{{data}}}{{/data.l}}", "contentType": "text/plain"},
}


@pytest.mark.timing  # a time against a baseline of the same run: parallel load disturbs it
@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_template_fails_its_own_attempt_fast_and_costs_a_quiet_webhook_nothing(api, worker, settings, kind):
    """A quiet webhook's delivery, timed until the worker is free again (on Lambda, until the
    invocation ends and takes the next batch): alone, beside a templated webhook whose endpoint
    fails (its attempt fails, is recorded and scheduled again, and marks it held, as the hostile
    one's does), and beside the hostile one's, each message of the two webhooks in one batch."""
    settings(RETRY_SCHEDULE="0s,1h")
    data = {"l": list(range(8000))}  # about the longest list a 64 KiB delivered body holds
    with Receiver(check_schema=False) as quiet_end, Receiver(check_schema=False) as other_end:
        api.create(quiet_end.url, event_id="1")
        api.dispatch(event_id="1", person_id="warm-up", data=data)
        assert worker.run(until=lambda: len(quiet_end.requests) == 1)
        alone = min(delivery_time(api, worker, quiet_end, n, data) for n in range(3))
        other_end.rule = lambda request, earlier: 500  # the failing one's endpoint
        failing = create_in(api, "1", other_end.url + "/failing", {"preset": "slack"})
        beside_failing = min(delivery_time(api, worker, quiet_end, n, data, failing) for n in range(3, 6))
        assert api.call("webhook.remove", webhookID=failing)[0] == 200
        hostile = create_in(api, "1", other_end.url + "/hostile", HOSTILE[kind])  # the example has no list: it passes
        beside_hostile = min(delivery_time(api, worker, quiet_end, n, data, hostile) for n in range(6, 9))
        assert [r.path for r in other_end.requests] == ["/failing"] * 3  # the hostile one sent nothing
    (record,) = get_services().log.page(hostile, time.time(), limit=1)[0]
    (attempt,) = record.attempts
    assert attempt["error"].startswith("not sent: the ") and int(attempt["durationMs"]) < 50
    print(f"\n{kind}: a quiet delivery alone {alone * 1000:.1f} ms, beside a failing templated webhook's "
          f"{beside_failing * 1000:.1f} ms, beside the hostile one's {beside_hostile * 1000:.1f} ms")
    assert beside_hostile < 1.5 * beside_failing + 0.05, (beside_failing, beside_hostile)
    assert beside_hostile < 3 * alone + 0.1, (alone, beside_hostile)


def create_in(api, event_id, url, template):
    status, body = api.call("webhook.create", eventID=event_id, type="activityEnrollment", url=url, template=template)
    assert status == 201, body
    return body["webhookID"]


def delivery_time(api, worker, receiver, n, data, other=None):
    """Seconds from one dispatch until the quiet receiver has it and the worker is done with the
    batch (``other``'s attempt recorded too)."""
    before = len(receiver.requests)
    started = time.perf_counter()
    message_id = api.dispatch(event_id="1", person_id=f"p{n}", data=data)["messageID"]
    log = get_services().log

    def done():
        return len(receiver.requests) > before and (other is None or log.get(other, message_id) is not None)

    assert worker.run(until=done, timeout=300)
    return time.perf_counter() - started


WORST = {  # the costliest shapes per step we know, each over the longest list a delivered body holds
    "nested empty sections": ("l", "{{#data.l}}" * 15 + "{{^x}}{{/x}}" + "{{/data.l}}" * 15),
    "escaped values": ("l", '[{{#data.l}}"{{.}}{{.}}{{.}}{{.}}",{{/data.l}}""]'),
    "objects written as JSON": ("o", '[{{#data.o}}"{{.}}{{a}}{{a.b}}",{{/data.o}}""]'),
    "lookups that walk every frame": ("l", "{{#data.l}}" * 15 + "{{zz}}{{zz.y}}" + "{{/data.l}}" * 15),
}
LISTS = {"l": list(range(11000)), "o": [{"a": {"b": "c"}}] * 3500}  # each body just under 64 KiB


def cpu(work):
    best = float("inf")
    for _ in range(5):
        started = time.thread_time()
        work()
        best = min(best, time.thread_time() - started)
    return best


@pytest.mark.timing  # a time against a baseline of the same run: parallel load disturbs it
@pytest.mark.parametrize("shape", WORST)
def test_the_worst_template_over_the_largest_body_stops_at_its_work_budget(shape):
    """The work counter, not a clock, stops a render: the worst template over the largest body
    costs a few times what parsing that body costs (timed in the same run), whatever the list."""
    key, text = WORST[shape]
    body = json.dumps({"type": "activityEnrollment", "data": {key: LISTS[key]}}, separators=(",", ":"))
    assert len(body) <= 64 * 1024
    template = {"body": text, "contentType": "application/json"}

    def render():
        with pytest.raises(webhook_template.TemplateFailed, match="steps of work"):
            webhook_template.shaped(template, body)

    rendering, parsing = cpu(render), cpu(lambda: json.loads(body))
    print(f"\n{shape}: {rendering * 1000:.2f} ms of CPU, parsing the body {parsing * 1000:.2f} ms")
    assert rendering < 10 * parsing, (rendering, parsing)


def test_no_functions_cold_start_imports_the_templates():
    # Imported by a templated webhook's first delivery, or a method given a template, not before.
    code = ("import sys, app, chalicelib.delivery.worker, chalicelib.services; "
            "print(sorted(m for m in sys.modules if m.startswith('chalicelib.templates')))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_a_template_is_checked_against_every_type_of_the_webhook(api):
    # {{{data.personID}}} writes the value as JSON text: nothing for a type without a person, so the
    # JSON is invalid for speakerCreated (the later of the two in catalog order) and valid for
    # eventCheckIn and activityEnrollment (sections 17 and 21).
    template = {"body": '{"person": {{{data.personID}}}}'}
    status, body = api.call("webhook.create", eventID="1234", types=["eventCheckIn", "speakerCreated"],
                            url="http://127.0.0.1:9/a", template=template)
    assert (status, body["error"]["field"]) == (400, "template") and "speakerCreated" in body["error"]["message"]
    status, hook = api.call("webhook.create", eventID="1234", types=["eventCheckIn", "activityEnrollment"],
                            url="http://127.0.0.1:9/a", template=template)
    assert status == 201, hook
    # New types keep the template only if it renders them too.
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], types=["eventCheckIn", "speakerCreated"])
    assert (status, body["error"]["field"]) == (400, "template")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], types="*", template={})
    assert status == 200 and body["types"] == ["*"]
    # requestExample renders the type asked for, with the template tried.
    status, example = api.call("webhook.requestExample", webhookID=hook["webhookID"], type="speakerCreated",
                               template={"preset": "slack"})
    assert status == 200 and example["template"] == {"preset": "slack"} and "Speaker" in example["payload"]["text"]
