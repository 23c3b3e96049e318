"""Creating webhooks on the local run (contract, sections 10 and 17), where requests really race: the
cap of 200 webhooks under racing creations, the types of one url under racing creations, a creation
racing a removal; and the local AWS backend's ports closed to webhooks though loopback is allowed."""

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from dev.local_service import start_local_service


@pytest.fixture(scope="module")
def service():
    """One local run for the module: its tests each use an event of their own."""
    local = start_local_service({"WEBHOOK_DENY_PORTS": ""})
    printed = local.wait_ready()
    yield local, printed
    local.process.kill()
    local.process.wait()


def test_webhooks_of_one_url_never_share_a_type_however_many_creations_race(service):
    # Before the cap's test, whose 200 webhooks make every later transaction slower on moto.
    local, _ = service  # contract, section 17: the url's claims are taken in the webhook's own transaction
    choices = [["eventCheckIn"], ["eventCheckIn", "eventEnd"], ["eventEnd", "speakerCreated"], ["*"],
               ["speakerCreated"], ["speakerEdited", "eventCheckIn"], ["speakerEdited"], ["activityCreated"]]

    def create(n):
        return local.call("webhook.create", local.token, eventID="types-race", types=choices[n % len(choices)],
                          url="http://127.0.0.1:9/same")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(create, range(32)))
    assert {status for status, _ in answers} == {201, 409}, Counter(status for status, _ in answers)
    made = [body for status, body in answers if status == 201]
    taken = [t for body in made for t in body["types"]]
    assert len(taken) == len(set(taken)) and ("*" not in taken or len(made) == 1), made
    listed = local.call("webhook.find", local.token, eventID="types-race")[1]["data"]
    assert sorted(h["webhookID"] for h in listed) == sorted(h["webhookID"] for h in made)


def test_an_event_holds_at_most_200_webhooks_however_many_creations_race(service):
    local, _ = service

    def create(n):
        return local.call("webhook.create", local.token, eventID="cap", type="eventCheckIn",
                          url=f"http://127.0.0.1:9/hook/{n}")[0]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(create, range(240)))
    assert statuses.count(201) == 200 and set(statuses) == {201, 400}, Counter(statuses)
    assert local.call("webhook.find", local.token, eventID="cap")[1]["count"] == 200


def test_a_creation_racing_the_removal_of_the_same_webhook_never_answers_503(service):
    local, _ = service
    params = {"eventID": "race", "type": "eventCheckIn", "url": "http://127.0.0.1:9/same"}

    def create_then_remove(_):
        status, body = local.call("webhook.create", local.token, **params)
        answers = [status]
        if status == 201:
            answers.append(local.call("webhook.remove", local.token, webhookID=body["webhookID"])[0])
        return answers

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [status for statuses in pool.map(create_then_remove, range(80)) for status in statuses]
    assert set(answers) <= {200, 201, 404, 409} and 201 in answers, Counter(answers)


def test_webhooks_cannot_reach_the_local_aws_backend_though_loopback_is_allowed(service):
    local, printed = service
    backend_ports = re.findall(r"http://127\.0\.0\.1:(\d+)", printed.split("AWS backend:")[1].splitlines()[0])
    assert len(backend_ports) == 2
    for port in backend_ports + [str(local.port)]:
        status, body = local.call("webhook.create", local.token, eventID="own", type="eventCheckIn",
                                  url=f"http://127.0.0.1:{port}/")
        assert (status, body["error"]["code"]) == (400, "unsafe_url"), port
    assert local.call("webhook.create", local.token, eventID="own", type="eventCheckIn",
                      url="http://127.0.0.1:9/elsewhere")[0] == 201
