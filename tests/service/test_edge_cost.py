"""What a caller without a valid token can cost: linear, bounded work, and no read of the table
until the token has the form the service issues (issue 19)."""

import json

import pytest

from chalicelib.ids import new_token
from chalicelib.services import get_services
from dev.adversarial_input import MIB, a_valid_body, adversarial_bodies, unauthenticated_ratios


def test_the_adversarial_bodies_are_as_large_as_the_api_takes():
    assert MIB - 1000 < len(a_valid_body()) <= MIB
    for name, (path, _, body) in adversarial_bodies().items():
        assert len(body) <= MIB and len(path) <= MIB + 30, name


@pytest.mark.timing  # a time against a baseline of the same run: parallel load disturbs it
def test_no_input_costs_an_unauthenticated_caller_more_than_parsing_valid_json(client):
    ratios, answers = unauthenticated_ratios(client)
    for name, answer in answers.items():
        assert 400 <= answer.status_code < 500, (name, answer.body[:200])
    slow = {name: round(ratio, 1) for name, ratio in ratios.items() if ratio > 3}
    assert not slow, f"unauthenticated calls slower than 3x json.loads of a valid 1 MiB body: {slow}"


def count_table_reads():
    reads = []
    get_services().dynamodb.meta.events.register("before-call.dynamodb", lambda **kwargs: reads.append(1))
    return reads


@pytest.mark.parametrize("token", ["x", "tok_nope", "tok_" + "a" * 42, "tok_" + "a" * 44, "tok_" + "+" * 43,
                                   "\ud800" * 47, "x" * 5000], ids=lambda token: token[:12])
@pytest.mark.parametrize("carrier", ["header", "json", "form", "query"])
def test_a_token_not_in_the_issued_form_is_refused_without_reading_the_table(client, token, carrier):
    reads = count_table_reads()
    headers = {"content-type": "application/json"}
    path, body = "/api/webhook.find", json.dumps({"eventID": "1234"})
    if carrier == "header":
        headers["authorization"] = f"Bearer {token}"
    elif carrier == "json":
        body = json.dumps({"eventID": "1234", "tokenID": token})
    elif carrier == "form":
        headers["content-type"] = "application/x-www-form-urlencoded"
        body = "eventID=1234&tokenID=" + token.encode("utf-8", "surrogatepass").hex()
    else:
        path += "?tokenID=" + token.encode("ascii", "replace").decode()
    answer = client.http.post(path, headers=headers, body=body)
    assert answer.status_code == 401, answer.body
    assert json.loads(answer.body)["error"]["code"] == "unauthorized"
    assert reads == []


def test_a_malformed_header_token_is_refused_before_the_body_is_read(client):
    reads = count_table_reads()
    answer = client.http.post("/api/webhook.find", headers={"authorization": "Bearer tok_nope",
                                                            "content-type": "application/json"}, body='{"a": [')
    assert answer.status_code == 401  # not 400: the body was not parsed
    assert reads == []


def test_a_well_formed_token_is_looked_up(client):
    reads = count_table_reads()
    answer = client.http.post("/api/webhook.find", headers={"authorization": f"Bearer {new_token()}"},
                              body=json.dumps({"eventID": "1234"}))
    assert answer.status_code == 401
    assert len(reads) == 1  # one read: the token, refused as unknown


def test_the_local_runs_chosen_admin_token_is_accepted_whatever_its_form(client, settings):
    from chalicelib.ids import hash_token
    from chalicelib.store.tokens import Grant

    settings(INEVENT_DEV_TOKEN="my-dev-token")
    get_services().tokens.put(hash_token("my-dev-token"), Grant(admin=True), "0")
    answer = client.http.get("/api/webhook.find?eventID=1234", headers={"authorization": "Bearer my-dev-token"})
    assert answer.status_code == 200, answer.body
