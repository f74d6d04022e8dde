#!/usr/bin/python3
"""A generated news site that answers every request after a fixed delay, for
the collection benchmark of tests/bench/bench.py (standard library only).

usage: slowsite.py [--articles N] [--per-page K] [--delay-ms MS] [--tz ZONE]

Listens on a free port of 127.0.0.1 and prints the port alone on one line
once it is listening. Stop it with SIGTERM. It serves

  /list/P.html   listing page P (1 .. ceil(N/K)): K items of
                 <div class="news-item"><a class="title" href="/news/I.html">,
                 nothing else, so that digest must open every article page
                 (`follow = true`), and <a rel="next"> to page P+1
  /news/I.html   article I (1 .. N): <h1>, <time datetime>, views, comments,
                 rating, <div class="text"><p>, og:image; published I minutes
                 before the server started, so every article is in a 24 h
                 window
  /urls.txt      every listing and article URL, one a line, in the order a
                 sequential client should fetch them

Answers are HTTP/1.1 with Content-Length (connections are kept alive), each
sent after sleeping --delay-ms milliseconds (default 5), as a real site's
server would take a few milliseconds per page. Pages are made once, at start.
"""

import argparse
import datetime as dt
import html
import http.server
import signal
import sys
import time
from zoneinfo import ZoneInfo

TITLES = ["Испытания новой системы ПВО завершены", "Флот получил очередной корвет",
          "Выставка вооружений открылась в Подмосковье", "Новый беспилотник прошёл проверку",
          "Поставки бронетехники выросли за квартал"]
TEXT = ("Как сообщают источники, работы идут по графику. Эксперты отмечают, что это "
        "важный шаг для отрасли. Подробности будут объявлены позже.")


def make_pages(n, per_page, tz):
    now = dt.datetime.now(ZoneInfo(tz)).replace(second=0, microsecond=0)
    pages = {}
    npages = (n + per_page - 1) // per_page
    for p in range(1, npages + 1):
        items = []
        for i in range((p - 1) * per_page + 1, min(n, p * per_page) + 1):
            title = f"{TITLES[i % len(TITLES)]} (№ {i})"
            items.append(f'<div class="news-item"><a class="title" href="/news/{i}.html">'
                         f'{html.escape(title)}</a></div>')
        nxt = f'<a rel="next" href="/list/{p + 1}.html">Дальше</a>' if p < npages else ""
        pages[f"/list/{p}.html"] = (
            '<!DOCTYPE html>\n<html lang="ru"><head><meta charset="utf-8">'
            f"<title>Новости, страница {p}</title></head><body>\n"
            + "\n".join(items) + f"\n<nav>{nxt}</nav>\n</body></html>\n")
    for i in range(1, n + 1):
        title = html.escape(f"{TITLES[i % len(TITLES)]} (№ {i})")
        pub = now - dt.timedelta(minutes=i)
        views = 100000 - i * 7
        pages[f"/news/{i}.html"] = f"""<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>{title}</title>
<meta property="og:image" content="/img/{i}.jpg"></head>
<body><article><h1>{title}</h1>
<div class="info"><time datetime="{pub.isoformat()}">{pub.strftime("%d.%m.%Y %H:%M")}</time>
<span class="views">{views}</span> <span class="comments">{i % 17}</span>
<span class="rating">{i % 5}</span></div>
<div class="text"><p>{title}. {TEXT}</p><p>{TEXT} {TEXT}</p></div>
</article></body></html>
"""
    order = [f"/list/{p}.html" for p in range(1, npages + 1)] + [f"/news/{i}.html" for i in range(1, n + 1)]
    return {k: v.encode("utf-8") for k, v in pages.items()}, order


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body in one segment, sent at once: without these, Nagle's
    # algorithm and the client's delayed ACK add ~40 ms to every answer.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    pages = {}
    urls = b""
    delay = 0.005

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        time.sleep(self.delay)
        path = self.path.split("?", 1)[0]
        if path == "/urls.txt":
            body, ctype, status = self.urls, "text/plain; charset=utf-8", 200
        elif path in self.pages:
            body, ctype, status = self.pages[path], "text/html; charset=utf-8", 200
        else:
            body, ctype, status = b"<html><body>not found</body></html>", "text/html", 404
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=500)
    ap.add_argument("--per-page", type=int, default=50)
    ap.add_argument("--delay-ms", type=float, default=5.0)
    ap.add_argument("--tz", default="Europe/Moscow")
    args = ap.parse_args()

    pages, order = make_pages(args.articles, args.per_page, args.tz)
    Handler.pages = pages
    Handler.delay = args.delay_ms / 1000.0
    http.server.ThreadingHTTPServer.request_queue_size = 128  # no SYN dropped under a burst
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    Handler.urls = "".join(f"http://127.0.0.1:{port}{p}\n" for p in order).encode()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(port, flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
