"""A batch's jobs, run in turn on the calling thread, and on more threads only while one is slow.

The delivery worker's jobs are mostly quick (a POST to an endpoint that answers in a few
milliseconds) and sometimes slow (an endpoint that takes seconds, or never answers). Run all
on threads at once and every job pays for a thread's hand-over, as much CPU as the POST itself;
run them one after another and one slow endpoint holds up the rest. So jobs start in order on
the calling thread; whenever a thread's job has run for ``slow_after`` seconds, the next job
starts on another thread, and so on, up to ``threads`` at once. A slow job holds the ones behind
it back by ``slow_after`` at most (when a thread is to be had: runs made at the same time share
the threads, as the local run's pollers do; Lambda makes one at a time).
"""

import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from chalicelib.deadlines import Alarm


class BatchRunner:
    """Runs jobs as the module docstring says; made once, used for batch after batch."""

    def __init__(self, threads=10, slow_after=0.002, gather_for=0.1):
        self._threads = threads
        self._slow_after = slow_after
        self._gather_for = gather_for
        self._executor = None
        self._lock = threading.Lock()

    def run(self, jobs, after_each=None, when_none_left=None):
        """Run every job (a callable of no arguments); return their results, in order. A job that
        raised raises here, once all have ended.

        ``after_each``, if given, is called with the seconds a job took, on its thread, after it.

        ``when_none_left``, if given, is called by each thread that finds no job left to start,
        once every other thread has too, or ``gather_for`` seconds later if one is still busy
        with a slow job: so what the jobs left to do afterwards (the worker's records) is done
        once for the batch, and a slow job holds it back by ``gather_for`` at most."""
        run = _Run(list(jobs), self, after_each, when_none_left)
        run.work()
        run.wait()
        return run.results()

    def _spare_thread(self):
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self._threads - 1, thread_name_prefix="deliver")
            return self._executor


class _Run:
    """One call of :meth:`BatchRunner.run`."""

    def __init__(self, jobs, runner, after_each, when_none_left):
        self._jobs = jobs
        self._runner = runner
        self._after_each = after_each
        self._when_none_left = when_none_left
        self._waiting = deque(range(len(jobs)))
        self._outcomes = [None] * len(jobs)
        self._threads = 1  # the calling thread
        self._idle = 0  # threads that found no job left
        self._failure = None
        self._helpers = []  # the threads asked for (each a _Helper), not yet withdrawn
        self._changed = threading.Condition()

    def work(self):
        """Take jobs in turn until none is left; then ``when_none_left``."""
        idle = False
        try:
            while True:
                with self._changed:
                    if not self._waiting:
                        break
                    index = self._waiting.popleft()
                started = time.monotonic()
                alarm = Alarm(started + self._runner._slow_after, self._slow)  # over the job and after_each
                try:
                    try:
                        self._outcomes[index] = (True, self._jobs[index]())
                    except BaseException as exc:  # noqa: BLE001 - raised by run(), once every job has ended
                        self._outcomes[index] = (False, exc)
                    if self._after_each is not None:
                        self._after_each(time.monotonic() - started)
                finally:
                    alarm.call_off()
            self._cancel_unstarted()
            if self._when_none_left is not None:
                idle = True
                self._wait_for_the_others()
                self._when_none_left()
        except BaseException as exc:  # noqa: BLE001 - raised by run(), once every job has ended
            self._failure = exc
        finally:
            self._cancel_unstarted()
            with self._changed:
                self._threads -= 1
                self._idle -= idle  # those still at work are waited for by the ones still idle
                self._changed.notify_all()

    def _wait_for_the_others(self):
        """Until every thread of the run has found no job left, or ``gather_for`` has passed."""
        with self._changed:
            self._idle += 1
            self._changed.notify_all()
            until = time.monotonic() + self._runner._gather_for
            while self._idle < self._threads and (left := until - time.monotonic()) > 0:
                self._changed.wait(left)

    def _cancel_unstarted(self):
        """Threads asked for but not started yet (the pool is busy with other runs' slow jobs)
        have nothing left to do: the run does not wait for them."""
        with self._changed:
            helpers, self._helpers = self._helpers, []
            for helper in helpers:
                self._withdraw(helper)
            self._changed.notify_all()

    def _withdraw(self, helper):
        # Called with self._changed held: a helper not started yet never will, and is not counted.
        if helper.pending:
            helper.pending = False
            self._threads -= 1

    def _help(self, helper):
        """A thread asked for by :meth:`_slow`: works for the run unless it was withdrawn meanwhile."""
        with self._changed:
            if not helper.pending:
                return
            helper.pending = False
        self.work()

    def _slow(self):
        """A job has run for ``slow_after``: the next one starts on another thread (on the
        watchdog's thread: quick, never blocking)."""
        with self._changed:
            if not self._waiting or self._threads >= self._runner._threads:
                return
            helper = _Helper()
            self._helpers.append(helper)
            self._threads += 1  # counted until it works for the run or is withdrawn
            try:
                self._runner._spare_thread().submit(self._help, helper)
            except RuntimeError:  # no thread to be had (none can start, or the interpreter is ending)
                self._withdraw(helper)  # its work item, if queued all the same, will find it withdrawn
                self._changed.notify_all()

    def wait(self):
        with self._changed:
            while self._threads > 0:
                self._changed.wait()

    def results(self):
        if self._failure is not None:
            raise self._failure
        for ok, value in self._outcomes:
            if not ok:
                raise value
        return [value for _, value in self._outcomes]


class _Helper:
    """A thread asked for by a run: pending until it starts working for the run or is withdrawn."""

    def __init__(self):
        self.pending = True
