#!/usr/bin/env python3
"""Open every page of the built site in headless Chromium and check that it really works offline.

    .venv/bin/python tools/check_site.py [--html _build/html] [--screenshots one|all|none]

Serves _build/html on 127.0.0.1 (a free port) and loads the root index plus every page of
_toc.yml. Per page it checks: HTTP 200; no request to any host but 127.0.0.1 and no failed or
4xx/5xx request; MathJax typeset every formula (pages whose HTML holds math) without a TeX error;
every <img> loaded; every stored ipywidget drawn; no console error or uncaught exception. It also
scans every .html file for scripts, styles, images or frames addressed off the site. One line per
page; exit 1 on any failure. A screenshot of the first chapter goes to _build/screenshots/.

Chromium: $CHROMIUM, else /usr/bin/chromium (Debian: apt-get install chromium), else one on PATH.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import os
import shutil
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booktoc import ROOT, toc_docnames  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Nothing resolves but the local server: a page that asks a CDN fails here, loudly.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOCAL_SCHEMES = {"data", "blob", "about", "javascript"}
WIDGET_VIEW = 'type="application/vnd.jupyter.widget-view+json"'

# In the page: make lazy images load, then report each image's state.
JS_IMAGES = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(img => { img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r);
                         setTimeout(r, 10000); })));
  return imgs.map(img => ({src: img.getAttribute('src'), w: img.naturalWidth}));
}"""
JS_MATH = """async () => {
  if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) return null;
  await MathJax.startup.promise;
  const sources = Array.from(document.querySelectorAll('span.math, div.math'));
  return {typeset: document.querySelectorAll('mjx-container').length,
          sources: sources.length,
          raw: sources.filter(e => !e.querySelector('mjx-container'))
                      .map(e => e.textContent.trim().slice(0, 60)).slice(0, 3),
          errors: Array.from(document.querySelectorAll('mjx-merror'))
                       .map(e => e.getAttribute('data-mjx-error') || e.textContent).slice(0, 3)};
}"""
# html-manager replaces each <script type=widget-view> by a <div class="jupyter-widgets ..."> view.
# Counts top-level views only (a view inside another view's subarea is part of that view).
JS_WIDGETS = """() => Array.from(document.querySelectorAll('.widget-subarea'))
                     .filter(area => area.querySelector('.jupyter-widgets')).length"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the browser hung up: fine
            super().handle_error(request, client_address)


def serve(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def find_chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit("check_site: no Chromium found. Install it (Debian: `apt-get install chromium`, "
                     "or `make sysdeps` as root) or set CHROMIUM=/path/to/chrome.")


class OffsiteRefs(html.parser.HTMLParser):
    """Resources (not links) that a page would fetch from another host."""

    ATTRS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src",
             "video": "src", "embed": "src", "object": "data"}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        urls = []
        if tag in self.ATTRS:
            urls.append(attrs.get(self.ATTRS[tag]))
        if tag == "link" and set((attrs.get("rel") or "").split()) & {"stylesheet", "preload", "modulepreload", "icon", "prefetch"}:
            urls.append(attrs.get("href"))
        for url in filter(None, urls):
            parts = urlsplit(url.strip())
            if parts.netloc or url.strip().startswith("//"):
                self.found.append(f"<{tag}> {url}")


def static_scan(html_dir: Path) -> list[str]:
    problems = []
    for path in sorted(html_dir.rglob("*.html")):
        parser = OffsiteRefs()
        parser.feed(path.read_text(encoding="utf8", errors="replace"))
        problems += [f"{path.relative_to(html_dir)}: {ref}" for ref in parser.found]
    return problems


def check_page(context, base: str, rel: str, html_dir: Path, shot: Path | None) -> tuple[list[str], str]:
    source = (html_dir / rel).read_text(encoding="utf8", errors="replace")
    has_math = 'class="math' in source or "\\(" in source or "\\[" in source
    n_widgets = source.count(WIDGET_VIEW)

    failures: list[str] = []
    offsite, bad_responses, console_errors = [], [], []
    pending: set[str] = set()  # requests not yet finished or failed: named when the page never goes quiet
    page = context.new_page()

    def on_request(request):
        pending.add(request.url)
        parts = urlsplit(request.url)
        if parts.scheme not in LOCAL_SCHEMES and parts.hostname != "127.0.0.1":
            offsite.append(request.url)

    def on_response(response):
        if response.status >= 400:
            bad_responses.append(f"{response.status} {response.url.replace(base, '')}")

    def on_failed(request):
        pending.discard(request.url)
        if urlsplit(request.url).hostname == "127.0.0.1":
            bad_responses.append(f"failed ({request.failure}) {request.url.replace(base, '')}")

    page.on("request", on_request)
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    page.on("requestfinished", lambda request: pending.discard(request.url))
    def on_console(msg):
        # Chromium asks every site for /favicon.ico; the book has none, and a 404 there is harmless.
        if msg.type == "error" and not (msg.location or {}).get("url", "").endswith("/favicon.ico"):
            console_errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console_errors.append(f"uncaught: {exc}"))

    start = time.perf_counter()
    if 'http-equiv="Refresh"' in source:  # the root index.html redirects to the toc's root page
        response = page.goto(f"{base}/{rel}", wait_until="commit", timeout=60_000)
        try:
            page.wait_for_url(lambda url: url != f"{base}/{rel}", wait_until="load", timeout=15_000)
        except Exception:
            failures.append("redirect did not happen")
        landed = page.url.replace(base + "/", "")
        if not (html_dir / landed).is_file():
            failures.append(f"redirects to {landed!r}, which is not a page of the site")
        page.close()
        if offsite or bad_responses or console_errors:
            failures.append(f"off-host {offsite[:3]}, bad responses {bad_responses[:3]}, console {console_errors[:3]}")
        status = response.status if response else None
        if status != 200:
            failures.append(f"HTTP {status}")
        return failures, f"HTTP {status}, redirects to {landed}, {time.perf_counter() - start:.1f} s"

    response = page.goto(f"{base}/{rel}", wait_until="load", timeout=60_000)
    status = response.status if response else None
    if status != 200:
        failures.append(f"HTTP {status}")

    math = page.evaluate(JS_MATH)
    math_note = "no math"
    if has_math:
        if math is None:
            failures.append("page has math but MathJax did not load")
            math_note = "math NOT typeset"
        else:
            math_note = f"math {math['sources'] - len(math['raw'])}/{math['sources']} typeset"
            if math["typeset"] < 1:
                failures.append("page has math but no mjx-container: MathJax typeset nothing")
            if math["raw"]:  # MathJax leaves a formula it cannot parse (unbalanced braces) as text
                failures.append(f"formula(s) left untypeset: {math['raw']}")
            if math["errors"]:
                failures.append(f"TeX errors: {math['errors']}")

    images = page.evaluate(JS_IMAGES)
    broken = [i["src"] for i in images if not i["w"]]
    if broken:
        failures.append(f"{len(broken)} image(s) not loaded: {broken[:3]}")

    drawn = 0
    if n_widgets:
        try:
            page.wait_for_function(f"({JS_WIDGETS})() >= {n_widgets}", timeout=15_000)
        except Exception:
            pass
        drawn = page.evaluate(JS_WIDGETS)
        if drawn < n_widgets:
            failures.append(f"{n_widgets} widget(s) stored but {drawn} drawn")

    try:
        page.wait_for_load_state("networkidle", timeout=30_000)
    except Exception as exc:  # a page that never goes quiet: say which requests kept it busy
        still = sorted(url.replace(base, "") for url in pending)
        raise TimeoutError(f"no quiet network in 30 s; unfinished: {still[:3] or 'none'}") from exc
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    elapsed = time.perf_counter() - start
    page.close()

    if offsite:
        failures.append(f"{len(offsite)} request(s) off 127.0.0.1: {offsite[:3]}")
    if bad_responses:
        failures.append(f"{len(bad_responses)} bad response(s): {bad_responses[:3]}")
    if console_errors:
        failures.append(f"{len(console_errors)} console error(s): {console_errors[:3]}")

    summary = (f"HTTP {status}, {math_note}, img {len(images) - len(broken)}/{len(images)}, "
               f"widgets {drawn}/{n_widgets}, {len(offsite)} off-host, {len(console_errors)} console errors, "
               f"{elapsed:.1f} s")
    return failures, summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", choices=["one", "all", "none"], default="one",
                        help="full-page PNGs into _build/screenshots/: the first chapter (default), every page, or none")
    args = parser.parse_args(argv)

    html_dir = args.html.resolve()
    if not (html_dir / "index.html").exists():
        raise SystemExit(f"check_site: {html_dir}/index.html missing: build the site first (make site)")
    pages = ["index.html"] + [f"{name}.html" for name in toc_docnames()]
    missing = [p for p in pages if not (html_dir / p).exists()]
    if missing:
        raise SystemExit(f"check_site: pages of _toc.yml missing from {html_dir}: {missing} (make site)")
    chapters = pages[2:] or pages
    shots_dir = ROOT / "_build" / "screenshots"

    from playwright.sync_api import sync_playwright

    failed = 0
    static = static_scan(html_dir)
    if static:
        failed += 1
        print(f"FAIL static scan: {len(static)} off-site resource reference(s) in the HTML:")
        for s in static[:20]:
            print(f"     - {s}")
    else:
        print(f"ok   static scan: no script, style, image or frame addressed off the site "
              f"({sum(1 for _ in html_dir.rglob('*.html'))} html files)")

    server, base = serve(html_dir)
    start = time.perf_counter()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS, headless=True)
            for rel in pages:
                # A fresh context per page, as a reader opening it: with the previous pages' cache,
                # Chromium here never reported 10_learning (65 formulas) as network-idle.
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                want_shot = args.screenshots == "all" or (args.screenshots == "one" and rel == chapters[0])
                shot = shots_dir / rel.replace("/", "__").replace(".html", ".png") if want_shot else None
                for attempt in (1, 2):  # a page that times out once on a busy machine gets a second try
                    try:
                        failures, summary = check_page(context, base, rel, html_dir, shot)
                        if attempt == 2:
                            summary += f" (second try; the first: {crash})"
                        break
                    except Exception as exc:  # a timeout or a crashed page, twice, is a failure of this page
                        crash = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                        for left_open in context.pages:  # the failed page, which the exception skipped closing
                            left_open.close()
                        failures, summary = [crash], "check crashed twice"
                if failures:
                    failed += 1
                    print(f"FAIL {rel}: {summary}")
                    for f in failures:
                        print(f"     - {f}")
                else:
                    print(f"ok   {rel}: {summary}")
                if shot is not None and shot.exists():
                    print(f"     screenshot: {shot.relative_to(ROOT)}")
                context.close()
            browser.close()
    finally:
        server.shutdown()
    took = time.perf_counter() - start
    if failed:
        print(f"check_site: {failed} check(s) failed ({len(pages)} pages, {took:.1f} s)")
        return 1
    print(f"check_site: all {len(pages)} pages passed in headless Chromium ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
