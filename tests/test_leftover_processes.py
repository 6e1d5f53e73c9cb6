"""The suite fails when a test leaves a process running (tests/conftest.py's check),
orphaned or not, and kills what it finds."""
import os
import subprocess
import sys
import textwrap

from conftest import REPO_ROOT

LEAKY_TESTS = '''
import os, subprocess, sys

def test_leaves_a_child_running(tmp_path):
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    open(os.environ["PID_FILE"], "a").write(f"{child.pid}\\n")

def test_leaves_an_orphan_running():
    # sh starts sleep in the background and exits: sleep is reparented away from pytest.
    out = subprocess.run(["sh", "-c", "sleep 301 >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True).stdout
    open(os.environ["PID_FILE"], "a").write(out)
'''

TIDY_TESTS = '''
import subprocess

def test_stops_what_it_starts():
    child = subprocess.Popen(["sleep", "300"])
    child.terminate()
    child.wait()
'''


def run_pytest_on(tmp_path, source):
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(source))
    pid_file = tmp_path / "pids"
    pid_file.write_text("")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_inner.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PID_FILE=str(pid_file),
                 PYTHONPATH=os.pathsep.join([os.path.join(REPO_ROOT, "tests"), REPO_ROOT])))
    return run, [int(pid) for pid in pid_file.read_text().split()]


def is_running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_process_left_running_fails_the_run_and_is_killed(tmp_path):
    run, pids = run_pytest_on(tmp_path, LEAKY_TESTS)
    assert len(pids) == 2
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    assert "processes started by the tests are still running (2)" in run.stdout, run.stdout
    assert "sleep 300" in run.stdout and "sleep 301" in run.stdout
    assert not any(is_running(pid) for pid in pids)


def test_a_run_that_stops_its_processes_passes(tmp_path):
    run, _ = run_pytest_on(tmp_path, TIDY_TESTS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "left behind" not in run.stdout
