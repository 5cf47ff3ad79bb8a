"""The one page `edgeseg run --serve` shows: the live video, the class legend and the live numbers.

Made from constants and the model's metadata in memory: no route reads a file from disk. The video is an
MJPEG `<img>`, which every browser plays without JavaScript; a small script fetches /stats.json about once a
second for the numbers. Every value from outside (class names, the token) is HTML-escaped, and the script is
fixed text, so the Content-Security-Policy allows exactly it by its hash and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from html import escape
from urllib.parse import urlencode

from edgeseg.runtime.render import VIEWS

SCRIPT = """
(function () {
  var query = document.body.getAttribute("data-query");
  function show(id, value) {
    var element = document.getElementById(id);
    if (element) element.textContent = value;
  }
  function ms(value) { return value.toFixed(value < 10 ? 2 : 1); }
  function cell(row, value) {
    var td = document.createElement("td");
    td.textContent = value;
    row.appendChild(td);
  }
  function render(stats) {
    show("fps", stats.fps_now.toFixed(1));
    show("frames", String(stats.frames));
    show("dropped", String(stats.dropped));
    show("viewers", String(stats.page.viewers));
    var rows = document.getElementById("stage-rows");
    rows.textContent = "";
    Object.keys(stats.stages).forEach(function (name) {
      var row = document.createElement("tr");
      cell(row, name);
      cell(row, ms(stats.stages[name].p50_ms));
      cell(row, ms(stats.stages[name].p95_ms));
      rows.appendChild(row);
    });
    stats.streams.forEach(function (stream) {
      stream.classes.forEach(function (item, index) {
        var share = item.share === null ? "–" : (100 * item.share).toFixed(1) + " %";
        show("share-" + stream.stream + "-" + index, share);
      });
    });
    show("state", stats.error ? "stopped: " + stats.error : "live");
  }
  function tick() {
    fetch("stats.json" + query, {cache: "no-store"})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(render)
      .catch(function () { show("state", "not connected: the run ended or the network is down"); })
      .then(function () { setTimeout(tick, 1000); });
  }
  tick();
})();
"""
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
# Only this page's own script, styles and same-origin images and fetches; no framing (clickjacking).
CSP = (
    f"default-src 'none'; script-src '{SCRIPT_HASH}'; style-src 'unsafe-inline'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

STYLE = """
body { margin: 0; font: 15px/1.4 system-ui, sans-serif; background: #14171c; color: #e8eaed; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1em; background: #1d2128; flex-wrap: wrap; }
header h1 { font-size: 1.2em; margin: 0; }
header .about { color: #aab; }
#state { margin-left: auto; color: #8fd18f; }
main { display: flex; gap: 1em; padding: 1em; align-items: flex-start; flex-wrap: wrap; }
.streams { flex: 1 1 640px; min-width: 320px; display: grid; gap: .8em;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 480px), 1fr)); }
.streams nav { grid-column: 1 / -1; }
figure { margin: 0; }
figure img { width: 100%; height: auto; max-height: calc(100vh - 7em); object-fit: contain; background: #000;
  display: block; }
figcaption, nav { color: #aab; font-size: .9em; margin-top: .3em; }
a { color: #9cf; }
nav a { margin-right: .6em; }
nav a[aria-current] { color: #fff; font-weight: bold; text-decoration: none; }
aside { flex: 0 1 320px; }
h2 { font-size: 1em; margin: .2em 0 .4em; color: #cdd; }
.numbers { display: grid; grid-template-columns: repeat(2, 1fr); gap: .4em; margin: 0 0 1em; }
.numbers div { background: #1d2128; padding: .4em .6em; border-radius: 4px; }
.numbers dt { font-size: .8em; color: #aab; }
.numbers dd { margin: 0; font-size: 1.5em; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1em; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: .15em .4em; }
th:first-child, td:first-child, td.name { text-align: left; }
.swatch { display: inline-block; width: .9em; height: .9em; border: 1px solid #667; vertical-align: -.1em;
  margin-right: .4em; }
.hidden { color: #889; }
"""


def hex_colour(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))


def render_page(
    *,
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]],
    drawn: Sequence[bool],
    streams: int,
    view: str,
    token: str | None,
    about: str,
) -> str:
    """The page's HTML. drawn: whether each class is coloured in the overlay (--classes hides the others)."""
    view = view if view in VIEWS else VIEWS[0]
    auth = {"token": token} if token else {}

    def link(path: str, **params: object) -> str:
        query = urlencode({**params, **auth})
        return escape(f"{path}?{query}" if query else path)

    figures = "".join(
        f'<figure><img src="{link("stream.mjpg", stream=s, view=view)}" alt="stream {s}, {view} view, live" '
        f'id="stream-{s}"><figcaption>stream {s} · <a href="{link("snapshot.jpg", stream=s, view=view)}">'
        "snapshot</a></figcaption></figure>"
        for s in range(streams)
    )
    views = "".join(f'<a href="{link("./", view=v)}"{" aria-current=page" if v == view else ""}>{v}</a>' for v in VIEWS)
    share_heads = "".join(f"<th>stream {s}</th>" for s in range(streams))
    legend = "".join(
        f'<tr{"" if shown else " class=hidden"} data-class="{i}"><td class="name"><span class="swatch" '
        f'style="background:{hex_colour(colour)}"></span>{escape(name)}{"" if shown else " (not drawn)"}</td>'
        + "".join(f'<td id="share-{s}-{i}">–</td>' for s in range(streams))
        + "</tr>"
        for i, (name, colour, shown) in enumerate(zip(class_names, palette, drawn))
    )
    query = escape("?" + urlencode(auth) if auth else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeseg · live</title><style>{STYLE}</style></head>
<body data-query="{query}">
<header><h1>edgeseg</h1><span class="about">{escape(about)}</span><span id="state">live</span></header>
<main>
<section class="streams">{figures}<nav>view: {views} · <a href="{link("stats.json")}">stats.json</a></nav></section>
<aside>
<h2>Live</h2>
<dl class="numbers"><div><dt>FPS</dt><dd id="fps">–</dd></div><div><dt>frames</dt><dd id="frames">–</dd></div>
<div><dt>dropped</dt><dd id="dropped">–</dd></div><div><dt>watching</dt><dd id="viewers">–</dd></div></dl>
<table><thead><tr><th>stage</th><th>p50 ms</th><th>p95 ms</th></tr></thead><tbody id="stage-rows"></tbody></table>
<h2>Classes: share of the frame</h2>
<table id="legend"><thead><tr><th>class</th>{share_heads}</tr></thead><tbody>{legend}</tbody></table>
<noscript><p>The video plays without JavaScript; the live numbers need it. They are in
<a href="{link("stats.json")}">stats.json</a>.</p></noscript>
</aside>
</main>
<script>{SCRIPT}</script>
</body></html>
"""
