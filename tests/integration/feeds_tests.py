"""Integration tests of feeds read with the built-in selectors: a feed of
any format with type = "feed", and the entries of one page that differ by
their fragments kept apart while other variants of a URL merge.

A mixin of run.py's Suite: it uses the Suite's helpers (conf(), collect(),
testdir(), stored(), www and root) and run.py imports this file once its
check() is defined."""

import datetime as dt
import os
import sqlite3
import time

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import Fail, Skip, check  # noqa: F401
else:  # run.py imported as the module `run`
    from run import Fail, Skip, check  # noqa: F401


class FeedsTests:
    def feeds_site(self, name, files, sources):
        """Writes FILES ({name: text}) under www/NAME and a configuration in
        Moscow time whose sources are SOURCES (libconfig, {root} the site's
        URL); returns the test directory and the configuration."""
        root = os.path.join(self.www, name)
        os.makedirs(root, exist_ok=True)
        for fname, text in files.items():
            with open(os.path.join(root, fname), "w", encoding="utf-8") as f:
                f.write(text)
        d = self.testdir(name)
        sources = sources.replace("{root}", f"{self.root}{name}/")
        return d, self.conf(d, text=f'newsletter = {{ timezone = "Europe/Moscow"; }};\nsources = ( {sources} );\n')

    def published_by_title(self, d):
        """{title: published} of the articles stored in D's database."""
        con = sqlite3.connect(os.path.join(d, "var", "digest.db"))
        try:
            return dict(con.execute("SELECT title, published FROM articles").fetchall())
        finally:
            con.close()

    def t_feed_rdf_fragments(self):
        """An RSS 1.0 (RDF) feed under type = "feed": three entries of one
        live page (#e1, #e2, #e3) are three articles; a story listed twice,
        once with a utm_ tag and once with #top, is one."""
        root = os.path.join(self.www, "feeds-rdf")
        os.makedirs(root, exist_ok=True)
        now = dt.datetime.now(dt.timezone.utc)
        items = [("/feeds-rdf/live.html#e1", "Live entry one"), ("/feeds-rdf/live.html#e2", "Live entry two"),
                 ("/feeds-rdf/live.html#e3", "Live entry three"),
                 ("/feeds-rdf/story.html?utm_source=rss", "Story &amp;amp; more"),
                 ("/feeds-rdf/story.html#top", "Story again")]
        body = "".join(
            f'<item rdf:about="{self.root}{href[1:]}"><title>{title}</title>'
            f'<dc:date>{(now - dt.timedelta(minutes=10 + i)).strftime("%Y-%m-%dT%H:%M:%SZ")}</dc:date>'
            f"<description>Lead {i}</description></item>"
            for i, (href, title) in enumerate(items))
        with open(os.path.join(root, "index.rdf"), "w", encoding="utf-8") as f:
            f.write('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                    'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                    f'<channel rdf:about="{self.root}feeds-rdf/"><title>c</title></channel>{body}</rdf:RDF>')
        d = self.testdir("feeds-rdf")
        conf = self.conf(d, text=f"""
newsletter = {{ timezone = "Europe/Moscow"; }};
sources = ( {{ name = "rdf"; type = "feed"; url = "{self.root}feeds-rdf/index.rdf"; }} );
""")
        self.collect(conf, "--all")
        urls = sorted(row[0] for row in self.stored(d))
        want = sorted([f"{self.root}feeds-rdf/live.html#e1", f"{self.root}feeds-rdf/live.html#e2",
                       f"{self.root}feeds-rdf/live.html#e3", f"{self.root}feeds-rdf/story.html"])
        check(urls == want, f"stored URLs {urls}, want {want}")
        titles = sorted(row[1] for row in self.stored(d))
        check("Story & more" in titles, f"escaped title not decoded: {titles}")

    def t_unreadable_listing_date_followed(self):
        """A listing date that does not read ("когда-то") counts as missing:
        with follow, the article page's date is the article's; a relative
        listing date ("35 минут назад") is read as that long before now."""
        article = "<html><body><h1>x</h1><time datetime='2020-03-16T03:55:00Z'>x</time></body></html>"
        d, conf = self.feeds_site("feeds-follow", {
            "index.html": "<html><body><ul>"
                          "<li><a href='a1.html'>First story</a><span class='d'>когда-то</span></li>"
                          "<li><a href='a2.html'>Second story</a><span class='d'>35 минут назад</span></li>"
                          "</ul></body></html>",
            "a1.html": article, "a2.html": article},
            """{ name = "follow"; url = "{root}index.html"; item = "//li"; published = "span[@class='d']";
                 follow = true; article = { published = "//time/@datetime"; }; }""")
        before = int(time.time())
        self.collect(conf, "--all")
        rows = self.published_by_title(d)
        check(rows.get("First story") == 1584330900,
              f"unreadable listing date not filled from the article page: {rows}")
        got = rows.get("Second story")
        want = before - 35 * 60
        check(got is not None and abs(got - want) <= 120, f"35 минут назад stored as {got}, want about {want}")

    def t_selector_miss_warned_once(self):
        """A selector that selects nothing in any item says so without -v,
        once per source and run however many pages miss it; the default
        title is the first link with text (an image link comes first)."""
        root = os.path.join(self.www, "feeds-miss")
        os.makedirs(root, exist_ok=True)
        now = dt.datetime.now(dt.timezone.utc)
        for page, nxt in ((1, "<a rel='next' href='p2.html'>next</a>"), (2, "")):
            items = "".join(
                f"<li><a href='s{page}{i}.html'><img src='i.png'></a> <a href='s{page}{i}.html'>Story {page}{i}</a>"
                f"<time>{(now - dt.timedelta(minutes=5 + i)).isoformat()}</time></li>" for i in range(3))
            with open(os.path.join(root, "index.html" if page == 1 else "p2.html"), "w", encoding="utf-8") as f:
                f.write(f"<html><body><ul>{items}</ul>{nxt}</body></html>")
        d = self.testdir("feeds-miss")
        conf = self.conf(d, text=f"""
newsletter = {{ timezone = "Europe/Moscow"; }};
sources = ( {{ name = "miss"; url = "{self.root}feeds-miss/index.html"; item = "//li"; published = "time";
               views = "span[@class='views']"; next = "//a[@rel='next']/@href"; }} );
""")
        r = self.collect(conf, "--all")
        lines = [ln for ln in r.err.splitlines() if "span[@class='views']" in ln]
        check(len(lines) == 1, f"want one warning naming the views selector, got {lines}; stderr: {r.err}")
        check("miss" in lines[0] and "views" in lines[0], f"warning does not name source and field: {lines}")
        got = sorted(r.titles())
        want = sorted(f"Story {p}{i}" for p in (1, 2) for i in range(3))
        check(got == want, f"titles {got}, want {want} (the first link with text)")

    def t_undated_articles_warned_once(self):
        """Articles with no date on the listing or the article page count as
        published when first seen, and one warning names the source."""
        d, conf = self.feeds_site("feeds-undated", {
            "index.html": "<html><body><ul>" + "".join(f"<li><a href='u{i}.html'>Undated {i}</a></li>" for i in range(3))
                          + "</ul></body></html>"},
            '{ name = "undated"; url = "{root}index.html"; item = "//li"; }')
        r = self.collect(conf, "--all")
        lines = [ln for ln in r.err.splitlines() if "no date" in ln]
        check(len(lines) == 1 and "undated" in lines[0], f"want one warning naming the source, got {lines}")
        check(sorted(r.titles()) == ["Undated 0", "Undated 1", "Undated 2"], f"titles {r.titles()}")

    def t_feed_default_miss_named(self):
        """A feed's default selector that selects nothing in any entry is one
        warning without -v naming the selectors tried, the format and the
        namespace of the root element."""
        entries = "".join(f'<entry><title>Undated {i}</title><link href="{self.root}feeds-nodate/{i}.html"/></entry>'
                          for i in range(3))
        d, conf = self.feeds_site("feeds-nodate", {
            "atom.xml": f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{entries}</feed>'},
            '{ name = "nodate"; type = "feed"; url = "{root}atom.xml"; }')
        r = self.collect(conf, "--all")
        lines = [ln for ln in r.err.splitlines() if "published selector" in ln]
        check(len(lines) == 1, f"want one warning about the published selector, got {lines}; stderr: {r.err}")
        noise = [ln for ln in r.err.splitlines() if "comments selector" in ln]
        check(not noise, f"a feed without comment counts is no miss: {noise}")
        for part in ("nodate", "atom:published | ", "atom:updated", "Atom 1.0",
                     "<feed> in namespace http://www.w3.org/2005/Atom"):
            check(part in lines[0], f"warning lacks {part!r}: {lines[0]}")

    def t_date_format_language_prefix(self):
        """date_format with language = "de" reads German month names (digest's
        own table, whatever the C library's locale) and a date followed by
        other words ("... Uhr von Anna"): the article is dated to the minute."""
        months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
                  "Oktober", "November", "Dezember"]
        msk = dt.timezone(dt.timedelta(hours=3))
        when = (dt.datetime.now(msk) - dt.timedelta(hours=2)).replace(second=0, microsecond=0)
        text = f"{when.day}. {months[when.month - 1]} {when.year} um {when:%H:%M} Uhr von Anna"
        d, conf = self.feeds_site("feeds-de", {
            "index.html": f"<html><body><ul><li><a href='a.html'>Ein Artikel</a><span class='d'>{text}</span></li>"
                          "</ul></body></html>"},
            """{ name = "de"; url = "{root}index.html"; item = "//li"; published = "span[@class='d']";
                 date_format = "%d. %B %Y um %H:%M"; language = "de"; }""")
        self.collect(conf, "--all")
        rows = self.published_by_title(d)
        want = int(when.timestamp())
        check(rows.get("Ein Artikel") == want, f"{text!r} stored as {rows}, want {want}")
