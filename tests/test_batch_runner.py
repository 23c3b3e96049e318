"""The delivery worker's batch runner: jobs in turn on the calling thread, more threads only while one is slow."""

import threading
import time

import pytest

from chalicelib.batch_runner import BatchRunner


def test_quick_jobs_run_in_turn_on_the_calling_thread_and_answer_in_order():
    ran = []

    def job(n):
        ran.append((n, threading.current_thread()))
        return n * n

    assert BatchRunner(slow_after=1.0).run([lambda n=n: job(n) for n in range(10)]) == [n * n for n in range(10)]
    assert ran == [(n, threading.current_thread()) for n in range(10)]


def test_a_slow_job_holds_the_ones_behind_it_back_by_slow_after_at_most():
    released, done = threading.Event(), {}

    def slow():
        released.wait(10)
        done["slow"] = time.monotonic()

    def quick(n):
        done[n] = time.monotonic()
        if n == 3:
            released.set()  # the slow one ends only once every quick one behind it has

    started = time.monotonic()
    BatchRunner(slow_after=0.02).run([slow] + [lambda n=n: quick(n) for n in range(1, 4)])
    assert max(done[n] for n in range(1, 4)) <= done["slow"]
    assert done[1] - started < 1.0


def test_no_more_threads_than_allowed_run_at_once():
    running, most, lock, gate = [0], [0], threading.Lock(), threading.Event()

    def job(n):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(0.3)  # every job is slow
        with lock:
            running[0] -= 1
        return n

    assert BatchRunner(threads=3, slow_after=0.01).run([lambda n=n: job(n) for n in range(8)]) == list(range(8))
    assert most[0] == 3


def test_each_thread_that_finds_no_job_left_says_so_before_the_run_ends():
    released, calls = threading.Event(), []

    def slow():
        released.wait(10)

    def quick():
        released.set()

    BatchRunner(slow_after=0.02).run([slow, quick], when_none_left=lambda: calls.append(threading.current_thread()))
    assert len(calls) == 2 and threading.current_thread() in calls


def test_a_job_that_raises_raises_once_every_job_has_ended():
    ended = []

    def bad():
        raise ValueError("bad job")

    def good():
        time.sleep(0.05)
        ended.append("good")

    with pytest.raises(ValueError, match="bad job"):
        BatchRunner(slow_after=0.01).run([bad, good])
    assert ended == ["good"]


def test_a_run_does_not_wait_for_a_thread_that_other_runs_keep_busy():
    runner, released = BatchRunner(threads=2, slow_after=0.01), threading.Event()
    first = threading.Thread(target=runner.run, args=([lambda: released.wait(10), lambda: released.wait(10)],),
                             daemon=True)
    first.start()  # its two slow jobs hold the calling thread and the one spare thread
    time.sleep(0.2)
    started = time.monotonic()
    assert runner.run([lambda: time.sleep(0.05), lambda: "quick"]) == [None, "quick"]
    assert time.monotonic() - started < 1.0  # the thread it asked for never came; it did not wait for it
    released.set()
    first.join(10)


def test_a_thread_asked_for_and_never_started_is_let_go_once_whichever_threads_find_no_job_left():
    runner, released = BatchRunner(threads=3, slow_after=0.01), threading.Event()
    first = threading.Thread(target=runner.run, args=([lambda: released.wait(10), lambda: released.wait(10)],),
                             daemon=True)
    first.start()  # holds one of the two spare threads
    time.sleep(0.2)
    outcome = []
    second = threading.Thread(target=lambda: outcome.append(
        runner.run([lambda: time.sleep(0.05), lambda: time.sleep(0.05), lambda: "a", lambda: "b"])), daemon=True)
    second.start()  # its second job takes the other spare; the third thread it asks for never comes
    second.join(2)
    released.set()
    first.join(10)
    assert outcome == [[None, None, "a", "b"]]


def test_after_each_job_its_thread_is_told_how_long_it_took():
    took = []
    BatchRunner(slow_after=1.0).run([lambda: time.sleep(0.05), lambda: None], after_each=took.append)
    assert len(took) == 2 and took[0] >= 0.05 > took[1]


def test_what_follows_a_job_counts_as_the_job_in_holding_the_next_ones_back():
    started, began = {}, time.monotonic()

    def job(n):
        started[n] = time.monotonic() - began

    def after(seconds):
        if len(started) == 1:
            time.sleep(0.3)  # as a record written behind another batch's

    BatchRunner(slow_after=0.01).run([lambda n=n: job(n) for n in range(3)], after_each=after)
    assert started[1] < 0.2


def test_a_thread_that_cannot_be_started_is_not_waited_for_and_its_queued_work_does_nothing(monkeypatch):
    runner, gate = BatchRunner(threads=3, slow_after=0.01, gather_for=0.05), threading.Event()
    runner._spare_thread().submit(lambda: gate.wait(0.3))  # a pool thread, busy for a while
    start, failures = threading.Thread.start, [1]

    def start_or_fail(thread):
        if thread.name.startswith("deliver") and failures:
            failures.pop()
            raise RuntimeError("can't start new thread")
        return start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_or_fail)
    ran = []

    def job(n, seconds):
        time.sleep(seconds)
        ran.append(n)
        return n

    assert runner.run([lambda: job(0, 0.5), lambda: job(1, 0.4), lambda: job(2, 0.0)]) == [0, 1, 2]
    assert sorted(ran) == [0, 1, 2]


def test_the_watchdog_lives_on_when_a_deadline_cannot_be_enforced():
    from chalicelib.deadlines import _WATCHDOG, Alarm

    class Broken:
        at, over = time.monotonic(), False

        def expire(self):
            raise TypeError("not a socket")

    _WATCHDOG.watch(Broken())
    rang = threading.Event()
    Alarm(time.monotonic() + 0.05, rang.set)
    assert rang.wait(2)
