#!/usr/bin/python3
"""Drives `monitor interface` in ftzctl's shell through a pseudo-terminal as
a person would: the interface's name completed with TAB, the counters seen
growing from one refresh to the next with rates, Ctrl-C back to the prompt.

usage: monitor_session.py FTZCTL SOCKET HOME OPERATOR:PASSWORD DATAPLANE
Exit status 0 when every step saw what it expected; otherwise the step and
the screen.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support", "python"))
from ftz_terminal import Terminal  # noqa: E402

FTZCTL, SOCKET, HOME, OPERATOR, DATAPLANE = sys.argv[1:6]

t = Terminal(FTZCTL, SOCKET, HOME, OPERATOR)
p = t.prompt
t.wait_prompt("the first prompt")
# The interface names come from the live model: TAB completes the data
# plane's part, ? lists its ports.
t.keys("TAB completes the data plane", "monitor interface " + DATAPLANE[:2] + "\t",
       p + "monitor interface " + re.escape(DATAPLANE) + "/.*")
typed = t.line()[t.line().index(DATAPLANE):]
name = typed.strip()
if t.screen.cursor.x == len(t.line()):
    # Several ports (the cursor right after the word, no space): TAB again
    # lists them; the first is watched.
    t.child.send("\t")
    listed = t.until("a second TAB lists the ports",
                     lambda: re.search(r"^\s+(" + re.escape(DATAPLANE) + r"/\S+)", t.text(), re.M),
                     DATAPLANE + "/... listed")
    name = listed.group(1)
    t.child.send(name[len(typed):] + " ")
t.until("the interface's whole name", lambda: t.line().endswith(" " + name), name)
t.screen.reset()
t.child.send("\r")


def reading():
    m = re.search(r"refresh (\d+) at .*\n(?:.*\n)*?\s*Input:\s+(\d+) packets", t.text())
    return (int(m.group(1)), int(m.group(2))) if m else None


first = t.until("the monitor's first screen", reading, "refresh N ... Input: N packets")
# The counters grow between refreshes (the data plane replays its capture
# in a loop and reports every 5 s) and a rate appears.
t.until("the counters grow", lambda: (r := reading()) and r[0] > first[0] and r[1] > first[1],
        "a later refresh with more input packets", timeout=30)
t.until("a rate", lambda: re.search(r"Input rate:\s+[0-9.]+ [kMG]?pps", t.text()), "Input rate: N pps", timeout=30)
# Ctrl-C leaves the monitor, not the shell.
t.child.sendintr()
t.until("the prompt after Ctrl-C", lambda: re.fullmatch(p, t.line()), p)
t.run("the shell goes on", "show interfaces | match " + name, re.escape(name) + r"\s+up\s+")
t.child.send("exit\r")
t.close("exit")
print("monitor session: every step as expected")
