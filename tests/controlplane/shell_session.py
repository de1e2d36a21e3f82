#!/usr/bin/python3
"""Drives `ftzctl` with no command through a pseudo-terminal (pexpect) as a
person types, and reads the screen a terminal would show (pyte): TAB
completion, `?`, abbreviations, pipes, the pager, a command the role may not
run, Ctrl-C, history across sessions, configuration mode.

usage: shell_session.py FTZCTL SOCKET HOME OPERATOR:PASSWORD SECADMIN:PASSWORD
Exit status 0 when every step saw what it expected; otherwise the step and
the screen.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support", "python"))
from ftz_terminal import ROWS, Terminal  # noqa: E402

FTZCTL, SOCKET, HOME, OPERATOR, SECADMIN = sys.argv[1:6]


def operator():
    t = Terminal(FTZCTL, SOCKET, HOME, OPERATOR)
    p = t.prompt
    t.wait_prompt("the first prompt")
    # TAB completes each word; the completed command runs.
    t.keys("TAB completes show", "sh\t", p + "show")
    t.keys("TAB completes system", "sys\t", p + "show system")
    t.keys("TAB completes status", "stat\t", p + "show system status")
    t.run("the completed command runs", "", r"running generation \d+")
    # ? lists what may come next, with help; the line stays as it was.
    t.screen.reset()
    t.child.send("show ?")
    t.until("? after show", lambda: re.search(r"dataplanes\s+which data plane runs which generation", t.text()),
            "dataplanes  which data plane runs ...")
    t.until("? lists compliance too", lambda: re.search(r"compliance\s+individuals counted this year", t.text()),
            "compliance  individuals counted ...")
    if "<[Enter]>" in t.text():
        t.fail("? after show", "no <[Enter]>: show alone is not a command")
    t.until("the line is redrawn", lambda: re.fullmatch(p + "show", t.line()), p + "show")
    t.keys("Ctrl-U clears the line", "\x15", p)
    # Abbreviations and pipes.
    t.run("| count of an abbreviated command", "sh sys stat | count", r"Count: \d+ lines")
    m = t.run("| match", "sh sys st | match ^running", r"\nrunning generation \d+")
    if "ftzgated " in t.text().split("| match ^running", 1)[1]:
        t.fail("| match", "only the matching line")
    t.run("| json", "show dataplanes | json", r'"dataplanes": \[')
    # The configuration's zones and tenants, as the NOC reads them.
    t.run("show zones", "sh zones | no-more", r"\noffshore\s+offshore\s+0\s+0\s+yes\n")
    t.run("show tenants", "show tenants | match pacific", r"\npacific-re\s+lingang-ftz\s+1\s+1\s+none\n")
    # A long output pages: q stops.
    t.screen.reset()
    t.child.send("show configuration\r")
    t.until("the pager", lambda: t.line() == "---(more)---", "---(more)---")
    t.child.send("q")
    t.wait_prompt("q leaves the pager")
    m = t.run("| no-more does not page", "show configuration | no-more | count", r"Count: (\d+) lines")
    if int(m.group(1)) <= ROWS:
        t.fail("pager", "a configuration longer than the screen")
    # What the operator role may not do is neither offered nor run.
    t.screen.reset()
    t.child.send("co?")
    t.until("? offers no configure", lambda: "nothing fits here" in t.text(), "nothing fits here")
    t.keys("Ctrl-U", "\x15", p)
    t.run("configure is refused with the role", "configure", r"role operator may not run 'configure'")
    t.run("an ambiguous prefix", "show c", r"'c' is ambiguous: configuration compliance certificates")
    # Ctrl-C gives a new prompt, not the end.
    t.keys("a half-typed line", "show syst", p + "show syst")
    t.child.sendintr()
    t.until("a new prompt after Ctrl-C", lambda: re.fullmatch(p, t.line()), p)
    t.run("still alive", "show system status | count", r"Count: \d+ lines")
    t.child.send("exit\r")
    t.close("exit")
    history = open(os.path.join(HOME, ".ftzctl_history"), encoding="utf-8", errors="replace").read()
    if "count" not in history:
        print("step 'history': the history file lacks the session's commands:\n" + history)
        sys.exit(1)
    # The next session recalls the last line (Ctrl-P: the previous one).
    t = Terminal(FTZCTL, SOCKET, HOME, OPERATOR)
    t.wait_prompt("the second prompt")
    t.keys("Ctrl-P recalls the last command", "\x10", p + "exit")
    t.child.send("\r")
    t.close("exit from history")


def secadmin():
    t = Terminal(FTZCTL, SOCKET, HOME, SECADMIN)
    p = t.prompt
    t.wait_prompt("the first prompt")
    t.run("configure", "conf", r"\[edit\]", prompt=re.escape(t.user) + r"@\S+# ?")
    # Completion of the configuration's own names.
    t.keys("TAB completes a section", "set ten\t", re.escape(t.user) + r"@\S+# set tenants")
    t.keys("Ctrl-U", "\x15", re.escape(t.user) + r"@\S+# ?")
    t.run("show | count in configuration mode", "show | count", r"Count: \d+ lines",
          prompt=re.escape(t.user) + r"@\S+# ?")
    t.run("an operational command from configuration mode", "run show system status | count",
          r"Count: \d+ lines", prompt=re.escape(t.user) + r"@\S+# ?")
    # Levels: edit goes down, set, delete and show start there, up and top
    # go back; the prompt's [edit ...] line says where.
    cp = re.escape(t.user) + r"@\S+# ?"
    t.run("edit a rule", "edit rules", r"\[edit rules\]", prompt=cp)
    t.keys("TAB completes a rule's name at the level", "edit harbor\t", cp + "edit harbor-to-hk")
    t.run("down to the rule", "", r"\[edit rules harbor-to-hk\]", prompt=cp)
    m = t.run("show at a level: that rule only", "show | no-more",
              r"# \[edit rules harbor-to-hk\] of your candidate[\s\S]*action: (\w+)", prompt=cp)
    if "zones:" in t.text() or "domestic-fast-path" in t.text():
        t.fail("show at a level", "the rule only, not the whole candidate")
    new_action = "reset" if m.group(1) != "reset" else "block"
    t.run("set at a level", "set action " + new_action, r"\[edit rules harbor-to-hk\]", prompt=cp)
    t.run("the candidate changed there", "show | match action", r"action: " + new_action, prompt=cp)
    t.run("| compare is the whole candidate", "show | compare | match action: | no-more",
          r"\+\s+action: " + new_action, prompt=cp)
    t.run("up one level", "up", r"\[edit rules\]", prompt=cp)
    t.run("top", "top", r"\[edit\]", prompt=cp)
    t.run("up at the top", "up", r"already at the top level", prompt=cp)
    t.run("edit again, exit to the top", "edit zones", r"\[edit zones\]", prompt=cp)
    t.run("exit from a level goes to the top", "exit", r"\[edit\]", prompt=cp)
    t.run("exit leaves configuration mode", "exit", "", prompt=re.escape(t.user) + r"@\S+> ?")
    t.child.send("exit\r")
    t.close("exit")


operator()
secadmin()
print("shell session: every step as expected")
