"""Jobs on QThreads: results, progress, errors and cancellation arrive as signals."""

from __future__ import annotations

import time

import pytest

from x2studio.core.errors import InputError
from x2studio.workers.jobs import JobRunner

pytestmark = pytest.mark.gui


def test_job_succeeds_with_progress(qtbot) -> None:
    runner = JobRunner()
    events = []

    def work(job):
        for i in range(5):
            job.progress(i + 1, 5, f"step {i}")
        return 42

    handle = runner.start("count", work)
    handle.progress.connect(events.append)
    with qtbot.waitSignal(handle.succeeded, timeout=5000) as blocker:
        pass
    assert blocker.args == [42]
    qtbot.waitUntil(lambda: not runner.active(), timeout=5000)
    assert handle.outcome == "succeeded"


def test_a_job_is_not_working_once_its_result_arrives(qtbot) -> None:
    """A panel may start its next job from a job's success slot: by then the job is no longer working,
    though its thread may still be winding down (the Retrieve panel's follow-up query was refused
    as "busy" when it asked whether the thread ran)."""
    runner = JobRunner()
    seen = []
    handle = runner.start("quick", lambda job: 1, on_success=lambda r: seen.append(handle.is_working()))
    assert handle.is_working()
    qtbot.waitUntil(lambda: not runner.active(), timeout=5000)
    assert seen == [False] and not handle.is_working() and not handle.is_running()


def test_user_error_arrives_as_message(qtbot) -> None:
    runner = JobRunner()
    failures = []
    runner.jobFailed.connect(lambda title, msg, details: failures.append((title, msg, details)))

    def work(job):
        raise InputError("The file 'x.mp4' does not exist.", "Check the path.")

    runner.start("open", work)
    qtbot.waitUntil(lambda: bool(failures), timeout=5000)
    assert failures[0][:2] == ("open", "The file 'x.mp4' does not exist. — Check the path.")
    qtbot.waitUntil(lambda: not runner.active(), timeout=5000)


def test_unexpected_error_has_details(qtbot) -> None:
    runner = JobRunner()
    got = []

    def work(job):
        return 1 / 0

    runner.start("divide", work, on_failure=lambda m, d: got.append((m, d)))
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert "ZeroDivisionError" in got[0][0] and "Traceback" in got[0][1]
    qtbot.waitUntil(lambda: not runner.active(), timeout=5000)


def test_cancel_stops_a_running_job(qtbot) -> None:
    runner = JobRunner()

    def work(job):
        for i in range(10_000):
            job.progress(i, 10_000)
            time.sleep(0.001)
        return "finished"

    handle = runner.start("long", work)
    qtbot.wait(50)
    with qtbot.waitSignal(handle.cancelled, timeout=5000):
        handle.cancel()
    qtbot.waitUntil(lambda: not runner.active(), timeout=5000)
    assert handle.outcome == "cancelled"


def test_shutdown_waits_for_threads(qtbot) -> None:
    runner = JobRunner()

    def work(job):
        while True:
            job.progress(0)
            time.sleep(0.005)

    runner.start("forever", work)
    qtbot.wait(30)
    assert runner.shutdown(5000)
    qtbot.waitUntil(lambda: not runner.active(), timeout=5000)


def test_leak_guard_sees_a_running_thread(qtbot) -> None:
    """The conftest guard relies on running_threads(); prove it sees a live thread."""
    from x2studio.workers.threads import make_thread, running_threads

    thread = make_thread("probe")
    thread.start()
    try:
        assert thread in running_threads()
    finally:
        thread.quit()
        thread.wait(5000)
    assert thread not in running_threads()


def test_latest_wins_serves_an_equal_request_that_came_while_busy(qtbot) -> None:
    """A request equal to (even the same object as) the one being handled, arriving meanwhile, is a
    new request: it is served, not taken as done (the live violin's frames were lost that way)."""
    import threading

    from x2studio.workers.latest import LatestWins, LatestWinsServer

    started, release = threading.Event(), threading.Event()

    class Slow(LatestWins):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def handle(self, req):
            self.n += 1
            if self.n == 1:
                started.set()
                release.wait(5)
            return {"n": self.n}

    server = LatestWinsServer(Slow(), "latest-test")
    server._start()
    got = []
    server.result.connect(got.append)
    try:
        server._want("estimate")
        assert started.wait(5)
        server._want("estimate")         # the same string object, while the first is handled
        release.set()
        qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
        assert [g["n"] for g in got] == [1, 2]
    finally:
        release.set()
        server.shutdown()


def test_shutdown_releases_on_the_worker_thread_after_the_busy_request(qtbot) -> None:
    """Shutting down while a request is being handled: the worker's release (closing its decoder)
    runs on the worker's own thread once that request is done, never on the GUI thread beside it
    (a segfault in the Reenact panel's teardown), and it does run (a quit() dropped it before);
    requests made after the shutdown began are not served."""
    import threading

    from PySide6.QtCore import QCoreApplication

    from x2studio.workers.latest import LatestWins, LatestWinsServer

    started = threading.Event()
    log: list = []

    class Busy(LatestWins):
        def handle(self, req):
            log.append(("handle", req, threading.get_ident()))
            started.set()
            time.sleep(0.3)
            log.append(("handled", req))
            return {"req": req}

        def release(self) -> None:
            log.append(("release", threading.get_ident()))

    worker = Busy()
    server = LatestWinsServer(worker, "shutdown-test")
    server._start()
    server._want(1)
    assert started.wait(5)
    server.shutdown()
    server._want(2)                       # too late: nothing is served after the shutdown
    assert not server._thread.isRunning()
    assert [e[0] for e in log] == ["handle", "handled", "release"]
    worker_thread = log[0][2]
    assert log[2][1] == worker_thread != threading.get_ident()
    assert worker.thread() is QCoreApplication.instance().thread()


def test_frame_server_closes_its_reader_on_its_thread(qtbot, clip) -> None:
    """The media decoder's finish runs before its thread ends, so the open video is closed."""
    from x2studio.workers.media import FrameServer

    server = FrameServer()
    opened = []
    server.opened.connect(lambda *a: opened.append(a))
    server.open(clip)
    qtbot.waitUntil(lambda: bool(opened), timeout=5000)
    assert server._decoder._reader is not None
    server.shutdown()
    assert not server._thread.isRunning()
    assert server._decoder._reader is None
