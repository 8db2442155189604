#!/usr/bin/env python3
"""Opens driftd's HTML report in a real headless Chromium (Debian's, driven by
Playwright) and reports what a reader would see, as JSON on stdout.

    browser_check.py URL --screenshot OUT.png [--top TOP.png] [--dark] [--chromium PATH]

It records every console message, page error and network request, the page title,
the summary text, each feature section (name, verdict, visible, charts and their
drawn size), then clicks the "drifted" filter and records which sections stay
visible, and takes a full-page screenshot (with --top, also one of the first screen). The test (tests/html_report.rs) decides
what is right; this script only looks.
"""
import argparse
import json
import sys

from playwright.sync_api import sync_playwright

# Chromium's own background traffic would be refused by this machine's closed
# network; these flags keep it quiet so every request seen is the page's.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--top", help="also a screenshot of the first 1200x900 pixels")
    ap.add_argument("--dark", action="store_true")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    out = {"console": [], "page_errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900},
                                color_scheme="dark" if a.dark else "light")
        page.on("console", lambda m: out["console"].append({"type": m.type, "text": m.text}))
        page.on("pageerror", lambda e: out["page_errors"].append(str(e)))
        page.on("request", lambda r: out["requests"].append(r.url))
        page.goto(a.url, wait_until="load")
        out["title"] = page.title()
        out["summary"] = page.inner_text("#summary")
        out["background"] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        out["text_color"] = page.evaluate("getComputedStyle(document.body).color")

        def sections():
            return page.evaluate("""() => Array.from(document.querySelectorAll('section.feature')).map(s => ({
                name: s.dataset.name, verdict: s.dataset.verdict,
                visible: s.offsetParent !== null,
                charts: Array.from(s.querySelectorAll('svg')).map(g => {
                    const r = g.getBoundingClientRect();
                    return {label: g.getAttribute('aria-label'), width: r.width, height: r.height,
                            marks: g.querySelectorAll('rect.ref, rect.cur, polyline').length};
                }),
            }))""")

        out["sections"] = sections()
        page.screenshot(path=a.screenshot, full_page=True)
        if a.top:
            page.screenshot(path=a.top)
        page.click("button[data-show=drift]")
        out["after_filter"] = [s["name"] for s in sections() if s["visible"]]
        out["shown_text"] = page.inner_text("#shown")
        page.select_option("#order", "name")
        out["sorted_by_name"] = [s["name"] for s in sections()]
        browser.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
