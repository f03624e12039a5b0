"""The dashboard's exec console in a real headless Chromium, against a container that runs:
a real runc agent behind the real gateway and API server (hollow nodes cannot exec: nothing
runs there). The console runs commands without a TTY over the page's WebSocket; what it
shows is checked against what the command did in the container.
"""

from __future__ import annotations

import asyncio

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from ..browser import Browser, available
from ..cluster import wait_until
from ..integration.test_dashboard import browser, dashboard, open_page, shots  # noqa: F401  (fixtures)
from ..integration.test_pyctl import pyctl
from .test_exec import cluster  # noqa: F401  (the fixture: pod "box", container "c", running)
from .test_runtime import node  # noqa: F401  (the fixture)
from .test_runtime import pytestmark as runtime_marks

pytestmark = [*runtime_marks, pytest.mark.skipif(available() is not None, reason=available() or "")]

OUT = "return document.querySelector('#exec-out')?.textContent || ''"


async def run(browser: Browser, command: str) -> None:
    """Type `command` in the console's command field and press Enter (the Run button's form)."""
    await browser.type("#exec-command", command)
    await browser.keys(Keys.ENTER)
    await browser.wait("return !document.querySelector('#exec-console').hidden", what="the console")


async def state(browser: Browser, text: str) -> str:
    return await browser.wait(f"const s = document.querySelector('#exec-state')?.textContent || '';"
                              f"return s.includes({text!r}) && s", what=f"state {text!r}")


async def test_a_shell_in_the_console_runs_lines_and_shows_its_exit_code(cluster, dashboard, browser):  # noqa: F811
    await open_page(browser, dashboard, "pods/default/box")
    await browser.wait("return document.querySelector('#exec-container option[value=c]')", what="container c")
    assert await browser.js("return document.querySelector('#exec-command').value") == "sh"
    await run(browser, "sh")
    assert await browser.text("#exec-shown") == "pyctl exec -i box -n default -c c -- sh"
    # Focus is in the input line: Enter sends each line to sh's stdin.
    await browser.wait("return document.activeElement?.id === 'exec-input' && !document.activeElement.disabled",
                       what="the input line focused")
    await browser.keys("echo hello from $((6 * 7)); echo oops >&2", Keys.ENTER)
    await browser.wait(OUT + ".includes('hello from 42')", what="stdout")
    stderr = await browser.wait("return [...document.querySelectorAll('#exec-out .stderr')].map(e => e.textContent).join('')",
                                what="stderr")
    assert stderr == "oops\n"
    # Colours are stripped: only the text is left.
    await browser.keys(r"printf '\033[1;31mred\033[0m plain\n'", Keys.ENTER)
    await browser.wait(OUT + ".includes('red plain')", what="the coloured line, stripped")
    assert "\x1b" not in await browser.js(OUT)
    await browser.keys("ls -d /tmp; echo ünïcode ✓", Keys.ENTER)
    await browser.wait(OUT + ".includes('/tmp\\nünïcode ✓\\n')", what="ls and UTF-8 both ways")
    await browser.screenshot("exec")
    await browser.keys("exit 3", Keys.ENTER)
    assert await state(browser, "exited with code") == "exited with code 3"
    # Each line typed is shown once (the console echoes it: no terminal does), beside what the
    # command printed (stdout and stderr are two pipes: their order between them is not kept).
    typed = await browser.js("return [...document.querySelectorAll('#exec-out .stdin')].map(e => e.textContent).join('')")
    assert typed == "echo hello from $((6 * 7)); echo oops >&2\nprintf '\\033[1;31mred\\033[0m plain\\n'\nls -d /tmp; echo ünïcode ✓\nexit 3\n"
    printed = await browser.js("return [...document.querySelectorAll('#exec-out .stdout')].map(e => e.textContent).join('')")
    assert printed == "hello from 42\nred plain\n/tmp\nünïcode ✓\n"
    assert await browser.js("return document.querySelector('#exec-input').disabled") is True
    await browser.click("#exec-close")
    assert await browser.js("return document.querySelector('#exec-console').hidden") is True
    assert await browser.console_errors() == []


async def test_ctrl_d_ends_stdin_and_ctrl_c_stops_the_command(cluster, api, dashboard, browser):  # noqa: F811
    await open_page(browser, dashboard, "pods/default/box")
    await browser.wait("return document.querySelector('#exec-container option[value=c]')", what="container c")
    await run(browser, "wc -l")
    await browser.wait("return document.activeElement?.id === 'exec-input'", what="the input line")
    await browser.keys("one", Keys.ENTER, "two", Keys.ENTER)
    await browser.type("#exec-input", Keys.CONTROL + "d", clear=False)  # wc counts once its stdin ends
    assert await state(browser, "exited") == "exited with code 0"
    assert (await browser.js(OUT)).split() == ["one", "two", "2"]

    await run(browser, "sh -c 'echo started; exec sleep 987'")
    await browser.wait(OUT + ".includes('started')", what="started")

    async def sleeping() -> bool:
        r = await pyctl(api.url, "exec", "box", "--", "ps")
        return "sleep 987" in r.out
    await wait_until(sleeping, timeout=20)
    # Its stdin ended (the input line is disabled then): Ctrl-C still reaches the console,
    # through its Stop button, which has the focus now.
    await browser.type("#exec-input", Keys.CONTROL + "d", clear=False)
    assert await browser.wait("return document.activeElement?.id", what="focus") == "exec-stop"
    await asyncio.to_thread(ActionChains(browser.driver).key_down(Keys.CONTROL).send_keys("c").key_up(Keys.CONTROL).perform)
    assert await state(browser, "stopped") == "^C: stopped"

    async def gone() -> bool:  # the connection closed, so the API server stopped the command
        r = await pyctl(api.url, "exec", "box", "--", "ps")
        return r.code == 0 and "sleep 987" not in r.out
    await wait_until(gone, timeout=20)


async def test_the_console_keeps_the_last_lines_and_shows_the_apis_errors(cluster, dashboard, browser):  # noqa: F811
    await open_page(browser, dashboard, "pods/default/box")
    await browser.wait("return document.querySelector('#exec-container option[value=c]')", what="container c")
    await run(browser, "seq 1 6500")
    assert await state(browser, "exited") == "exited with code 0"
    lines = (await browser.js(OUT)).split("\n")
    assert lines[0] == "1501" and lines[-2:] == ["6500", ""] and len(lines) == 5001
    # Output that never ends a line is kept to its last megabyte.
    await run(browser, "sh -c \"head -c 1500000 /dev/zero | tr '\\\\0' x; echo; echo end\"")
    assert await state(browser, "exited") == "exited with code 0"
    out = await browser.js(OUT)
    assert len(out) == 1 << 20 and out.endswith("x\nend\n") and set(out[:-5]) == {"x"}, (len(out), out[-10:])
    await run(browser, "nosuch --flag")
    message = await browser.wait("const s = document.querySelector('#exec-state');"
                                 "return s?.getAttribute('role') === 'alert' && s.textContent", what="the error")
    assert 'exec: "nosuch": executable file not found in $PATH' in message
    await run(browser, "'unclosed")
    assert await state(browser, "unclosed") == "unclosed ' in the command"
    # A narrow window: the console fits (its output wraps), nothing scrolls sideways.
    await browser.resize(400, 900)
    await run(browser, "echo " + "x" * 300)
    assert await state(browser, "exited") == "exited with code 0"
    assert await browser.js("return document.documentElement.scrollWidth") <= 400
