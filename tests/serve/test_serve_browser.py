"""The page in a real browser: Playwright drives Debian's chromium (/usr/bin/chromium, never a
downloaded browser) against a real uvicorn server on a free port. Upload a photo and a painting
(file chooser and drag and drop), run AdaIN and see the result, run a short optimization and see
the progress bar move and the preview change, cancel one, download a result and its sidecar.
Screenshots go to the test's temporary folder. Skips only where chromium is not installed."""
import base64
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from serve_helpers import painting_png, photo_png, shared_runner
from stylekit.serve.app import create_app
from stylekit.settings import DEFAULT_ONEPASS, MAX_SHARPEN, OnePassSettings

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="the browser test needs Chromium at /usr/bin/chromium "
                                "(Debian: apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def server():
    """A real uvicorn server in a thread, on a free port; stopped (jobs cancelled) afterwards."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    app = create_app(runner=shared_runner())
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(30)
    sock.close()
    assert not thread.is_alive(), "the server did not stop"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def set_range(page, selector, value):
    page.eval_on_selector(selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", str(value))


def detail(page):
    return page.text_content("#job-detail")


def go(page, jobs):
    """Press Go and wait for the new job (the `jobs`-th of the page) to be the one shown."""
    page.click("#go")
    page.wait_for_function("(n) => document.querySelectorAll('#strip .card').length === n", arg=jobs, timeout=60_000)


def test_the_page_end_to_end(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    problems, elsewhere = [], []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith((server, "blob:", "data:")) else None)
    page.goto(server + "/")
    page.wait_for_selector("#content-tiles .tile img")
    assert page.locator("#content-tiles .tile:not(.upload)").count() >= 6
    page.screenshot(path=tmp_path / "1-loaded.png")

    # A photo through the file chooser, a painting dropped on the painting section.
    (tmp_path / "my photo.png").write_bytes(photo_png(128, 96))
    page.set_input_files("#content-file", str(tmp_path / "my photo.png"))
    dropped = page.evaluate_handle("""([b64, name]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type: "image/png" }));
        return dt; }""", [base64.b64encode(painting_png(96)).decode(), "my painting.png"])
    page.dispatch_event("#style-section", "drop", {"dataTransfer": dropped})
    assert page.get_attribute("#content-tiles .tile.selected", "title") == "my photo"
    assert page.get_attribute("#style-tiles .tile.selected", "title") == "my painting"

    # AdaIN: the result appears, with its download links.
    page.click("text=Any painting")
    # Each decoder choice brings its method's own defaults (WCT lite's, the default, a lower alpha).
    alpha, decoders = "fieldset[data-method=adain] input[name=alpha]", "select[data-models=adain]"
    assert page.input_value(decoders) == DEFAULT_ONEPASS
    assert float(page.input_value(alpha)) == OnePassSettings.preset().alpha < 1
    sharpen = "fieldset[data-method=adain] input[name=sharpen]"   # WCT's sharpening: not sent for AdaIN, which refuses it
    assert float(page.input_value(sharpen)) == OnePassSettings.preset().sharpen
    page.select_option(decoders, "adain_decoder")
    assert float(page.input_value(alpha)) == OnePassSettings.preset("adain").alpha and not page.is_visible(sharpen)
    page.select_option(decoders, "wct")
    assert page.is_visible(sharpen) and float(page.input_value(sharpen)) == OnePassSettings.preset("wct").sharpen
    assert float(page.get_attribute(sharpen, "max") or 0) == MAX_SHARPEN   # the settings' limit, not a copy
    set_range(page, sharpen, 3)
    set_range(page, "fieldset[data-method=adain] input[name=size]", 128)
    go(page, 1)
    page.wait_for_selector("#download-png:not([hidden])", timeout=60_000)
    assert page.text_content("#job-status") == "done" and page.text_content("#form-error") == ""
    assert page.eval_on_selector("#picture-img", "img => img.complete && img.naturalWidth") == 128
    page.screenshot(path=tmp_path / "2-adain.png")
    with page.expect_download() as png_download:
        page.click("#download-png")
    with page.expect_download() as json_download:
        page.click("#download-json")
    png_path, json_path = tmp_path / "result.png", tmp_path / "result.json"
    png_download.value.save_as(png_path)
    json_download.value.save_as(json_path)
    assert Image.open(png_path).size == (128, 96)
    sidecar = json.loads(json_path.read_text())
    assert sidecar["mode"] == "adain" and sidecar["content"] == "upload:my photo.png"
    assert sidecar["method"] == "wct" and sidecar["alpha"] == OnePassSettings.preset("wct").alpha
    assert sidecar["sharpen"] == 3

    # A short optimization: the bar moves, the preview changes.
    page.click("text=Optimize")
    set_range(page, "fieldset[data-method=optimize] input[name=size]", 96)
    page.fill("input[name=steps]", "40")
    go(page, 2)
    widths, shots = set(), []
    deadline = time.monotonic() + 120
    while page.text_content("#job-status") not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the optimization did not finish"
        widths.add(page.eval_on_selector("#progress-bar", "el => el.style.width"))
        src = page.get_attribute("#picture-img", "src")
        if not page.is_hidden("#picture-img") and (not shots or shots[-1][0] != src) and len(shots) < 6:
            shots.append((src, page.locator("#picture-img").screenshot()))
        time.sleep(0.05)
    assert page.text_content("#job-status") == "done", detail(page)
    moving = {w for w in widths if w not in ("", "0%", "100%")}
    assert len(moving) >= 2, f"the progress bar did not move: {sorted(widths)}"
    assert len({shot for _, shot in shots}) >= 2, "the preview did not change"
    assert "step 40 of 40" in detail(page) and "first preview after" in detail(page), detail(page)
    page.screenshot(path=tmp_path / "3-optimized.png")

    # Cancel a long one: it stops and keeps its picture so far.
    page.fill("input[name=steps]", "2000")
    go(page, 3)
    page.wait_for_function("() => /step [1-9]/.test(document.querySelector('#job-detail').textContent)",
                           timeout=60_000)
    page.click("#cancel")
    page.wait_for_function("() => document.querySelector('#job-status').textContent === 'cancelled'",
                           timeout=60_000)
    assert "of 2000" in detail(page) and "step 0 " not in detail(page) and not page.is_hidden("#download-png")
    page.screenshot(path=tmp_path / "4-cancelled.png")

    # The strip keeps every result of the session; a card brings its result back.
    cards = page.locator("#strip .card")
    assert cards.count() == 3
    cards.nth(2).click()
    assert page.text_content("#job-title").startswith("Any painting")
    assert problems == [] and elsewhere == [], (problems, elsewhere)
    page.close()


def test_bad_input_shows_the_servers_words(server, browser, tmp_path):
    page = browser.new_page()
    page.goto(server + "/")
    page.wait_for_selector("#content-tiles .tile img")
    (tmp_path / "notes.png").write_bytes(b"not an image at all")
    page.set_input_files("#content-file", str(tmp_path / "notes.png"))
    page.click("#go")
    page.wait_for_function("() => document.querySelector('#form-error').textContent !== ''")
    assert "cannot read upload:notes.png as an image" in page.text_content("#form-error")
    page.close()


def test_each_part_shows_and_sends_only_its_fields(server, browser):
    """The server refuses a field the chosen part would ignore (as the CLI refuses the flag), so the
    page hides and leaves out the others' rows: the seed only for parts 1 and 2 (they start from
    noise), the style weight not for part 1, the photo's colours only for part 3."""
    page = browser.new_page()
    page.goto(server + "/")
    page.wait_for_selector("#content-tiles .tile img")
    page.click("#content-tiles .tile:not(.upload)")
    page.click("#style-tiles .tile:not(.upload)")
    rows = {"seed": "input[name=seed]", "style_weight": "input[name=style_weight]",
            "preserve_color": "fieldset[data-method=optimize] select[name=preserve_color]"}
    shown = {"1": {"seed"}, "2": {"seed", "style_weight"}, "3": {"style_weight", "preserve_color"}}
    for jobs, part in enumerate(("1", "2", "3"), start=1):
        page.select_option("select[name=part]", part)
        assert {name for name, sel in rows.items() if page.is_visible(sel)} == shown[part], part
        set_range(page, "fieldset[data-method=optimize] input[name=size]", 64)
        page.fill("input[name=steps]", "2")
        go(page, jobs)
        page.wait_for_function("() => ['done', 'failed'].includes(document.querySelector('#job-status').textContent)",
                               timeout=60_000)
        assert page.text_content("#form-error") == "" and page.text_content("#job-status") == "done", (part, detail(page))
    page.close()
