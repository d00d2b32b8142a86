"""The real thing: `umi-bench dashboard` serves the app on localhost and headless Chromium loads every page.

Needs Debian's `chromium` and `chromium-driver` (scripts/dev.sh APT_TEST). The leaderboard screenshot is
saved to artifacts/leaderboard.png (a test artifact, gitignored).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests import viz_lake

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LOAD_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(dashboard_lake):
    """`umi-bench dashboard --lake L --port P` in its own process group; yields the base URL."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "umi_bench", "dashboard", "--lake", str(dashboard_lake.root), "--port", str(port), "--address", "127.0.0.1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            os.killpg(proc.pid, signal.SIGTERM) if proc.poll() is None else None
            raise RuntimeError(f"dashboard did not come up on {base}:\n{log.read().decode(errors='replace')}")
        time.sleep(0.3)
    yield base
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="umi-bench-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(LOAD_TIMEOUT_S)
    yield driver
    driver.quit()


def wait_for_text(driver, *texts: str) -> str:
    """Wait until the page body contains every text and Streamlit has finished running the script."""
    def ready(d):
        body = d.find_element(By.TAG_NAME, "body").text
        running = d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']")
        return body if all(t in body for t in texts) and not any(e.is_displayed() for e in running) else False

    try:
        return WebDriverWait(driver, LOAD_TIMEOUT_S, poll_frequency=0.3, ignored_exceptions=(StaleElementReferenceException,)).until(ready)
    except Exception as e:
        raise AssertionError(f"page {driver.current_url} never showed {texts}; body was:\n{driver.find_element(By.TAG_NAME, 'body').text[:2000]}") from e


def test_every_page_in_headless_chromium(server, browser):
    browser.get(f"{server}/")  # the default page (Leaderboard)
    body = wait_for_text(browser, "Leaderboard", "Leader:", "19/20 successes", "4 entries", "Rollouts", "20 rollouts over 2 runs")
    assert "Traceback" not in body and "Error" not in body and "Page not found" not in body
    # Let plotly finish drawing before the screenshot.
    WebDriverWait(browser, LOAD_TIMEOUT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer"))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

    pages = {
        "scaling": ("Scaling", "Fits", "Points"),
        "data": ("Data", "Episodes", "Rejected episodes", "Quality"),
        f"episode?episode={viz_lake.episode_ids('umi')[2]}": ("Replay in Rerun", f"Rejected: {viz_lake.REJECT_REASON}"),
        "sql": ("SQL", "Read-only DuckDB", "5 rows"),
    }
    for path, texts in pages.items():
        browser.get(f"{server}/{path}")
        body = wait_for_text(browser, *texts)
        assert "Traceback" not in body and "Page not found" not in body, path
    # Navigation links for every page are in the sidebar.
    nav = browser.find_element(By.CSS_SELECTOR, "[data-testid='stSidebarNav']").text
    assert [line for line in nav.splitlines() if line] == ["Leaderboard", "Scaling", "Data", "Episode", "SQL"]
