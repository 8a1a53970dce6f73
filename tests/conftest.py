import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

# One thread per process for torch (this one and the processes the tests start): the tiny models
# gain nothing from a second thread, and on a busy machine OpenMP threads that wait for each other
# make a convolution 10-50x slower; the fresh interpreters of the background jobs (below) use the
# second core. Set before torch is imported so child processes inherit it; a value the caller set
# is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from recbole_rd.data.sample import generate_checkins, write_atomic_inter
from recbole_rd.model.registry import import_recbole_models

import_recbole_models()  # before a test module imports one: anomaly detection stays off (see the function)

TINY = dict(n_users=60, n_items=90, min_len=8, max_len=20, seed=7)


def tiny_config_dict(tmp_path, **overrides):
    """RecBole settings for a tiny generated dataset under ``tmp_path``."""
    config = {
        "data_path": str(tmp_path / "dataset"),
        "checkpoint_dir": str(tmp_path / "saved"),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "epochs": 2,
        "show_progress": False,
        "state": "WARNING",
        "train_batch_size": 64,
        "eval_batch_size": 256,
        "gpu_id": "",
        "use_gpu": False,
    }
    config.update(overrides)
    return config


def write_tiny(tmp_path, name="tiny", **kwargs):
    path = tmp_path / "dataset" / name / f"{name}.inter"
    write_atomic_inter(path, *generate_checkins(**{**TINY, **kwargs}))
    return path


@contextmanager
def module_tiny(tmp_path_factory, name):
    """For module-scoped fixtures: a new folder ``name`` with the tiny data, ``sys.argv`` kept
    plain while the block runs (the autouse ``plain_argv`` is function-scoped)."""
    tmp = tmp_path_factory.mktemp(name)
    write_tiny(tmp)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["pytest"])
        yield tmp


# --- checks in fresh interpreters, run in the background -----------------------------------------


class Job:
    """One queued check: its function, whether a thread took it, and its outcome."""

    def __init__(self, function):
        self.function, self.taken, self.finished = function, False, threading.Event()
        self.value = self.error = None


class Background:
    """Checks that run in fresh interpreters (each one imports torch and RecBole: seconds of one
    core), started when the session starts and run one after another by a background thread, at
    a lower priority, beside the in-process tests (which use one core: one torch thread). The test
    that owns a job waits for its result (``background.result(job)``) and asserts on it; while it
    waits, its thread runs the queued jobs no thread has taken yet (its own first), so no core idles.

    A job is a function ``job(background)`` listed in its test module's ``BACKGROUND = {test
    function name: [job, ...] or params -> [job, ...]}`` (``params``: a parametrized test's
    arguments): the jobs of the selected tests are queued in the order the tests run. A job makes
    its own files (``folder``), passes ``cwd`` and ``env`` explicitly (the in-process tests change
    the process's own) and starts its processes through ``run`` or ``popen``; one that needs
    another job's result runs both itself, in order."""

    def __init__(self, root):
        self.root = Path(root)
        self.env = dict(os.environ)  # as the session started, before any test changed it
        self.jobs, self.queue, self.processes = {}, [], []
        self.lock, self.closed = threading.Condition(), False
        self.nice = [shutil.which("nice"), "-n", "10"] if shutil.which("nice") else []
        threading.Thread(target=self._work, name="background", daemon=True).start()

    def submit(self, job):
        """Queue ``job``, once."""
        with self.lock:
            if job not in self.jobs:
                self.jobs[job] = Job(job)
                self.queue.append(self.jobs[job])
                self.lock.notify_all()
            return self.jobs[job]

    def _take(self, first=None):
        """The job this thread runs next: ``first`` if no thread took it, else the oldest untaken one."""
        with self.lock:
            untaken = [job for job in ([first] if first else []) + self.queue if not job.taken]
            if untaken:
                untaken[0].taken = True
                return untaken[0]
            return None

    def _run(self, job):
        try:
            job.value = job.function(self)
        except BaseException as error:  # handed to the test that asks for the result
            job.error = error
        finally:
            job.finished.set()

    def _work(self):
        while True:
            job = self._take()
            if job is not None:
                self._run(job)
                continue
            with self.lock:
                if self.closed:
                    return
                self.lock.wait(0.5)

    def result(self, job, timeout=1800):
        """What ``job`` returned (it is queued now if no test asked for it at the start); untaken jobs are
        run in this thread meanwhile."""
        queued, deadline = self.submit(job), time.monotonic() + timeout
        while not queued.finished.is_set():
            other = self._take(queued)
            if other is not None:
                self._run(other)
            elif not queued.finished.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"background job {job.__name__} ran over {timeout} s")
        if queued.error is not None:
            raise queued.error
        return queued.value

    def folder(self, name):
        """A new empty folder."""
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))

    def popen(self, command, env=None, **kwargs):
        """``subprocess.Popen`` at a lower priority (``nice``): the in-process tests come first."""
        command = [*self.nice, *command]
        process = subprocess.Popen(command, env=self.env if env is None else env, **kwargs)
        self.processes.append(process)
        return process

    def run(self, command, timeout=300, **kwargs):
        """``subprocess.run(command, capture_output=True, text=True, timeout=timeout, ...)``."""
        with self.popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs) as process:
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        return subprocess.CompletedProcess(command, process.returncode, out, err)

    def close(self):
        with self.lock:
            self.closed = True
            for job in self.queue:
                job.taken = True  # nothing left starts
            self.lock.notify_all()
        for process in self.processes:
            if process.poll() is None:
                process.kill()


BACKGROUND_KEY = pytest.StashKey[Background]()


def session_background(config):
    if BACKGROUND_KEY not in config.stash:
        factory = getattr(config, "_tmp_path_factory", None)  # pytest's basetemp, where tmp_path lives
        root = factory.mktemp("background") if factory is not None else tempfile.mkdtemp(prefix="background-")
        config.stash[BACKGROUND_KEY] = Background(root)
    return config.stash[BACKGROUND_KEY]


def background_jobs(item):
    """The jobs the test ``item`` waits for (its module's ``BACKGROUND``)."""
    jobs = getattr(getattr(item, "module", None), "BACKGROUND", {}).get(getattr(item, "originalname", None))
    if callable(jobs):
        jobs = jobs(item.callspec.params if hasattr(item, "callspec") else {})
    return list(jobs or ())


def pytest_collection_modifyitems(items):
    """The tests that wait for background jobs run last (in their order): by then their jobs have run beside
    the other tests, and no test waits with a core idle."""
    items.sort(key=lambda item: bool(background_jobs(item)))


def pytest_collection_finish(session):
    """Queue the background jobs of the selected tests, in the order the tests run."""
    if session.config.option.collectonly:
        return
    for item in session.items:
        for job in background_jobs(item):
            session_background(session.config).submit(job)


def pytest_unconfigure(config):
    if BACKGROUND_KEY in config.stash:
        config.stash[BACKGROUND_KEY].close()


@pytest.fixture(scope="session")
def background(pytestconfig):
    return session_background(pytestconfig)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The thread count of ``OMP_NUM_THREADS`` again before each test (a DDP config sets its own); torch's
    anomaly detection off (a test module importing RecBole's sequential models before the registry did
    would have switched it on for every later test: see ``import_recbole_models``)."""
    assert not torch.is_anomaly_enabled(), "anomaly detection was switched on (RecBole's sine.py imported?)"
    threads = os.environ["OMP_NUM_THREADS"]
    threads = int(threads) if threads.isdigit() and int(threads) > 0 else None
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class Payload:
    """Pickles to a call that leaves a marker file: proof that unpickling ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch):
    """RecBole's Config reads sys.argv: keep pytest's own flags out of it."""
    monkeypatch.setattr(sys, "argv", ["pytest"])


@pytest.fixture(scope="session")
def tiny_teachers(tmp_path_factory):
    """A folder with the tiny data, and a Caser and a Fossil teacher trained on it (1 epoch, their
    default d=100, seed 2020): ``(folder, {"Caser": checkpoint, "Fossil": checkpoint})``. Trained
    once for every module that only reads them (distils from them, loads them)."""
    from recbole_rd.quick_start import run_recbole_rd

    with module_tiny(tmp_path_factory, "teachers") as folder:
        return folder, {name: run_recbole_rd(name, "tiny", config_dict=tiny_config_dict(folder, epochs=1))["checkpoint"]
                        for name in ("Caser", "Fossil")}


COMPARE_ARGV = ["run_recbole_rd.py", "--compare", "--model=Caser", "--dataset=tiny", "--baselines=Pop"]


@pytest.fixture(scope="session")
def tiny_compare(tmp_path_factory):
    """One tiny comparison (seed 1: Caser T / S / RD and a Pop baseline, one epoch, recorded as run by
    ``COMPARE_ARGV``), printing to the console as the command line does, with the top-10 timing and
    the training recorded in the order they happen (the timing gives a deterministic spread of
    values): ``(table, console output, progress messages, events, results folder)``. Only read
    (test_compare_verdict, test_compare_report)."""
    import contextlib
    import io

    from recbole_rd.compare import compare, timing
    from recbole_rd.compare import run as run_module

    events, messages, calls = [], [], iter(range(10 ** 6))
    train_and_test = run_module.train_and_test

    def timed(model, test, k=10, repeats=3):
        events.append(("time", model, 1.0 + next(calls) * 37 % 11))  # a deterministic spread of values
        return events[-1][2]

    def trained(config, *args, **kwargs):
        events.append(("train", config["model"], None))
        return train_and_test(config, *args, **kwargs)

    def progress(message):  # the console's lines (the default progress is print), kept
        messages.append(message)
        print(message)

    with module_tiny(tmp_path_factory, "compare-seed1") as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(timing, "time_topk_lists", timed)
        patch.setattr(run_module, "train_and_test", trained)
        out = io.StringIO()  # capsys is function-scoped
        with contextlib.redirect_stdout(out):
            table = compare("Caser", "tiny", config_dict=tiny_config_dict(tmp, epochs=1, K=5), baselines=["Pop"],
                            results_dir=tmp / "results", seeds=(1,), distill_methods="rd", progress=progress,
                            argv=COMPARE_ARGV)
    return table, out.getvalue(), messages, events, tmp / "results"


@pytest.fixture
def tiny(tmp_path):
    write_tiny(tmp_path)
    return tmp_path


@pytest.fixture
def tiny_data(tiny):
    """(config, train, valid, test) for Caser on the tiny dataset."""
    from recbole_rd.quick_start import prepare

    return prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny))


class CountingTeacher(torch.nn.Module):
    """A stand-in teacher: scores item i as ``i * scale`` (the top items are the largest ids)
    and counts its ``full_sort_predict`` calls."""

    POS_ITEM_ID = "item_id"

    def __init__(self, n_items, scale=1.0):
        super().__init__()
        self.n_items, self.scale, self.calls = n_items, scale, 0

    def full_sort_predict(self, interaction):
        self.calls += 1
        return torch.arange(self.n_items, dtype=torch.float).repeat(len(interaction), 1) * self.scale


def config_with(config, model=None, **settings):
    """A fresh config beside ``config`` (its model, or ``model``) with ``settings``, resolved by RecBole."""
    from recbole_rd.config import config_beside

    return config_beside(config, model or config.model_class, settings)
