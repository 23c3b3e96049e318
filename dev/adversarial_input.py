"""What a caller without a token can make the API do: 1 MiB requests built to cost the most,
timed against ``json.loads`` of a valid 1 MiB body (tests/service/test_edge_cost.py and ``make bench``)."""

import json
import time

MIB = 1024 * 1024


def adversarial_bodies():
    """1 MiB requests a caller needs no token to send: (path, content type, body)."""
    many_keys = ",".join(f'"k{i}":0' for i in range(MIB // 12))
    return {
        # the string never closes; each \" is an escaped quote (quadratic in the old nesting check)
        "unclosed string of escapes": ("/api/webhook.find", "application/json", '{"a":"' + '\\"' * (MIB // 2 - 8)),
        "unclosed string, token in the body": ("/api", "application/json",
                                               '{"action":"webhook.find","tokenID":"x","a":"' + '\\"' * (MIB // 2 - 40)),
        "unclosed unicode escapes": ("/api/webhook.find", "application/json", '{"a":"' + "\\u0041" * (MIB // 6 - 2)),
        "deep arrays": ("/api/webhook.find", "application/json", '{"a":' + "[" * (MIB - 8)),
        "deep objects": ("/api/webhook.find", "application/json", '{"a":' * (MIB // 5)),
        "long integer": ("/api/webhook.find", "application/json", '{"a":' + "1" * (MIB - 8) + "}"),
        "long fraction": ("/api/webhook.find", "application/json", '{"a":1.' + "1" * (MIB - 10) + "}"),
        "long exponent": ("/api/webhook.find", "application/json", '{"a":1e' + "1" * (MIB - 10) + "}"),
        "many keys": ("/api/webhook.find", "application/json", "{" + many_keys + "}"),
        "many keys, nested": ("/api/webhook.find", "application/json", '{"data":{' + many_keys + "}}"),
        "many numbers": ("/api/webhook.find", "application/json", '{"data":[' + ",".join(["0"] * (MIB // 2 - 8)) + "]}"),
        "many strings": ("/api/webhook.find", "application/json", '{"data":[' + ",".join(['""'] * (MIB // 3 - 8)) + "]}"),
        "many form fields": ("/api/webhook.find", "application/x-www-form-urlencoded", "a=1&" * (MIB // 4)),
        "a form field of escapes": ("/api/webhook.find", "application/x-www-form-urlencoded", "a=" + "%41" * (MIB // 3 - 1)),
        "long query string": ("/api/webhook.find?a=" + "x" * (MIB - 30), "application/json", ""),
        # chalice parses the query string before the app; API Gateway takes 10 KiB of it, the local
        # server 64 KiB (dev/api_server.py)
        "many query parameters": ("/api/webhook.find?" + "&".join(f"a{i}=1" for i in range(8000)), "application/json", ""),
    }


def a_valid_body():
    """A dispatch-like JSON body of 1 MiB: records of people, as the platform sends them."""
    people, size = [], 0
    while size < MIB - 300:
        person = {"personID": str(1000 + len(people)), "name": f"Person number {len(people)}", "score": len(people) * 1.5,
                  "tags": ["speaker", "vip"], "checkedIn": True}
        people.append(person)
        size += len(json.dumps(person)) + 2
    return json.dumps({"eventID": "1234", "type": "activityEnrollment", "data": {"people": people}})


def best_of(runs, work):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def unauthenticated_ratios(client, runs=3, rounds=3, enough=3.0):
    """Each adversarial request's best time through ``client`` (chalice's test client), over the
    best time of ``json.loads`` of :func:`a_valid_body` measured just before. A case above
    ``enough`` is measured again (up to ``rounds`` times): the machine may be shared."""
    valid = a_valid_body()
    ratios, answers = {}, {}
    for _ in range(rounds):
        baseline = best_of(5, lambda: json.loads(valid))
        for name, (path, content_type, body) in adversarial_bodies().items():
            if ratios.get(name, enough + 1) <= enough:
                continue

            def call(path=path, content_type=content_type, body=body, name=name):
                answers[name] = client.http.post(path, headers={"content-type": content_type}, body=body)

            ratios[name] = best_of(runs, call) / baseline
    return ratios, answers


# Chunked bodies on the local API server (dev/api_server.py) --------------------------------------

def post_and_time(port, head, parts):
    """A POST to the local API server on ``port`` with the header lines ``head`` and the body in
    ``parts``, sent from a thread of its own on a fresh loopback connection; returns (seconds until
    the whole answer came, its status)."""
    import socket
    import threading

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)

    def send():
        try:
            sock.sendall(b"POST /api/webhook.find HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + head + b"\r\n")
            for part in parts:
                sock.sendall(part)
        except OSError:
            pass  # the server answered and closed before all of it was sent

    started = time.perf_counter()
    sender = threading.Thread(target=send)
    sender.start()
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    seconds = time.perf_counter() - started
    sender.join()
    sock.close()
    return seconds, int(answer.split()[1]) if answer else None


def chunked(chunks, extension=b""):
    """A chunked body's bytes, in parts of 64 KiB: each chunk framed (with ``extension``), then the last."""
    framed = b"".join(b"%x%s\r\n%s\r\n" % (len(c), extension, c) for c in chunks)
    return [framed[i:i + 65536] for i in range(0, len(framed), 65536)] + [b"0\r\n\r\n"]


def dearest_chunked(size):
    """The dearest chunked body of ``size`` bytes the local API server still reads: in the most
    chunks, with the most framing."""
    from dev.api_server import MAX_CHUNKS, MAX_FRAMING_BYTES

    count = min(size, MAX_CHUNKS)
    return chunked([b" " * (size // count)] * count, b";" + b"x" * (MAX_FRAMING_BYTES // count - 16))


def chunked_costs(port, size, rounds=9):
    """The quickest of ``rounds`` interleaved POSTs without a token (answered 401) of a plain body
    of ``size`` bytes, of :func:`dearest_chunked` of that size, and of a million one-byte chunks
    (refused 413): ``{"plain": (seconds, status), "dearest": ..., "a million one-byte chunks": ...}``."""
    kinds = {"plain": (b"Content-Length: %d\r\n" % size, [b" " * size]),
             "dearest": (b"Transfer-Encoding: chunked\r\n", dearest_chunked(size)),
             "a million one-byte chunks": (b"Transfer-Encoding: chunked\r\n", chunked([b" "] * 1_000_000))}
    found = {name: [] for name in kinds}
    for _ in range(rounds):  # interleaved, and the quickest of each kept: the machine may be shared
        for name, (head, parts) in kinds.items():
            found[name].append(post_and_time(port, head, parts))
    return {name: min(times) for name, times in found.items()}
