"""A real headless Chromium for tests, driven through selenium and Debian's chromedriver.

Selenium rather than playwright: playwright drives a Chromium build of its own, pinned to its
release and downloaded at install time (impossible here), while Debian builds chromedriver
from the same source as its chromium, so the pair from `install-deps.sh test` always agrees.

Every selenium call blocks, and the API server under test runs on the test's event loop, so
each call goes to a thread (`asyncio.to_thread`). The browser has no network beyond
loopback and a fresh profile per test; `quit()` ends chromium and its children.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--disable-crash-reporter", "--disable-breakpad")


def available() -> str | None:
    """Why no browser test can run here, or None when one can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            return f"{path} is missing: run `bash deploy/install-deps.sh test` (it installs chromium and chromium-driver)"
    return None


class Browser:
    def __init__(self, shots: Path, width: int = 1280, height: int = 900) -> None:
        self.shots = shots
        self.size = (width, height)
        self.driver: Any = None
        self._profile = tempfile.mkdtemp(prefix="pyctl-chromium-")

    async def start(self) -> "Browser":
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self._profile}", f"--window-size={self.size[0]},{self.size[1]}"):
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Chromium keeps a crash-report database under $XDG_CONFIG_HOME whatever its flags say:
        # point that (and its cache) into the throwaway profile too, so nothing stays in $HOME.
        env = {**os.environ, "XDG_CONFIG_HOME": self._profile, "XDG_CACHE_HOME": self._profile}
        self.driver = await asyncio.to_thread(webdriver.Chrome, service=Service(CHROMEDRIVER, env=env), options=opts)
        return self

    async def close(self) -> None:
        if self.driver is not None:
            await asyncio.to_thread(self.driver.quit)
            self.driver = None
        shutil.rmtree(self._profile, ignore_errors=True)

    async def get(self, url: str) -> None:
        await asyncio.to_thread(self.driver.get, url)

    async def js(self, script: str, *args: Any) -> Any:
        return await asyncio.to_thread(self.driver.execute_script, script, *args)

    async def wait(self, script: str, *args: Any, timeout: float = 30.0, what: str = "") -> Any:
        """Run `script` (a function body returning a value) until it returns something truthy."""
        deadline = asyncio.get_running_loop().time() + timeout
        last: Any = None
        while True:
            last = await self.js(script, *args)
            if last:
                return last
            if asyncio.get_running_loop().time() > deadline:
                await self.screenshot("timeout")
                raise AssertionError(f"page never showed {what or script!r} within {timeout:.0f}s "
                                     f"(screenshot in {self.shots}); {await self._diagnosis()}")
            await asyncio.sleep(0.2)

    async def _diagnosis(self) -> str:
        """What the page was doing: its console, its requests (slowest last), its state."""
        logs = await asyncio.to_thread(self.driver.get_log, "browser")
        requests = await self.js(
            "return performance.getEntriesByType('resource').map(e => `${e.name.replace(location.origin, '')} "
            "${Math.round(e.startTime)}+${Math.round(e.duration)}ms`)")
        state = await self.js("return document.readyState + ' ' + location.href")
        return f"page {state}; console: {[e['message'] for e in logs]}; requests: {requests}"

    async def cdp(self, command: str, params: dict[str, Any]) -> Any:
        """A Chrome DevTools Protocol command (e.g. to make the network misbehave)."""
        return await asyncio.to_thread(self.driver.execute_cdp_cmd, command, params)

    async def text(self, selector: str) -> str:
        return await self.js("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                             selector) or ""

    async def click(self, selector: str) -> None:
        """A real click (selenium's, through the browser's input pipeline), not el.click().
        A live page may redraw the element between finding and clicking it: find it again."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        for attempt in range(10):
            element = await asyncio.to_thread(self.driver.find_element, By.CSS_SELECTOR, selector)
            try:
                await asyncio.to_thread(element.click)
                return
            except StaleElementReferenceException:
                if attempt == 9:
                    raise
                await asyncio.sleep(0.1)

    async def type(self, selector: str, text: str, clear: bool = True) -> None:
        from selenium.webdriver.common.by import By
        element = await asyncio.to_thread(self.driver.find_element, By.CSS_SELECTOR, selector)
        if clear:
            await asyncio.to_thread(element.clear)
        await asyncio.to_thread(element.send_keys, text)

    async def keys(self, *keys: str) -> None:
        """Keys typed into whatever has focus (Tab, Enter, ...: selenium.webdriver.Keys)."""
        from selenium.webdriver.common.action_chains import ActionChains
        chain = ActionChains(self.driver)
        for k in keys:
            chain = chain.send_keys(k)
        await asyncio.to_thread(chain.perform)

    async def resize(self, width: int, height: int) -> None:
        await asyncio.to_thread(self.driver.set_window_size, width, height)

    async def screenshot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        await asyncio.to_thread(self.driver.save_screenshot, str(path))
        return path

    async def console_errors(self) -> list[str]:
        logs = await asyncio.to_thread(self.driver.get_log, "browser")
        return [e["message"] for e in logs if e.get("level") == "SEVERE"]
