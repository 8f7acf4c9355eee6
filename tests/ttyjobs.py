# SPDX-License-Identifier: Apache-2.0
"""Terminal job control, driven through a pseudo-terminal, for a native/sandboxed comparison.

Usage: ttyjobs.py [PREFIX...]   PREFIX (e.g. "build/cvisor run --platform ptrace --") runs each
program under cvisor; without it they run natively. Prints what the terminal showed, normalised
(no escape sequences, the prefix and runs of spaces removed), for three cases:
  bg-read   a background job of a job-control shell reads the terminal: SIGTTIN stops it
  inner-z   an interactive shell's foreground job gets ^Z: the shell reports it stopped; fg goes on
  outer-z   ^Z to a program the outer shell started: it (cvisor with it) stops; fg continues it
"""
import os
import pty
import re
import select
import sys
import time


def drive(argv, steps):
    """Run @argv on a pty; each step is text to type, or ("expect", TEXT): wait (10 s at most) until
    TEXT shows after what the last expectation matched, or a pause in seconds. Then read to the end."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    out = b""
    seen = 0

    def read_some(timeout):
        nonlocal out
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        out += data
        return bool(data)

    for step in steps:
        if isinstance(step, float):
            end = time.time() + step
            while time.time() < end and read_some(0.05):
                pass
        elif isinstance(step, tuple):
            want = step[1].encode()
            end = time.time() + 10
            while out.find(want, seen) < 0 and time.time() < end and read_some(0.05):
                pass
            at = out.find(want, seen)
            seen = at + len(want) if at >= 0 else len(out)
            end = time.time() + 0.3  # the program sets its terminal up after its prompt: typed text
            while time.time() < end and read_some(0.05):  # too early would be echoed twice
                pass
        else:
            os.write(fd, step.encode())
    end = time.time() + 10
    while time.time() < end and read_some(0.2):
        pass
    os.close(fd)
    os.waitpid(pid, 0)
    return out.decode(errors="replace")


def normalise(text, prefix):
    text = text.replace("\r", "")
    text = re.sub(r"\x1b\[[?0-9;]*[a-zA-Z]", "", text)
    if prefix:
        text = text.replace(prefix + " ", "")
    text = re.sub(r"\[[0-9]+\]", "[N]", text)
    text = re.sub(r"(\s)[0-9]+ (Killed|Stopped|Done)", r"\1N \2", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def main():
    prefix = " ".join(sys.argv[1:])
    run = prefix.split()
    prompt = ("expect", "$ ")
    cases = {
        "bg-read": (run + ["bash", "-c", "set -m; cat >/dev/null & sleep 0.3; jobs; kill -9 %1; sleep 0.3; jobs; echo done"],
                    []),
        "inner-z": (run + ["bash", "--norc", "--noprofile", "-i"],
                    [("expect", "# "), 'PS1="$ "\n', prompt, "sleep 1; echo status $?\n", 0.4, "\x1a",
                     ("expect", "Stopped"), prompt, "jobs\n", prompt, "fg\n", prompt,
                     "exit\n"]),
        "outer-z": (["bash", "--norc", "--noprofile", "-i"],
                    [("expect", "# "), 'PS1="$ "\n', prompt, " ".join(run + ["sleep", "1"]) + "; echo status $?\n",
                     0.6, "\x1a", ("expect", "status"), prompt, "jobs\n", prompt, "fg\n", ("expect", "$ "),
                     "exit\n"]),
    }
    for name, (argv, steps) in cases.items():
        print("== %s\n%s" % (name, normalise(drive(argv, steps), prefix)))


if __name__ == "__main__":
    main()
