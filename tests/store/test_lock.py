"""One bot per state folder (engine/store/lock.py): a second holder is refused at once with the folder
and the first holder's pid; a holder killed with SIGKILL leaves no lock behind."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store.lock import LOCK_FILE, StateFolderBusy, state_lock
from tests.positions.support import REPO

HOLDER = """
import sys
from pathlib import Path
from engine.store.lock import state_lock

with state_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()  # held until the test kills us (or closes our stdin)
"""


def hold_in_child(folder: Path) -> subprocess.Popen:
    """A real process holding `folder`; returns once it says it holds the lock."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "locked":
        proc.kill()
        pytest.fail(f"holder did not lock: {line!r} {proc.communicate()}")
    return proc


def test_a_second_lock_in_the_same_process_is_refused_naming_folder_and_pid(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "bot"
    with state_lock(folder) as me:
        assert me.pid == os.getpid()
        with pytest.raises(StateFolderBusy) as refused, state_lock(folder):
            pytest.fail("a second holder got the folder")
        assert refused.value.folder == folder
        assert refused.value.holder.pid == os.getpid()
        message = str(refused.value)
        assert str(folder) in message and f"pid {os.getpid()}" in message
    with state_lock(folder):  # released at the end of the block
        pass


def test_the_lock_file_names_the_holder_while_held_and_nobody_after(tmp_path: Path) -> None:
    with state_lock(tmp_path) as me:
        written = json.loads((tmp_path / LOCK_FILE).read_text())
        assert written == {"pid": os.getpid(), "started": me.started}
    assert (tmp_path / LOCK_FILE).read_text() == "", "a cleanly released lock must not name a finished run"


def test_a_holder_that_has_not_written_its_pid_yet_is_still_refused(tmp_path: Path) -> None:
    """The window between flock and the pid being written: refused all the same, said plainly."""
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StateFolderBusy, match="pid unknown: it is just starting"), state_lock(tmp_path):
            pass
    finally:
        os.close(fd)


def test_a_folder_held_by_another_process_is_refused_with_its_pid(tmp_path: Path) -> None:
    child = hold_in_child(tmp_path)
    try:
        with pytest.raises(StateFolderBusy) as refused, state_lock(tmp_path):
            pass
        assert refused.value.holder.pid == child.pid
        assert f"pid {child.pid}" in str(refused.value) and str(tmp_path) in str(refused.value)
    finally:
        child.kill()
        child.communicate()


def test_sigkill_of_the_holder_leaves_no_lock(tmp_path: Path) -> None:
    child = hold_in_child(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert (tmp_path / LOCK_FILE).is_file(), "the file may stay behind"
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == child.pid, "the dead holder wrote it"
    with state_lock(tmp_path) as me:  # the lock did not stay: the kernel dropped it with the process
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == me.pid == os.getpid()


def test_a_second_process_is_refused_while_this_one_holds_the_folder(tmp_path: Path) -> None:
    with state_lock(tmp_path):
        proc = subprocess.run([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=REPO, input="",
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                              timeout=60)
    assert proc.returncode == 1 and "locked" not in proc.stdout
    assert f"StateFolderBusy: {tmp_path}" in proc.stderr and f"pid {os.getpid()}" in proc.stderr
