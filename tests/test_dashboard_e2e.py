"""The dashboard in a real browser: Debian's chromium, headless, driven through its chromedriver (selenium).

The page is generated from two real nights (tests/data/nights: a failure by a WARNING, a crash by a panic, a flaky
subtest), opened from a file:// URL with no network, and checked as rendered: cells, colours, the filters and their
URL state, and that a cell's link reaches that test's output. A screenshot is kept in reports/dashboard-test.png.
"""
import json
import shutil
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.helpers import REPO_ROOT, run_harness

NIGHTS = Path(__file__).parent / "data" / "nights"
SCREENSHOT = REPO_ROOT / "reports" / "dashboard-test.png"


def attr(element: WebElement, name: str) -> str:
    """An attribute's text ("" when the element has none)."""
    return element.get_attribute(name) or ""


def visible_rows(driver: WebDriver) -> list[str]:
    return [r.find_element("css selector", "td.name").text
            for r in driver.find_elements("css selector", "#matrix tbody tr") if r.is_displayed()]


def test_the_dashboard_renders_filters_and_links_in_chromium(browser: WebDriver, tmp_path: Path) -> None:
    nights = tmp_path / "nights"
    shutil.copytree(NIGHTS, nights)
    page = tmp_path / "index.html"
    made = run_harness("report", "--html", str(page), str(nights))
    assert made.returncode == 0, made.stderr
    browser.get(page.as_uri())
    assert visible_rows(browser) == ["canary/crash", "canary/flaky", "canary/pass", "canary/warning"]  # by flips, then name
    assert len(browser.find_elements("css selector", "#matrix tbody td[class^='s-']")) == 6  # 4 rows x 2 nights, 2 absent
    crash = browser.find_element("css selector", "#matrix tbody tr[data-name='canary/crash'] td.s-failed")
    assert "crash" in attr(crash, "class")
    assert crash.value_of_css_property("background-color") == "rgba(243, 139, 168, 1)"
    assert "seen first on 2026-11-26-default-2" in attr(crash.find_element("css selector", "a"), "title")
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


HOSTILE = ('<script>document.title="owned"</script>', "it's \"quoted\"", "{{ 7*7 }}", "x" * 1_000_000)


def hostile_nights(tmp_path: Path) -> Path:
    """The two real nights with a subtest's name, reason, output and crash fingerprint made hostile, and a third night
    whose summary.json was cut short (as a disk that filled, or an older harness writing in place, leaves it)."""
    nights = tmp_path / "nights"
    shutil.copytree(NIGHTS, nights)
    for results in nights.glob("*/prebuilt/results.json"):
        doc = json.loads(results.read_text())
        for t in doc["tests"]:
            if t["name"] == "canary/warning":
                t["name"] = f"canary/{HOSTILE[0]}"
                t["reason"] = f"{HOSTILE[1]} {HOSTILE[2]}\nsecond line"
                t["output"] = [HOSTILE[3]]
        results.write_text(json.dumps(doc))
    for summary in nights.glob("*/summary.json"):
        doc = json.loads(summary.read_text())
        doc["changes"] = {k: [HOSTILE[0], "a\nb"] for k in doc.get("changes", {})}
        summary.write_text(json.dumps(doc))
    cut = nights / "2026-11-27-default"
    shutil.copytree(nights / "2026-11-26-default-2", cut)
    (cut / "summary.json").write_text((cut / "summary.json").read_text()[:100])
    return nights


def test_hostile_text_is_shown_as_text_tooltips_break_lines_and_a_cut_night_is_skipped(browser: WebDriver, tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    made = run_harness("report", "--html", str(page), str(hostile_nights(tmp_path)))
    assert made.returncode == 0, made.stderr
    assert "skipped" in made.stdout and "2026-11-27-default/summary.json: not readable JSON" in made.stdout
    html = page.read_text()
    assert HOSTILE[0] not in html and "&amp;#10;" not in html and HOSTILE[3] not in html  # the output is linked, not inlined
    browser.get(page.as_uri())
    assert browser.title != "owned" and browser.execute_script("return document.title") != "owned"
    names = browser.execute_script("return [...document.querySelectorAll('#matrix tbody td.name')].map(e => e.textContent)")
    assert f"canary/{HOSTILE[0]}" in names  # the name, as text
    titles = browser.execute_script("return [...document.querySelectorAll('[title]')].map(e => e.title)")
    assert any("\n" in t for t in titles) and not any("&#10;" in t for t in titles)  # line breaks, not the entity's text
    assert any(f"{HOSTILE[1]} {HOSTILE[2]}\nsecond line" in t for t in titles)  # quotes and braces as typed


CULPRIT_NIGHTS = Path(__file__).parent / "data" / "nights-culprit"


def test_the_culprit_is_named_in_the_nights_header_and_in_the_failing_cells_tooltip(browser: WebDriver, tmp_path: Path) -> None:
    """Three real nights of tests/test_culprit_slow.py (tests/data/README.md): the second bisected its new failure to a
    verified culprit, the third carried it ("still failing since ...")."""
    page = tmp_path / "index.html"
    made = run_harness("report", "--html", str(page), str(CULPRIT_NIGHTS))
    assert made.returncode == 0, made.stderr
    found = [f for s in sorted(CULPRIT_NIGHTS.glob("*/summary.json"))
             for f in json.loads(s.read_text()).get("culprits", {}).get("normal", []) if f.get("culprit")]
    short = found[0]["culprit"][:12]
    browser.get(page.as_uri())
    headers = [th.text for th in browser.find_elements("css selector", "#matrix th.culprit")]
    assert headers.count(short) == 2, headers  # the night that found it and the night that carried it
    failing = browser.find_elements("css selector", "#matrix tbody tr[data-name='mptcp/base'] td.s-failed a")
    titles = [attr(a, "title") for a in failing]
    assert len(titles) == 2 and f"culprit: {short}" in titles[0] + titles[1], titles
    assert any("still failing since" in t and short in t for t in titles), titles


def test_the_flakes_view_sorts_marks_known_flaky_and_links_the_last_failure(browser: WebDriver, tmp_path: Path) -> None:
    """The flakes table under the matrix, in chromium: rows by rate (highest first), a click on a header sorts by it
    (again: the other way), the known flaky one marked in its row and its cell, and its link opens the last failure."""
    nights = tmp_path / "nights"
    shutil.copytree(NIGHTS, nights)
    summary = nights / "2026-11-26-default-2" / "summary.json"
    doc = json.loads(summary.read_text())
    doc["known_flaky"] = {"prebuilt:canary/flaky": "2 failed of 4 (50 %, 95 %: 15-85 %) (known since 2026-11-26)"}
    summary.write_text(json.dumps(doc))
    page = tmp_path / "index.html"
    assert run_harness("report", "--html", str(page), str(nights)).returncode == 0
    browser.get(page.as_uri())

    def names() -> list[str]:
        return [attr(r, "data-test") for r in browser.find_elements("css selector", "#flakes tbody tr")]
    assert names() == ["canary/crash", "canary/warning", "canary/flaky"]  # 100 %, 100 %, 50 %
    assert "Flakes: 3 subtest(s) that failed in their last 100 result(s)" in browser.find_element("id", "flakes-title").text
    flaky = browser.find_element("css selector", "#flakes tr[data-test='canary/flaky']")
    assert [td.text for td in flaky.find_elements("css selector", "td")][3:10] == [
        "4", "2", "50 %", "15 %", "85 %", "flaky", "yes"]
    cell = browser.find_element("css selector", "#matrix tr[data-name='canary/flaky'] td.s-flaky")
    assert "known" in attr(cell, "class")
    assert "known flaky: 2 failed of 4" in attr(cell.find_element("css selector", "a"), "title")
    header = browser.find_element("css selector", "#flakes th[data-k='test']")
    header.click()
    assert names() == ["canary/crash", "canary/flaky", "canary/warning"]
    header.click()
    assert names() == ["canary/warning", "canary/flaky", "canary/crash"]
    flaky.find_element("css selector", "a").click()
    assert browser.find_element("tag name", "body").text.startswith("canary/flaky: flaky")
