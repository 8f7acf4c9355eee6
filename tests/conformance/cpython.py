#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""CPython's own regression tests, natively and inside cvisor, compared test case by test case.

    tests/conformance/cpython.py [--cvisor build/cvisor] [--platform P]... [--python PY] [--timeout S]
                                 [--fast | --full | MODULE...] [--markdown]

Each module runs as `PY -m test --junit-xml F MODULE` in a scratch directory, natively and under
`cvisor run --platform P --rw DIR --net` (plus --ro-as-root for a Python installed under a directory
only root may enter, such as pyenv's under /root). A test case is *worse* in the sandbox when it
passes natively and fails or errors there, *better* the other way round; a run that does not end
within the timeout is a *hang*. The table shows, per module, native and sandboxed
passed/failed/errors/skipped, the worse cases and the wall-time ratio. Exits non-zero if any case is
worse or any run hangs. --fast is the subset CI runs (modules of a few seconds that must match);
--full the issue's list, run by hand (its table is in the README).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

FAST = ["test_select", "test_poll", "test_epoll", "test_fileio", "test_pty", "test_wait4", "test_fork1",
        "test_stat", "test_pwd", "test_sched", "test_thread", "test_threadsignals", "test_popen", "test_resource"]
FULL = ("test_os test_posix test_subprocess test_signal test_threading test_select test_selectors test_poll "
        "test_epoll test_mmap test_fcntl test_fileio test_pty test_tempfile test_shutil test_pathlib test_stat "
        "test_time test_resource test_sched test_popen test_wait4 test_fork1 test_socket test_socketserver "
        "test_tarfile test_gzip test_sqlite3 test_pwd test_tty test_sys test_faulthandler test_logging "
        "test_threadsignals test_thread test_platform test_concurrent_futures test_asyncio "
        "test_multiprocessing_fork").split()


def find_python():
    """The newest Python that has its test package (Debian's python3 ships none; pyenv's do)."""
    cands = [os.environ.get("CVISOR_TEST_PYTHON", "")]
    root = os.path.expanduser("~/.pyenv/versions")
    if os.path.isdir(root):
        def version(v):  # "3.13.0" after "3.9.18": by number, not by text
            return tuple(int(x) if x.isdigit() else 0 for x in v.split("."))
        cands += [os.path.join(root, v, "bin", "python3") for v in sorted(os.listdir(root), key=version, reverse=True)]
    cands += [shutil.which("python3") or ""]
    for py in cands:
        if py and os.access(py, os.X_OK) and subprocess.run(
                [py, "-c", "import test.support, test.libregrtest"], capture_output=True).returncode == 0:
            return os.path.realpath(py)
    return None


def results(xml_path):
    """{test id: 'pass' | 'fail' | 'error' | 'skip'} from regrtest's JUnit XML."""
    out = {}
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError):
        return out
    for case in root.iter("testcase"):
        name = "%s.%s" % (case.get("classname", ""), case.get("name", ""))
        status = "pass"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "fail", "error": "error", "skipped": "skip"}[child.tag]
                break
        out[name] = status
    return out


def run_one(cmd, cwd, timeout, env):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return p.returncode, time.monotonic() - t0, p.stdout.decode(errors="replace"), False
    except subprocess.TimeoutExpired as e:
        return None, time.monotonic() - t0, (e.stdout or b"").decode(errors="replace"), True


def counts(r):
    return "%d/%d/%d/%d" % tuple(sum(1 for s in r.values() if s == k) for k in ("pass", "fail", "error", "skip"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*")
    ap.add_argument("--cvisor", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "cvisor"))
    ap.add_argument("--platform", action="append", default=[])
    ap.add_argument("--python")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="the table as Markdown (for the README)")
    ap.add_argument("--verbose", action="store_true", help="print each worse case and each hang's tail")
    a = ap.parse_args()
    modules = a.modules or (FULL if a.full else FAST)
    platforms = a.platform or ["systrap", "ptrace"]
    py = a.python or find_python()
    if not py:  # not a failure of cvisor's: say so plainly and let the caller decide
        print("cpython.py: skipped: no Python with its test package here (set CVISOR_TEST_PYTHON)")
        return 0 if a.fast else 2
    cvisor = os.path.realpath(a.cvisor)
    prefix = os.path.dirname(os.path.dirname(py))  # .../versions/3.11.7
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    rows, bad = [], 0
    for mod in modules:
        row = [mod]
        work = tempfile.mkdtemp(prefix="cvisor-conf-")
        os.chmod(work, 0o777)
        try:
            nat_xml = os.path.join(work, "native.xml")
            rc, nt, out, hung = run_one([py, "-m", "test", "--junit-xml", nat_xml, mod], work, a.timeout, env)
            native = results(nat_xml)
            row.append(counts(native) + (" HANG" if hung else ""))
            for plat in platforms:
                box_xml = os.path.join(work, "box-%s.xml" % plat)
                cmd = [cvisor, "run", "--platform", plat, "--rw", work, "--net", "--cwd", work]
                if not os.access(os.path.dirname(prefix), os.R_OK | os.X_OK) or os.geteuid() == 0:
                    cmd += ["--ro-as-root", prefix]
                cmd += ["--", py, "-m", "test", "--junit-xml", box_xml, mod]
                rc, bt, bout, bhung = run_one(cmd, work, a.timeout, env)
                boxed = results(box_xml)
                worse = sorted(k for k, v in native.items() if v == "pass" and boxed.get(k) in ("fail", "error"))
                missing = not boxed and not bhung and bool(native)
                bad += len(worse) + (1 if bhung or missing else 0)
                cell = counts(boxed) + (" HANG" if bhung else " (no results)" if missing else "")
                row += [cell, str(len(worse)), "%.1f" % (bt / nt if nt > 0 else 0)]
                if a.verbose and (worse or bhung or missing):
                    for w in worse:
                        print("  worse on %s: %s" % (plat, w))
                    if bhung or missing:
                        print("  %s on %s, last output:\n%s" % ("hang" if bhung else "no results", plat,
                                                                 "\n".join(bout.splitlines()[-15:])))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows.append(row)
        print(" | ".join(row) if not a.markdown else "| " + " | ".join(row) + " |", flush=True)
    heads = ["module", "native p/f/e/s"] + sum(([p + " p/f/e/s", "worse", "time x"] for p in platforms), [])
    print("\n" + ("| " + " | ".join(heads) + " |\n|" + "---|" * len(heads) if a.markdown else " | ".join(heads)))
    for row in rows:
        print("| " + " | ".join(row) + " |" if a.markdown else " | ".join(row))
    print("%d modules, %d worse cases or hangs" % (len(rows), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
