"""report --format html in a real headless browser (Debian's chromium, driven by
Playwright): no console error, every image loads, the columns sort, a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import dltricks

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [  # this machine's closed network: no background requests that fail and log errors
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium, installed here if it is missing and this is a Debian machine where
    the test may (as root); otherwise the test says why it cannot run."""
    if not CHROMIUM.exists() and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
        install = ["apt-get", "install", "-y", "-qq", "chromium"]
        subprocess.run(install, capture_output=True, env=env)
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium, and it cannot be installed here (apt-get as root)")
    pytest.importorskip("playwright", reason="pip install playwright (make install does)")
    return CHROMIUM


def test_the_html_report_opens_without_errors_and_every_image_loads(chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    sweep = tmp_path / "sweep"
    args = ["model.depth=3,4", "seed=0,1", "trainer.epochs=2", "model.width=8"]
    assert dltricks("train", "-m", *args, f"hydra.sweep.dir={sweep}").returncode == 0
    out = tmp_path / "report"
    html = ["--format", "html", "--out", str(out)]
    proc = dltricks("report", str(sweep), "--by", "model.depth", *html)
    assert proc.returncode == 0, proc.stderr
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 800})  # a laptop's
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
        )
        first = page.eval_on_selector("table.sortable tbody tr td", "td => td.textContent")
        page.click("table.sortable th >> text=model.depth")  # ascending
        page.click("table.sortable th >> text=model.depth")  # descending
        after = page.eval_on_selector("table.sortable tbody tr td", "td => td.textContent")
        wide = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert len(images) >= 3 and all(images)  # curves, loss, lr: each decoded
    assert (first, after) == ("3", "4")  # the depth column sorted descending
    assert wide  # no sideways scrolling of the page at laptop width
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_comparisons_html_page_opens_with_its_tables_and_figures(chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    compared = tmp_path / "cmp"
    proc = dltricks(
        "versus", "optimizer=sgd,adam", "--problems", "digits_mlp,spirals_mlp", "--budget", "2",
        "--seeds", "2", "trainer.epochs=2", "trainer.threads=1", "--out", str(compared),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "page"
    proc = dltricks("report", str(compared), "--format", "html", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img",
            "imgs => imgs.map(i => [i.getAttribute('alt'), i.complete && i.naturalWidth > 0])",
        )
        tables = page.eval_on_selector_all("table", "ts => ts.length")
        text = page.inner_text("body")
        wide = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        browser.close()
    assert errors == []
    sources = {src for src, _ in images}
    assert {"profiles", "lr_sensitivity"} <= sources and all(ok for _, ok in images)
    assert tables >= 2  # the results (tuned vs default gain included), the profiles
    assert "Performance profiles" in text and "adam" in text and "digits_mlp" in text
    assert wide
