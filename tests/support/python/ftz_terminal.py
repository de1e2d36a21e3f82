"""ftzctl's shell in a pseudo-terminal (pexpect), read as the screen a
terminal would show (pyte): what the shell tests type and see.
tests/controlplane/shell_session.py and tests/dpdk/monitor_session.py
import it."""
import os
import re
import sys
import time

import pexpect
import pyte

ROWS, COLS = 24, 100


class Terminal:
    def __init__(self, ftzctl, socket, home, account):
        self.user, password = account.split(":", 1)
        env = dict(os.environ, HOME=home, FTZCTL_PASSWORD=password, TERM="xterm")
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.Stream(self.screen)
        self.log = open(os.path.join(home, self.user + ".screen"), "a", encoding="utf-8")
        self.child = pexpect.spawn(ftzctl, ["--socket", socket, "--user", self.user], env=env,
                                   encoding="utf-8", dimensions=(ROWS, COLS))
        self.prompt = re.escape(self.user) + r"@\S+[>#] ?"

    def pump(self, wait):
        try:
            data = self.child.read_nonblocking(65536, wait)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            return
        self.log.write(data)
        self.stream.feed(data)

    def text(self):
        return "\n".join(line.rstrip() for line in self.screen.display)

    def line(self):
        return self.screen.display[self.screen.cursor.y].rstrip()

    def fail(self, what, expected):
        self.pump(0.5)
        print(f"step '{what}': expected {expected!r}; the screen:\n{self.text()}\n"
              f"(the cursor line: {self.line()!r})")
        sys.exit(1)

    def until(self, what, test, expected, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.pump(0.1)
            found = test()
            if found:
                return found
        self.fail(what, expected)

    def keys(self, what, keys, line_pattern):
        """Types `keys`; the line being edited becomes `line_pattern`."""
        self.child.send(keys)
        return self.until(what, lambda: re.fullmatch(line_pattern, self.line()), line_pattern)

    def run(self, what, command, pattern, prompt=None):
        """Runs `command` on a clean screen; `pattern` is on the screen when
        the prompt is back."""
        self.screen.reset()
        self.child.send(command + "\r")
        prompt = prompt or self.prompt
        return self.until(what, lambda: re.fullmatch(prompt, self.line()) and re.search(pattern, self.text()),
                          pattern)

    def wait_prompt(self, what):
        self.until(what, lambda: re.fullmatch(self.prompt, self.line()), self.prompt)

    def close(self, what):
        self.child.expect(pexpect.EOF, timeout=15)
        self.child.close()
        if self.child.exitstatus != 0:
            print(f"step '{what}': exit status {self.child.exitstatus}")
            sys.exit(1)
