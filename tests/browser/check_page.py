"""Open a page in the system Chromium (headless, through Playwright) and report what it did.

Usage: check_page.py URL --screenshot OUT.png [--wait-for-tiles N] [--timeout SECONDS]
       [--webgl]

--webgl adds software WebGL (SwiftShader through ANGLE), for pages such as globe.html that
draw with WebGL; --disable-gpu alone leaves them without a context.

Prints one JSON object: console_errors (console messages of type error, page errors and
failed requests), requests (every URL asked for), external_requests (those not on
127.0.0.1/localhost), tile_responses_ok (responses with status 200 for .../tiles/...png),
screenshot_nonblank (pixel variance of the screenshot above a threshold) and
screenshot_variance. Exits 0 when it could check the page (the caller judges the result),
1 when the browser could not run.

The browser is /usr/bin/chromium (Debian's), never one downloaded by `playwright install`;
its background networking is off, so only the page's own requests are seen.
"""

import argparse
import json
import struct
import sys
import time
import zlib
from urllib.parse import urlparse

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-sync",
]
LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}


def png_variance(data):
    """Variance of the grey levels of an 8-bit RGB(A) PNG, decoded with zlib only."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return 0.0
    pos, idat, w, h, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                return 0.0
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    total = total2 = count = 0
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        # Every 4th pixel of every row: enough for a variance.
        for x in range(0, w, 4):
            g = (line[x * bpp] + line[x * bpp + 1] + line[x * bpp + 2]) / 3.0
            total += g
            total2 += g * g
            count += 1
        prev = line
    if count == 0:
        return 0.0
    mean = total / count
    return total2 / count - mean * mean


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--wait-for-tiles", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--threshold", type=float, default=20.0)
    ap.add_argument("--webgl", action="store_true")
    ap.add_argument("--settle-ms", type=int, default=500)
    a = ap.parse_args()
    args = ARGS + (["--use-angle=swiftshader", "--enable-unsafe-swiftshader"] if a.webgl else [])

    errors, requests, tiles_ok = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append("pageerror: %s" % e))
        page.on(
            "requestfailed", lambda r: errors.append("requestfailed: %s %s" % (r.url, r.failure))
        )
        page.on("request", lambda r: requests.append(r.url))

        def on_response(r):
            path = urlparse(r.url).path
            if "/tiles/" in path and path.endswith(".png") and r.status == 200:
                tiles_ok.append(r.url)
            elif r.status >= 400:
                errors.append("HTTP %d %s" % (r.status, r.url))

        page.on("response", on_response)
        page.goto(a.url, wait_until="load", timeout=a.timeout * 1000)
        deadline = time.time() + a.timeout
        while len(tiles_ok) < a.wait_for_tiles and time.time() < deadline:
            page.wait_for_timeout(100)
        try:
            page.wait_for_load_state("networkidle", timeout=5000)
        except Exception:
            pass
        # Leaflet fades tiles in over 200 ms.
        page.wait_for_timeout(a.settle_ms)
        page.screenshot(path=a.screenshot)
        browser.close()

    with open(a.screenshot, "rb") as f:
        var = png_variance(f.read())
    external = [
        u
        for u in requests
        if not u.startswith("data:") and (urlparse(u).hostname or "") not in LOCAL
    ]
    print(
        json.dumps(
            {
                "console_errors": errors,
                "requests": requests,
                "external_requests": external,
                "tile_responses_ok": len(tiles_ok),
                "screenshot_nonblank": var > a.threshold,
                "screenshot_variance": var,
            }
        )
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - report why the browser could not run
        print("check_page.py: %s" % e, file=sys.stderr)
        sys.exit(1)
