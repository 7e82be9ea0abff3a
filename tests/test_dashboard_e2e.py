"""The dashboard in a real browser: Debian's chromium, headless, driven through its chromedriver (selenium).

The page is generated from two real nights (tests/data/nights: a failure by a WARNING, a crash by a panic, a flaky
subtest), opened from a file:// URL with no network, and checked as rendered: cells, colours, the filters and their
URL state, and that a cell's link reaches that test's output. A screenshot is kept in reports/dashboard-test.png.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import host
from harness.settings import REPO_ROOT
from tests.helpers import run_harness

NIGHTS = Path(__file__).parent / "data" / "nights"
SCREENSHOT = REPO_ROOT / "reports" / "dashboard-test.png"


def installable(package: str) -> bool:
    policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True).stdout
    return "Candidate:" in policy and "Candidate: (none)" not in policy


@pytest.fixture
def browser():
    missing = [p for p in ("chromium", "chromedriver") if host.find(p) is None]
    if missing and not all(installable(p) for p in ("chromium", "chromium-driver")):
        pytest.skip("chromium cannot be installed on this machine (no apt candidate for chromium, chromium-driver)")
    assert not missing, f"{', '.join(missing)} missing: apt-get install chromium chromium-driver (./run does)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(host.find("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(host.find("chromedriver"))), options=options)
    yield driver
    driver.quit()


def visible_rows(driver) -> list[str]:
    return [r.find_element("css selector", "td.name").text
            for r in driver.find_elements("css selector", "#matrix tbody tr") if r.is_displayed()]


def test_the_dashboard_renders_filters_and_links_in_chromium(browser, tmp_path):
    nights = tmp_path / "nights"
    shutil.copytree(NIGHTS, nights)
    page = tmp_path / "index.html"
    made = run_harness("report", "--html", str(page), str(nights))
    assert made.returncode == 0, made.stderr
    browser.get(page.as_uri())
    assert visible_rows(browser) == ["canary/crash", "canary/flaky", "canary/pass", "canary/warning"]  # by flips, then name
    assert len(browser.find_elements("css selector", "#matrix tbody td[class^='s-']")) == 6  # 4 rows x 2 nights, 2 absent
    crash = browser.find_element("css selector", "#matrix tbody tr[data-name='canary/crash'] td.s-failed")
    assert "crash" in crash.get_attribute("class")
    assert crash.value_of_css_property("background-color") == "rgba(243, 139, 168, 1)"
    assert "seen first on 2026-11-26-default-2" in crash.find_element("css selector", "a").get_attribute("title")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    browser.find_element("id", "q").send_keys("FLA")
    assert visible_rows(browser) == ["canary/flaky"]
    assert "q=FLA" in browser.current_url
    browser.get(browser.current_url.split("#")[0] + "#q=&hidepass=1")  # a shared link: its view comes back
    assert visible_rows(browser) == ["canary/crash", "canary/flaky", "canary/warning"]

    crash = browser.find_element("css selector", "#matrix tbody tr[data-name='canary/crash'] td.s-failed a")
    crash.click()
    text = browser.find_element("tag name", "body").text
    assert text.startswith("canary/crash: failed (kernel panic: the guest died)") and "sysrq_handle_crash" in text
