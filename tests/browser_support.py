"""Helpers for ``tests/book/test_browser.py``: read the built book the way a reader's browser does.

The pure-Python half (page list, table of contents, id index, link / image / error-cell
checks on static HTML) needs no browser and is unit-tested on a synthetic site.  The other
half starts a quiet local HTTP server over ``_build/html`` and a headless Chromium driven by
Debian's ``chromedriver`` (never selenium-manager: the sandbox and CI have no internet).
"""

from __future__ import annotations

import html.parser
import io
import http.server
import os
import shutil
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import yaml

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# pages that every Sphinx build writes but that are not part of the book's navigation
NON_BOOK_PAGES = frozenset({"genindex.html", "search.html", "py-modindex.html"})
SKIPPED_DIRS = frozenset({"_static", "_sources", "_images", "_downloads"})
# myst-nb marks a failing cell's output ``output traceback`` and captured stderr ``output stderr``;
# docutils marks a reST/MyST error ``system-message`` and an unresolved reference ``problematic``
ERROR_OUTPUT_CLASSES = (("output", "traceback"), ("output", "stderr"), ("output", "error"),
                        ("system-message",), ("problematic",))
ERROR_OUTPUT_SELECTOR = ", ".join("." + ".".join(c) for c in ERROR_OUTPUT_CLASSES)
TRACEBACK_TEXT = "Traceback (most recent call last)"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
_FAKE_ORIGIN = "http://book.invalid/"


# ---------------------------------------------------------------------------- pages and toc
def book_pages(html_dir: Path, keep: frozenset[str] = frozenset()) -> list[str]:
    """Every HTML page of the book, as posix paths relative to ``html_dir``, sorted.

    Sphinx's own ``genindex.html``/``search.html`` and the asset folders are left out,
    unless a page is named in ``keep`` (e.g. a ``genindex`` that the table of contents lists).
    """
    pages = []
    for path in html_dir.rglob("*.html"):
        rel = path.relative_to(html_dir).as_posix()
        if rel.split("/")[0] in SKIPPED_DIRS:
            continue
        if rel in NON_BOOK_PAGES and rel not in keep:
            continue
        pages.append(rel)
    return sorted(pages)


def toc_files(toc_path: Path) -> list[str]:
    """The documents a Jupyter Book ``_toc.yml`` lists: the root, then every ``file:``, in order."""
    toc = yaml.safe_load(Path(toc_path).read_text())
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(f"{toc_path}: a Jupyter Book table of contents needs a 'root' entry")
    files = [str(toc["root"])]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for key, value in node.items():
                if key != "file":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def toc_pages(toc_path: Path) -> list[str]:
    """The HTML page each ``_toc.yml`` entry becomes (``chapters/intro`` -> ``chapters/intro.html``)."""
    return [str(PurePosixPath(f).with_suffix("")) + ".html" for f in toc_files(toc_path)]


def redirect_target(page_html: str) -> str | None:
    """The URL of a ``<meta http-equiv="Refresh">`` stub such as Jupyter Book's ``index.html``."""
    parser = _Collector()
    parser.feed(page_html)
    return parser.refresh


# ----------------------------------------------------------------------- static HTML parse
@dataclass
class PageFacts:
    """What a page's served HTML contains, as a browser-less parser sees it."""

    ids: set[str] = field(default_factory=set)
    hrefs: list[str] = field(default_factory=list)
    img_srcs: list[str] = field(default_factory=list)
    has_math: bool = False
    error_outputs: list[str] = field(default_factory=list)  # class lists of error-output elements
    has_traceback_text: bool = False


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.facts = PageFacts()
        self.refresh: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id",) + (("name",) if tag == "a" else ()):
            if attrs.get(key):
                self.facts.ids.add(attrs[key])
        if tag == "a" and attrs.get("href") is not None:
            self.facts.hrefs.append(attrs["href"])
        if tag == "img" and attrs.get("src") is not None:
            self.facts.img_srcs.append(attrs["src"])
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            content = attrs.get("content") or ""
            if "url=" in content.lower():
                self.refresh = content[content.lower().index("url=") + 4:].strip().strip("'\"")
        classes = set((attrs.get("class") or "").split())
        if "math" in classes and tag in ("span", "div"):
            self.facts.has_math = True
        if any(set(c) <= classes for c in ERROR_OUTPUT_CLASSES):
            self.facts.error_outputs.append(f"<{tag} class=\"{attrs.get('class')}\">")

    def handle_data(self, data):
        if TRACEBACK_TEXT in data:
            self.facts.has_traceback_text = True


def page_facts(page_html: str) -> PageFacts:
    """Parse one page's HTML into :class:`PageFacts`."""
    parser = _Collector()
    parser.feed(page_html)
    parser.close()
    return parser.facts


class SiteIndex:
    """Lazily parsed, cached facts about the files of one built site (``html_dir``)."""

    def __init__(self, html_dir: Path):
        self.html_dir = Path(html_dir)
        self._facts: dict[str, PageFacts] = {}

    def path_of(self, rel: str) -> Path:
        return self.html_dir / rel

    def exists(self, rel: str) -> bool:
        return self.path_of(rel).is_file()

    def facts(self, rel: str) -> PageFacts:
        if rel not in self._facts:
            self._facts[rel] = page_facts(self.path_of(rel).read_text(encoding="utf-8", errors="replace"))
        return self._facts[rel]

    def ids(self, rel: str) -> set[str]:
        return self.facts(rel).ids


# ----------------------------------------------------------------------------- the checks
def internal_target(href: str, page: str) -> tuple[str, str] | None:
    """Resolve ``href`` found on ``page`` to ``(file relative to the site root, fragment)``.

    Returns None for links that leave the book: another scheme (``mailto:``, ``javascript:``,
    ``data:``) or an absolute URL.  A directory resolves to its ``index.html``; percent-escapes
    in the path and fragment are decoded.  Raises ValueError for a link above the site root.
    """
    href = href.strip()
    base = urljoin(_FAKE_ORIGIN, page)
    url = urlsplit(urljoin(base, href))
    if url.scheme != "http" or url.netloc != urlsplit(_FAKE_ORIGIN).netloc:
        return None
    path = unquote(url.path)
    if not path.startswith("/"):
        raise ValueError(f"link {href!r} on {page} resolves outside the book")
    rel = path.lstrip("/")
    if rel == "" or rel.endswith("/"):
        rel += "index.html"
    return rel, unquote(url.fragment)


def link_problems(page: str, hrefs, site: SiteIndex, exists=None, live_ids=None) -> list[str]:
    """Broken internal links among ``hrefs`` (raw ``href`` attributes) of ``page``.

    A link is broken if its target file does not exist (``exists(rel)``; default: on disk in the
    site) or if its ``#fragment`` names no element ``id`` of the target page.  For links into the
    page itself, ``live_ids`` (the ids in the browser's DOM) are accepted as well.  External
    links are not checked.  One message per distinct broken href.
    """
    exists = exists or site.exists
    problems, seen = [], set()
    for href in hrefs:
        if href in seen:
            continue
        seen.add(href)
        try:
            target = internal_target(href, page)
        except ValueError as err:
            problems.append(f"broken link {href!r}: {err}")
            continue
        if target is None:
            continue
        rel, fragment = target
        if not exists(rel):
            problems.append(f"broken link {href!r}: {rel} does not exist")
            continue
        if not fragment or not rel.endswith(".html"):
            continue
        ids = site.ids(rel) if site.exists(rel) else set()
        if rel == page and live_ids is not None:
            ids = ids | set(live_ids)
        if fragment not in ids:
            problems.append(f"broken link {href!r}: no element with id {fragment!r} in {rel}")
    return problems


def image_problems(page: str, srcs, site: SiteIndex, exists=None) -> list[str]:
    """Images of ``page`` whose ``src`` is missing from the site or is not an image file."""
    exists = exists or site.exists
    problems = []
    for src in dict.fromkeys(srcs):
        if src.startswith("data:image/"):
            continue
        try:
            target = internal_target(src, page)
        except ValueError as err:
            problems.append(f"image {src!r}: {err}")
            continue
        if target is None:
            problems.append(f"image {src!r} is not served by the book (external images break offline)")
            continue
        rel = target[0]
        if not rel.lower().endswith(IMAGE_SUFFIXES):
            problems.append(f"image {src!r}: {rel} is not an image file")
        elif not exists(rel):
            problems.append(f"image {src!r}: {rel} does not exist")
    return problems


def error_output_problems(facts: PageFacts) -> list[str]:
    """Error output cells (traceback, stderr, docutils system messages) in a page."""
    problems = [f"error output element {e}" for e in facts.error_outputs]
    if facts.has_traceback_text:
        problems.append(f"the text {TRACEBACK_TEXT!r} appears in the page")
    return problems


def static_page_problems(site: SiteIndex, page: str) -> list[str]:
    """All browser-free checks of one page: links, image files, error output."""
    facts = site.facts(page)
    return (link_problems(page, facts.hrefs, site) + image_problems(page, facts.img_srcs, site)
            + error_output_problems(facts))


# ------------------------------------------------------------------------- server, browser
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site silently and records ``(path, status)`` of every request."""

    log: list[tuple[str, int]]  # set per server class

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass

    def log_request(self, code="-", size="-"):
        try:
            status = int(getattr(code, "value", code))
        except (TypeError, ValueError):
            status = 0
        self.log.append((self.path, status))


class BookServer:
    """``http.server`` over ``html_dir`` on 127.0.0.1 (free port) in a daemon thread."""

    def __init__(self, html_dir: Path):
        self.requests: list[tuple[str, int]] = []
        handler = type("Handler", (_QuietHandler,), {"log": self.requests})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      partial(handler, directory=str(html_dir)))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="book-server", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def failed_requests(self) -> list[tuple[str, int]]:
        """Requests answered with an error status (the browser's own favicon probe excepted)."""
        return [(p, s) for p, s in list(self.requests) if s >= 400 and p != "/favicon.ico"]


def find_chromium() -> str | None:
    """Path of a Chromium binary: ``$HLM_CHROMIUM`` or the Debian location."""
    env = os.environ.get("HLM_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    return next((c for c in CHROMIUM_CANDIDATES if Path(c).exists()), None) or shutil.which("chromium")


def find_chromedriver() -> str | None:
    """Path of the ``chromedriver`` matching the system Chromium (Debian package ``chromium-driver``)."""
    return os.environ.get("HLM_CHROMEDRIVER") or shutil.which("chromedriver")


def start_chromium(chromium: str, chromedriver: str, width: int = 1280, height: int = 800):
    """A headless Chromium session, offline-friendly, with a ``width`` x ``height`` viewport."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--window-size={width},{height}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    # the viewport (what a screenshot shows) must be exactly width x height
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


# ------------------------------------------------------------------- in-browser page checks
MATHJAX_WAIT_JS = r"""
const [limitMs, done] = [arguments[0], arguments[arguments.length - 1]];
const t0 = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => document.fonts.ready)  // typeset, and its web fonts loaded
      .then(() => done({ok: true}), e => done({ok: false, why: 'MathJax failed: ' + e}));
  } else if (document.readyState === 'complete' && Date.now() - t0 > 2000) {
    const src = [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s));
    done({ok: false, why: 'MathJax never started (the page loaded, window.MathJax.startup is missing; '
                          + 'MathJax script: ' + (src.join(' ') || 'none') + ')'});
  } else if (Date.now() - t0 > limitMs) {
    done({ok: false, why: 'MathJax did not finish within ' + limitMs / 1000 + ' s'});
  } else { setTimeout(poll, 50); }
})();
"""

MATH_STATE_JS = r"""
const maths = [...document.querySelectorAll('span.math, div.math')];
const bare = maths.filter(m => !m.querySelector('mjx-container'));
const merr = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')];
const clone = document.body.cloneNode(true);
clone.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight').forEach(e => e.remove());
const text = clone.textContent, raw = [], re = /\\\(|\\\[|\\begin\{/g;
let m;
while ((m = re.exec(text)) && raw.length < 3) {
  raw.push(text.slice(Math.max(0, m.index - 20), m.index + 40).replace(/\s+/g, ' ').trim());
}
return {n: maths.length, containers: document.querySelectorAll('mjx-container').length,
        bare: bare.length, bareSample: bare.slice(0, 2).map(b => b.textContent.trim().slice(0, 60)),
        errors: merr.slice(0, 3).map(e => e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80)),
        nErrors: merr.length, raw: raw};
"""

IMAGES_SETTLE_JS = r"""
const [limitMs, done] = [arguments[0], arguments[arguments.length - 1]];
const imgs = [...document.images];
imgs.forEach(i => { i.loading = 'eager'; });
const t0 = Date.now();
(function poll() {
  const pending = imgs.filter(i => !i.complete);
  if (pending.length === 0 || Date.now() - t0 > limitMs) done(pending.map(i => i.getAttribute('src')));
  else setTimeout(poll, 50);
})();
"""

PAGE_STATE_JS = r"""
const selector = arguments[0], tracebackText = arguments[1];
const figureOf = i => !!i.closest('.cell_output, figure');
const imgs = [...document.images].map(i => ({src: i.getAttribute('src'), url: i.src, complete: i.complete,
                                            w: i.naturalWidth, figure: figureOf(i)}));
const corners = [];
for (const i of document.images) {
  if (!figureOf(i) || !i.complete || !i.naturalWidth || /\.svg(\?|#|$)/i.test(i.src)) continue;
  const c = document.createElement('canvas');
  c.width = i.naturalWidth; c.height = i.naturalHeight;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(i, 0, 0);
  const px = [[0, 0], [c.width - 1, 0], [0, c.height - 1], [c.width - 1, c.height - 1]]
    .map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data));
  corners.push({src: i.getAttribute('src'), px: px});
}
return {
  imgs: imgs, corners: corners,
  hrefs: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  errors: [...document.querySelectorAll(selector)].map(
    e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.') + ': '
         + e.textContent.trim().replace(/\s+/g, ' ').slice(0, 100)),
  traceback: document.body.textContent.includes(tracebackText),
  emptyCitations: [...document.querySelectorAll('.bibtex-citation')]
    .filter(e => /^[\[(]?\s*[\])]?$/.test(e.textContent.trim())).length,
};
"""

# Layout faults a reader meets at the current viewport width: display equations cut off (wider than their
# box with no way to scroll, or sticking out of the article column) and output tables whose cells have no
# horizontal padding (adjacent numbers run together).
LAYOUT_JS = r"""
const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const ab = art.getBoundingClientRect();
const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
const clipped = [];
for (const m of document.querySelectorAll('mjx-container[display="true"]')) {
  const box = m.getBoundingClientRect();
  const inner = (m.firstElementChild || m).getBoundingClientRect();
  // content left of its box cannot be scrolled to; a box outside the article is cut by the page
  let hidden = inner.left < box.left - 1 || box.left < ab.left - 1 || box.right > ab.right + 1;
  for (let el = m; el && el !== art && !hidden; el = el.parentElement) {
    if (scrolls(el)) break;
    if (el.scrollWidth > el.clientWidth + 1) hidden = true;
  }
  if (hidden) clipped.push((m.closest('.math') || m).textContent.replace(/\s+/g, ' ').slice(0, 60));
}
const cramped = [...document.querySelectorAll('.cell_output table td')].filter(td => {
  const cs = getComputedStyle(td);
  return parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight) < 4;
}).length;
return {clipped: clipped, cramped: cramped, width: window.innerWidth};
"""


def layout_problems(driver) -> list[str]:
    """Equations cut off and cramped table cells at the driver's current width (see ``LAYOUT_JS``)."""
    state = driver.execute_script(LAYOUT_JS)
    problems = [f"display equation clipped at {state['width']} px: {tex!r}" for tex in state["clipped"]]
    if state["cramped"]:
        problems.append(f"{state['cramped']} output table cell(s) without horizontal padding")
    return problems


class HttpProbe:
    """Status and content type of URLs on the local book server (HEAD, cached)."""

    def __init__(self):
        self._cache: dict[str, tuple[int, str]] = {}

    def head(self, url: str) -> tuple[int, str]:
        import urllib.error
        import urllib.request

        url = url.split("#")[0]
        if url not in self._cache:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as r:
                    self._cache[url] = (r.status, r.headers.get("Content-Type", ""))
            except urllib.error.HTTPError as err:
                self._cache[url] = (err.code, "")
        return self._cache[url]


def open_page(driver, url: str, has_math: bool, math_timeout_s: float = 20):
    """Load ``url``, make every image load now (no lazy loading) and wait for the images and,
    if ``has_math``, for MathJax.  Returns (srcs of images still loading, MathJax result or None)."""
    driver.get(url)
    pending = driver.execute_async_script(IMAGES_SETTLE_JS, 10_000)
    done = driver.execute_async_script(MATHJAX_WAIT_JS, int(math_timeout_s * 1000)) if has_math else None
    return pending, done


def browser_page_problems(driver, server: BookServer, site: SiteIndex, page: str, probe: HttpProbe,
                          screenshot: Path | None = None, math_timeout_s: float = 20) -> list[str]:
    """Open ``page`` in the browser and list everything a reader would find broken.

    Math typeset by MathJax (when the page has math), every image loaded and served as an image,
    no error output, no broken internal link, no failed request to the book server, no error
    in the browser console.  Saves a first-screen ``screenshot`` after MathJax has finished.
    """
    problems: list[str] = []
    driver.get_log("browser")  # discard messages of the previous page
    server.requests.clear()
    pending, done = open_page(driver, server.url + page, site.facts(page).has_math, math_timeout_s)
    problems += [f"image {src!r} still loading after 10 s" for src in pending]

    if done is not None:
        if not done["ok"]:
            problems.append(f"math not rendered: {done['why']}")
        st = driver.execute_script(MATH_STATE_JS)
        if st["containers"] == 0:
            problems.append(f"math not rendered: no mjx-container among {st['n']} math elements")
        elif st["bare"]:
            problems.append(f"math not rendered: {st['bare']} of {st['n']} math elements have no "
                            f"mjx-container, e.g. " + " | ".join(st["bareSample"]))
        if st["nErrors"]:
            problems.append(f"MathJax errors in {st['nErrors']} formulas, e.g. " + " | ".join(st["errors"]))
        if st["raw"]:
            problems.append("raw TeX delimiters visible in the text, e.g. " + " | ".join(st["raw"]))

    state = driver.execute_script(PAGE_STATE_JS, ERROR_OUTPUT_SELECTOR, TRACEBACK_TEXT)
    failed = server.failed_requests()  # before our own probes add to the log
    # SEVERE console messages, except failed loads from the book server (reported via its log)
    console = [e["message"] for e in driver.get_log("browser")
               if e.get("level") == "SEVERE" and "favicon.ico" not in e.get("message", "")
               and not e.get("message", "").startswith(server.url)]

    # images: loaded and decoded by the browser, served with status 200 and an image type
    for img in {i["src"]: i for i in state["imgs"]}.values():
        if not img["complete"] or img["w"] == 0:
            problems.append(f"image {img['src']!r} did not load in the browser (naturalWidth 0)")
        if img["url"].startswith(server.url):
            status, ctype = probe.head(img["url"])
            if status != 200 or not ctype.startswith("image/"):
                problems.append(f"image {img['src']!r} is served with status {status}, type {ctype!r}")
    for c in state["corners"]:
        if any(px[3] < 255 for px in c["px"]):
            problems.append(f"figure {c['src']!r} has a transparent background (corner RGBA {c['px']}); "
                            "it will be unreadable in dark mode")

    problems += [f"error output: {e}" for e in state["errors"]]
    if state["traceback"]:
        problems.append(f"the text {TRACEBACK_TEXT!r} appears in the page")
    if state["emptyCitations"]:
        problems.append(f"{state['emptyCitations']} citation(s) render empty, as '[]' "
                        "(sphinxcontrib-bibtex found no entry for the key)")

    def served(rel: str) -> bool:
        return probe.head(server.url + rel)[0] == 200

    problems += layout_problems(driver)
    problems += link_problems(page, state["hrefs"], site, exists=served, live_ids=state["ids"])
    problems += [f"request {path} answered {status}" for path, status in dict.fromkeys(failed)]
    problems += [f"browser console error: {msg}" for msg in dict.fromkeys(console)]

    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(screenshot))
    return problems


# --------------------------------------------------------------------------------- dark mode
FIGURE_IMAGES = ".cell_output img, figure img"

DARK_JS = r"""
document.documentElement.dataset.theme = 'dark';
document.documentElement.dataset.mode = 'dark';
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => done(getComputedStyle(document.body).backgroundColor)));
"""

# Scroll so that the top (or bottom) edge of figure image number k sits mid-screen and return the
# viewport coordinates of two points just inside that edge's corners of the image's content box
# (inside the padding that the theme puts around output images in dark mode).
EDGE_POINTS_JS = r"""
const [k, edge, selector] = arguments;
const img = document.querySelectorAll(selector)[k];
const r0 = img.getBoundingClientRect();
window.scrollTo(0, window.scrollY + (edge === 'top' ? r0.top : r0.bottom) - window.innerHeight / 2);
const r = img.getBoundingClientRect(), cs = getComputedStyle(img);
const px = name => parseFloat(cs[name]) || 0;
const left = r.left + px('borderLeftWidth') + px('paddingLeft') + 3;
const right = r.right - px('borderRightWidth') - px('paddingRight') - 4;
const y = edge === 'top' ? r.top + px('borderTopWidth') + px('paddingTop') + 3
                         : r.bottom - px('borderBottomWidth') - px('paddingBottom') - 4;
return [[Math.round(left), Math.round(y)], [Math.round(right), Math.round(y)]];
"""


def luminance(colour) -> float:
    """Rec. 709 luma of an ``(r, g, b, ...)`` tuple or a CSS ``rgb(...)`` string, 0..255."""
    if isinstance(colour, str):
        import re

        colour = [float(v) for v in re.findall(r"[\d.]+", colour)[:3]]
    r, g, b = colour[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def switch_to_dark_mode(driver) -> str:
    """Turn on pydata-sphinx-theme's dark mode; return the body's computed background colour."""
    return driver.execute_async_script(DARK_JS)


def dim_figures(driver, selector: str = FIGURE_IMAGES, threshold: float = 200) -> list[str]:
    """Figures whose corners, as rendered on screen, are not light (luma < ``threshold``).

    In dark mode pydata-sphinx-theme dims images (brightness .8, contrast 1.2: white shows as
    ~219) and frames output images in grey #ced6dd (shown as ~180 after the same filter): a
    corner that reads >= 200 is the figure's own opaque white; a transparent figure shows the
    frame's grey or the dark page instead.
    """
    from PIL import Image

    srcs = driver.execute_script("return [...document.querySelectorAll(arguments[0])]"
                                 ".map(i => i.getAttribute('src'))", selector)
    dim = []
    for k, src in enumerate(srcs):
        for edge in ("top", "bottom"):
            points = driver.execute_script(EDGE_POINTS_JS, k, edge, selector)
            shown = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
            w, h = shown.size
            colours = [shown.getpixel((min(max(x, 0), w - 1), min(max(y, 0), h - 1))) for x, y in points]
            if min(luminance(c) for c in colours) < threshold:
                dim.append(f"{src}: {edge} corners render as {colours}")
    if not srcs:
        dim.append(f"no figure image ({selector}) on the page")
    return dim
