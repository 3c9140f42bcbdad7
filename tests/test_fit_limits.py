"""Bounded fits in the store, with threads as concurrent sessions: at most N at a time (the
others queue and are told their place), one per session, a fit of the same k shared, a time
limit and cancelling that stop the fit's process, and old fits evicted."""

from __future__ import annotations

import threading
import time

import psutil
import pytest

import dashboard.store
from dashboard.app import JobManager
from dashboard.fits import FitCancelled, FitLimits, FitTimeout, Heartbeat, Lock
from dashboard.store import DEMO_ID, DataStore
from segmentation.demo import write_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("d") / "tx.csv", 1_500, seed=3)


def new_store(root, demo, **limits) -> DataStore:
    store = DataStore(root, limits=FitLimits(**{"timeout_s": 0, **limits}))
    store.add(demo, label="demo", dataset_id=DEMO_ID)
    store.get(DEMO_ID, "auto")
    return store


class Recorder:
    """Every progress report of every thread, timed."""

    def __init__(self):
        self.events: list[tuple[float, str, int, str]] = []
        self.lock = threading.Lock()

    def progress(self, who):
        def report(step, text):
            with self.lock:
                self.events.append((time.monotonic(), who, step, text))
        return report

    def said(self, who) -> list[str]:
        return [text for _, w, step, text in self.events if w == who and step == 0]

    def fitting(self) -> dict[str, tuple[float, float]]:
        """Per thread, from its first fitting step to "done" (both inside its slot)."""
        spans: dict[str, list[float]] = {}
        for t, who, step, _ in self.events:
            if step in (1, 4):
                spans.setdefault(who, []).append(t)
        return {who: (ts[0], ts[-1]) for who, ts in spans.items()}

    def wait_for(self, who, step, timeout=120):
        deadline = time.monotonic() + timeout
        while not any(w == who and s == step for _, w, s, _ in self.events):
            assert time.monotonic() < deadline, f"{who} never reached step {step}"
            time.sleep(0.05)


def most_at_once(spans) -> int:
    edges = sorted([(a, 1) for a, _ in spans.values()] + [(b, -1) for _, b in spans.values()], key=lambda e: (e[0], e[1]))
    now = best = 0
    for _, d in edges:
        now += d
        best = max(best, now)
    return best


def fit_processes() -> list:
    """This process's fit children (multiprocessing's resource tracker is not one)."""
    return [p for p in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]


def start(store, rec, who, k, owner, results):
    def run():
        try:
            results[who] = store.get(DEMO_ID, k, owner=owner, progress=rec.progress(who))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[who] = exc
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_at_most_n_fits_at_once_and_the_queue_says_its_place(tmp_path, demo):
    store = new_store(tmp_path, demo, max_fits=1)
    rec, results = Recorder(), {}
    threads = [start(store, rec, "a", "3", "s1", results)]
    rec.wait_for("a", 1)
    threads.append(start(store, rec, "b", "4", "s2", results))
    deadline = time.monotonic() + 30
    while not rec.said("b") and time.monotonic() < deadline:
        time.sleep(0.05)
    threads.append(start(store, rec, "c", "5", "s3", results))
    for t in threads:
        t.join(300)
    assert all(not isinstance(r, Exception) for r in results.values()), results
    assert [results[w].bundle.metadata["k"] for w in "abc"] == [3, 4, 5]
    assert most_at_once(rec.fitting()) == 1
    assert rec.said("a") == []
    assert "waiting for 1 other fit (at most 1 at a time)" in rec.said("b")
    assert "waiting for 2 other fits (at most 1 at a time)" in rec.said("c")
    assert not list((tmp_path / "fit-queue").iterdir())  # every ticket gone


def test_two_fits_at_once_with_a_limit_of_two(tmp_path, demo):
    store = new_store(tmp_path, demo, max_fits=2)
    rec, results = Recorder(), {}
    threads = [start(store, rec, w, k, w, results) for w, k in zip("abc", "345", strict=True)]
    for t in threads:
        t.join(300)
    assert all(not isinstance(r, Exception) for r in results.values()), results
    assert most_at_once(rec.fitting()) <= 2
    assert sum(bool(rec.said(w)) for w in "abc") >= 1  # the third waited


def test_one_fit_at_a_time_per_session(tmp_path, demo):
    store = new_store(tmp_path, demo, max_fits=4)
    rec, results = Recorder(), {}
    first = start(store, rec, "a", "3", "same-tab", results)
    rec.wait_for("a", 1)
    second = start(store, rec, "b", "4", "same-tab", results)
    first.join(300)
    second.join(300)
    assert "waiting for this session's other fit" in rec.said("b")
    spans = rec.fitting()
    assert spans["a"][1] <= spans["b"][0]


def test_the_same_fit_asked_twice_is_made_once(tmp_path, demo, monkeypatch):
    store = new_store(tmp_path, demo)
    fits = []
    real = dashboard.store.fit_bundle
    monkeypatch.setattr(dashboard.store, "fit_bundle", lambda *a, **kw: fits.append(1) or real(*a, **kw))
    rec, results = Recorder(), {}
    first = start(store, rec, "a", "6", "s1", results)
    rec.wait_for("a", 1)
    other = DataStore(tmp_path, limits=store.limits)  # another server process, its own memory
    second = start(other, rec, "b", "6", "s2", results)
    first.join(300)
    second.join(300)
    assert len(fits) == 1
    assert "waiting for the same fit (k=6) asked by another user" in rec.said("b")
    assert results["a"].frame["segment"].equals(results["b"].frame["segment"])


def test_old_fits_are_evicted_least_recently_used_first(tmp_path, demo):
    store = new_store(tmp_path, demo, keep=3)
    for k in ("3", "4"):
        store.get(DEMO_ID, k)
    time.sleep(0.05)
    DataStore(tmp_path, limits=store.limits).get(DEMO_ID, "3")  # used again (another process loads it)
    store.get(DEMO_ID, "5")
    kept = sorted(p.name for p in (tmp_path / DEMO_ID).glob("k-*") if p.is_dir())
    assert kept == ["k-3", "k-5", "k-auto"]
    assert (DEMO_ID, "4") not in store._cache
    store.get(DEMO_ID, "4")  # evicted fits are fitted again when asked
    assert sorted(p.name for p in (tmp_path / DEMO_ID).glob("k-*") if p.is_dir()) == ["k-4", "k-5", "k-auto"]


def test_a_fit_past_the_time_limit_is_stopped(tmp_path, demo):
    store = new_store(tmp_path, demo)
    limited = DataStore(tmp_path, limits=FitLimits(timeout_s=0.5))
    with pytest.raises(FitTimeout, match="longer than this server's limit of 0.5 s and was stopped"):
        limited.get(DEMO_ID, "7")
    assert not [p for p in (tmp_path / DEMO_ID).glob("k-7*") if p.is_dir()]  # no fit, no half fit
    assert not fit_processes()
    assert store.get(DEMO_ID, "7").bundle.metadata["k"] == 7  # a limit that allows it: fitted


def test_a_fit_in_its_own_process_reports_and_finishes(tmp_path, demo):
    store = new_store(tmp_path, demo, timeout_s=600)
    rec = Recorder()
    ws = store.get(DEMO_ID, "4", progress=rec.progress("a"))
    assert ws.bundle.metadata["k"] == 4
    assert [s for _, _, s, _ in rec.events] == [1, 2, 3, 4]


def test_a_cancelled_fit_stops_its_process_and_a_queued_one_never_starts(tmp_path, demo):
    store = new_store(tmp_path, demo, timeout_s=600, max_fits=1)
    rec = Recorder()
    with pytest.raises(FitCancelled):
        store.get(DEMO_ID, "8", progress=rec.progress("a"), cancelled=lambda: any(e[2] == 1 for e in rec.events))
    assert not fit_processes()
    assert not [p for p in (tmp_path / DEMO_ID).glob("k-8*") if p.is_dir()]
    busy = Lock(tmp_path / "fit-slots" / "slot-0")
    assert busy.try_acquire()  # the only slot is taken by another process's fit
    try:
        stop = time.monotonic() + 1
        with pytest.raises(FitCancelled):
            store.get(DEMO_ID, "9", progress=rec.progress("b"), cancelled=lambda: time.monotonic() > stop)
    finally:
        busy.release()
    assert rec.said("b") == ["waiting for 1 other fit (at most 1 at a time)"]
    assert not list((tmp_path / "fit-queue").iterdir())


def test_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("DASHBOARD_MAX_FITS", "3")
    monkeypatch.setenv("DASHBOARD_FIT_TIMEOUT_S", "45")
    monkeypatch.setenv("DASHBOARD_KEEP_FITS", "2")
    assert FitLimits.from_env() == FitLimits(max_fits=3, timeout_s=45.0, keep=2)
    monkeypatch.delenv("DASHBOARD_MAX_FITS")
    assert FitLimits.from_env().max_fits == 2


def test_a_job_whose_page_stops_polling_loses_its_heartbeat(tmp_path):
    import diskcache

    manager = JobManager(diskcache.Cache(str(tmp_path / "cache")), heartbeats=tmp_path / "beats")
    job = psutil.Process().pid  # a running process stands for the job
    beat = Heartbeat(tmp_path / "beats", pid=job, limit_s=0.3)
    assert manager.job_running(job) and not beat.lost()
    time.sleep(0.2)
    assert manager.job_running(job) and not beat.lost()  # polled: alive
    time.sleep(0.5)
    assert beat.lost()  # no poll for longer than the limit
    beat.end()
    assert not (tmp_path / "beats" / str(job)).exists()


def test_an_automatic_k_fit_reports_each_k_it_tries(tmp_path, demo):
    # a long fit of an upload moves its progress bar through the k sweep, not one step for all of it
    store = DataStore(tmp_path, limits=FitLimits(timeout_s=600))
    store.add(demo, label="demo", dataset_id=DEMO_ID)
    rec = Recorder()
    store.get(DEMO_ID, "auto", progress=rec.progress("a"))
    low, high = store.get(DEMO_ID, "auto").bundle.fit_options.k_range
    fitting = [(step, text) for _, _, step, text in rec.events if 2 <= step < 3]
    n = high - low + 1
    assert [text for _, text in fitting] == ["fitting the model"] + [
        f"fitting the model: trying k={k} ({k - low + 1} of {n})" for k in range(low, high + 1)]
    steps = [step for step, _ in fitting]
    assert steps == sorted(steps) and steps[1] < steps[-1] < 3
