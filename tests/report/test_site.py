"""The website report, built once at quick scale into a temporary folder: its sections, its
images, the numbers it quotes, a rebuild that recomputes nothing, and the page in a real browser.

The quick build (tiny images, a few loss evaluations per run) goes through the same code as
`python -m stylekit report` (`run.py --report`). The browser check opens the page in headless
Chromium through the DevTools protocol over a pipe (--remote-debugging-pipe: no websocket
client needed) and skips with a clear reason where /usr/bin/chromium is missing (Debian
package `chromium`; .ci/run installs it).
"""
import base64
import fcntl
import json
import os
import queue
import re
import subprocess
import threading
import time
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from stylekit.base.machine import short_line
from stylekit.report import runs
from stylekit.report import site as report_site
from stylekit.report.labels import fmt_num
from stylekit.settings import DEFAULT_ONEPASS

CHROMIUM = Path("/usr/bin/chromium")
# Every test here reads the quick site, built once for the module (a minute or more on 2 cores).
pytestmark = pytest.mark.slow


class _Page(HTMLParser):
    """Every <img> src, <link> href, <script>, and the figures with their captions."""

    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.scripts, self.ids = [], [], 0, set()
        self.figures, self._in_fig, self._has_caption = 0, False, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a)
        elif tag == "link":
            self.links.append(a.get("href", ""))
        elif tag == "script":
            self.scripts += 1
        elif tag == "figure":
            self.figures += 1
            self._has_caption.append(False)
        elif tag == "figcaption" and self._has_caption:
            self._has_caption[-1] = True


def parse(index: Path) -> _Page:
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory, cnn):
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    index = report_site.build(out, quick=True, cnn=cnn, progress=False)
    return index, time.perf_counter() - start


def test_quick_site_builds_with_every_section(site):
    index, seconds = site
    assert index.name == "index.html" and index.exists()
    assert (index.parent / "style.css").exists()
    page = parse(index)
    for section in ("part1", "part2", "part3", "implementation", "timings", "bells"):
        assert section in page.ids, f"section #{section} missing"
    assert page.scripts == 0, "the site must not need JavaScript"
    assert page.figures >= 10 and all(page._has_caption), "every figure needs a caption"
    html = index.read_text(encoding="utf-8")
    assert "Bells &amp; whistles" in html and "None yet" not in html
    for bell in ("Colour preservation", "Spatial control with masks", "Histogram loss", "Several styles, blended",
                 "Video with temporal consistency"):
        assert f">{bell} (" in html, f"bell {bell!r} missing"
    assert ">Any painting in one pass: WCT and AdaIN (" in html
    for figure in ("bell_wct_grid", "bell_wct-lite_grid", "bell_adain_grid", f"bell_{DEFAULT_ONEPASS}_controls"):
        assert figure in html, f"one-pass figure {figure} missing"
    # the one-pass times name the machine they were measured on: WCT's, WCT lite's, AdaIN's, the networks'
    assert html.count(f"warm, {escape(short_line())})") == 4
    assert sum(i["src"].endswith(".gif") for i in page.imgs) >= 2, "both videos are shown"
    assert "conv5_1" in html and "Gram" in html
    print(f"quick site built in {seconds:.1f} s")


def test_every_image_exists_decodes_and_is_local(site):
    index, _ = site
    page = parse(index)
    assert len(page.imgs) >= 20
    for img in page.imgs:
        src = img["src"]
        assert not re.match(r"^[a-z]+:|^//|^/", src), f"not a relative link: {src}"
        path = index.parent / src
        assert path.is_file(), f"missing image {src}"
        with Image.open(path) as im:
            im.load()
            assert im.width > 0 and im.height > 0
            assert (int(img["width"]), int(img["height"])) == im.size, f"{src}: width/height attributes"
        assert img.get("alt"), f"{src} has no alt text"
    for href in page.links:
        assert href == "data:," or not re.match(r"^[a-z]+:|^//|^/", href), f"external resource {href}"
    sources = {img["src"] for img in page.imgs}
    on_disk = {f"img/{p.name}" for p in (index.parent / "img").iterdir()}
    assert on_disk == sources, "img/ holds exactly the images the page shows"


class _RunsTable(HTMLParser):
    """The cells of each row of the timings table (<table class="runs">)."""

    def __init__(self):
        super().__init__()
        self.rows, self._inside, self._cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and "runs" in (dict(attrs).get("class") or "").split():
            self._inside = True
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False
        elif self._inside and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


TIMINGS_HEADER = ["run", "inputs", "output px", "evals", "init", "content layer", "style layers", "weights",
                  "time (s)", "content loss", "style loss"]


def test_captions_and_tables_quote_the_sidecars(site):
    """Every run's row of the timings table quotes its own sidecar: evaluations, time to the
    tenth of a second and final losses, in their columns (not merely somewhere on the page)."""
    index, _ = site
    table = _RunsTable()
    table.feed(index.read_text(encoding="utf-8"))
    assert table.rows and table.rows[0] == TIMINGS_HEADER
    rows = [r for r in table.rows[1:] if len(r) == len(TIMINGS_HEADER)]
    quoted = {(r[3], r[8], r[9], r[10]) for r in rows}
    results = index.parent / "results"
    metas = [json.loads(p.read_text()) for p in results.rglob("*.json")
             if not p.name.endswith("_trace.json") and not {"video", "fast", "onepass"} & set(p.relative_to(results).parts)]
    assert len(metas) >= 20 and len(rows) >= len(metas)
    for meta in metas:
        assert meta["settings"]["size"] == runs.QUICK.size
        f = meta.get("final_losses") or {}
        row = (str(meta["evals"]), f"{meta['wall_seconds']:.1f}",
               fmt_num(f["content"]) if "content" in f else "–", fmt_num(f["style"]) if "style" in f else "–")
        assert row in quoted, row


def test_rebuild_reuses_every_result(site, cnn, monkeypatch):
    index, _ = site
    bars = []   # the runs a rebuild would compute (`runs.ensure` computes through runs.run_job)

    def run_job(job, *args, **kwargs):
        bars.append(job.out.name)
        raise AssertionError(f"a rebuild recomputed {job.out}")

    monkeypatch.setattr(runs, "run_job", run_job)
    before = index.read_text(encoding="utf-8")
    stamps = {p: p.stat().st_mtime_ns for p in (index.parent / "results").rglob("*.png")}
    report_site.build(index.parent, quick=True, cnn=cnn, progress=False)
    assert bars == [], f"a rebuild recomputed runs: {bars}"
    assert index.read_text(encoding="utf-8") == before
    for p, t in stamps.items():
        if p.parent.name != "figures":
            assert p.stat().st_mtime_ns == t, f"{p} was rewritten"


# ---------------------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------------------

class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fds 3 and 4,
    messages are JSON terminated by a NUL byte)."""

    def __init__(self, profile: Path, log: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Above 10 so that moving them to 3 and 4 in the child cannot clobber each other.
        hi_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        hi_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)

        def child():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--remote-debugging-pipe", "--hide-scrollbars",
                 "--mute-audio", "about:blank"]
        self._log = open(log, "wb")
        self.proc = subprocess.Popen([str(CHROMIUM), *flags], stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, close_fds=False, preexec_fn=child)
        for fd in (to_chrome_r, from_chrome_w, hi_r, hi_w):
            os.close(fd)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.all_events: list[dict] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        q = self._replies.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                else:
                    self.all_events.append(msg)
                    self.events.put(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30):
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            q = self._replies[mid] = queue.Queue()
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no reply to {method} in {timeout} s") from None
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} event in {timeout} s")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()


def _errors(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions and failed loads, as one line each."""
    out = []
    for ev in events:
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append(f"exception: {d.get('text', '')} {d.get('exception', {}).get('description', '')}".strip())
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            out.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
    return out


def test_page_in_headless_chromium(site, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("headless browser check needs Chromium at /usr/bin/chromium "
                    "(Debian: apt-get install chromium; .ci/run installs it)")
    index, _ = site
    browser = DevTools(tmp_path / "profile", tmp_path / "chromium.log")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Page.navigate", {"url": index.resolve().as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired", session)
        check = browser.send("Runtime.evaluate", {"returnByValue": True, "expression": """
            JSON.stringify({
              images: Array.from(document.images).map(i => ({src: i.getAttribute('src'),
                       complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
              styled: getComputedStyle(document.querySelector('h2')).borderTopStyle === 'solid',
              title: document.title,
              sections: Array.from(document.querySelectorAll('section')).map(s => s.id)
            })"""}, session=session)
        state = json.loads(check["result"]["value"])
        metrics = browser.send("Page.getLayoutMetrics", session=session)
        size = metrics["cssContentSize"]
        shot = browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000), "scale": 1}},
            session=session, timeout=60)
        (tmp_path / "screenshot.png").write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.2)   # late console messages
        errors = _errors(browser.all_events)
    finally:
        browser.close()
    assert state["images"], "the page shows no images"
    broken = [i["src"] for i in state["images"] if not (i["complete"] and i["w"] > 0)]
    assert broken == [], f"images that did not load: {broken}"
    assert state["styled"], "style.css was not applied"
    assert {"part1", "part2", "part3", "implementation", "timings", "bells"} <= set(state["sections"])
    assert errors == [], f"browser console errors: {errors}"
    with Image.open(tmp_path / "screenshot.png") as shot_img:
        assert shot_img.width >= 1000 and shot_img.height > 2000
    print(f"screenshot: {tmp_path / 'screenshot.png'}")
