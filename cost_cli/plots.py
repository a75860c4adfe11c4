"""Pictures: label timelines (PNG or one self-contained HTML page) and per-layer view charts.

PNG needs matplotlib (the ``plot`` extra), imported only when a PNG is asked for. The HTML
report needs nothing: it is written from a small template with inline SVG, CSS and script,
so it opens offline and can be mailed as one file. With ground truth (``cost plot --truth``),
each video whose truth was found gets a strip of its true labels under its timeline, in the
same colours.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

from .errors import ConfigError, UsageError
from .readers import VideoLabels
from .segments import LOW_SCORE_LABEL
from .views import LayerViews

# Okabe-Ito, then Tableau colours: distinct and readable on white; more labels reuse them in order
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#8C564B", "#9467BD", "#BCBD22", "#17BECF", "#1B1B6E", "#FF9896", "#98DF8A", "#C49C94",
           "#AEC7E8", "#DBDB8D", "#9EDAE5", "#C5B0D5", "#7B4173")
UNKNOWN_COLOUR = "#BBBBBB"
VIEW_COLOURS = {"hw": "#4C72B0", "tw": "#DD8452", "th": "#55A868"}
VIEW_NAMES = {"hw": "H-W (appearance)", "tw": "T-W (motion)", "th": "T-H (motion)"}
OUTPUT_KINDS = {".png": "png", ".html": "html", ".htm": "html"}


def output_kind(out: str, option: str = "--out") -> str:
    """'png' or 'html' from the output file's extension."""
    kind = OUTPUT_KINDS.get(Path(out).suffix.lower())
    if kind is None:
        raise UsageError(f"{option} {out}: give a .png or .html file name")
    return kind


def label_colours(videos: list[VideoLabels]) -> dict[str, str]:
    """One colour per label, in order of first appearance (``unknown`` is grey).

    Give the predictions first, then the truth: labels only the truth has come last.
    """
    colours: dict[str, str] = {}
    for v in videos:
        for s in v.segments:
            if s.label not in colours:
                if s.label == LOW_SCORE_LABEL:
                    colours[s.label] = UNKNOWN_COLOUR
                else:
                    n = sum(1 for k in colours if k != LOW_SCORE_LABEL)
                    colours[s.label] = PALETTE[n % len(PALETTE)]
    return colours


def _display(text: str) -> str:
    # names that are not valid UTF-8 carry surrogate escapes: show them as \xNN
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("PNG pictures need matplotlib", hint="pip install 'cost-cli[plot]' "
                          "(or write .html, which needs nothing)") from None
    matplotlib.use("Agg")  # no display needed; must precede pyplot's import
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str) -> None:
    plt = _pyplot()
    try:
        fig.savefig(out, dpi=100)
    except OSError as exc:
        from .errors import OutputError

        raise OutputError(f"{out}: cannot write ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------- timelines (PNG)

def _score(s) -> float:
    return 1.0 if s.score is None else min(max(s.score, 0.0), 1.0)


def _end(v: VideoLabels, truth: VideoLabels | None) -> float:
    return max(v.end, truth.end if truth is not None else 0.0) or 1.0


# the truth strip in a PNG: below the bars, in axis units (bars run from 0 to 1)
_STRIP_LOW, _STRIP_HIGH = -0.26, -0.06


def timeline_png(videos: list[VideoLabels], out: str, title: str | None = None,
                 max_videos: int = 40, truth: dict[str, VideoLabels] | None = None) -> int:
    """Draw one timeline per video into a PNG; returns how many videos it shows.

    ``truth``: predicted video name -> its ground truth; a strip of true labels is drawn under
    each timeline (``no truth`` where a video has none).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt = _pyplot()
    shown = videos[:max_videos]
    colours = label_colours(shown + [t for v in shown if truth and (t := truth.get(v.video))])
    views = any(v.has_views for v in shown)
    per_video = 1.25 + (0.3 if truth is not None else 0.0)
    fig, axes = plt.subplots(len(shown), 1, figsize=(12, 0.6 + per_video * len(shown)), squeeze=False,
                             layout="constrained")
    for ax, v in zip(axes[:, 0], shown):
        for s in v.segments:
            ax.bar(s.start, _score(s), width=max(s.end - s.start, 1e-6), align="edge",
                   color=colours[s.label], edgecolor="white", linewidth=0.5)
            if s.temporal is not None:
                ax.hlines(s.temporal, s.start, s.end, colors="#222222", linewidth=1.6)
        t = truth.get(v.video) if truth is not None else None
        end = _end(v, t)
        ax.set_xlim(0, end)
        if truth is not None:
            if t is not None:
                for s in t.segments:
                    ax.bar(s.start, _STRIP_HIGH - _STRIP_LOW, bottom=_STRIP_LOW, width=max(s.end - s.start, 1e-6),
                           align="edge", color=colours[s.label], edgecolor="white", linewidth=0.5)
            else:
                ax.text(end / 2, (_STRIP_LOW + _STRIP_HIGH) / 2, "no truth", ha="center", va="center",
                        fontsize=7, color="#777777")
            ax.axhline(0, color="#888888", linewidth=0.6)
            ax.set_ylim(_STRIP_LOW - 0.02, 1.02)
            ax.set_yticks([(_STRIP_LOW + _STRIP_HIGH) / 2, 0, 0.5, 1], ["truth", "0", "0.5", "1"])
        else:
            ax.set_ylim(0, 1.02)
            ax.set_yticks([0, 0.5, 1])
        ax.tick_params(labelsize=8)
        ax.set_title(_display(os.path.basename(v.video) or v.video), loc="left", fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1, 0].set_xlabel("seconds", fontsize=9)
    handles = [Patch(color=c, label=lab) for lab, c in colours.items()]
    if views:
        handles.append(Line2D([], [], color="#222222", linewidth=1.6, label="temporal share (tw+th)"))
    heading = title or "labels"
    if len(videos) > len(shown):
        heading += f" (first {len(shown)} of {len(videos)} videos)"
    fig.suptitle(f"{heading} - bar height: score" + ("; strip below: ground truth" if truth is not None else ""),
                 fontsize=11)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), fontsize=8,
               frameon=False)
    _save(fig, out)
    return len(shown)


# ------------------------------------------------------------------------ timelines (HTML)

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#555;margin:0 0 12px}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;margin:0 0 16px;position:sticky;top:0;background:#fff;padding:6px 0;z-index:1}
.legend button{font:inherit;border:1px solid #ccc;border-radius:4px;background:#fff;padding:2px 8px;cursor:pointer}
.legend button.on{border-color:#222;box-shadow:0 0 0 1px #222}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.line{display:inline-block;width:16px;border-top:2px solid #222;margin-right:6px;vertical-align:3px}
section{margin:0 0 14px}
h2{font-size:14px;font-weight:600;margin:0;word-break:break-all}
h2 span{font-weight:400;color:#666}
svg{display:block;width:100%;height:auto}
svg .seg{stroke:#fff;stroke-width:.6}
svg .seg:hover{stroke:#000;stroke-width:1.5}
svg .ts{stroke:#222;stroke-width:1.6;pointer-events:none}
svg .notruth{font-style:italic;fill:#888}
svg text{font-size:10px;fill:#555}
svg .grid{stroke:#e5e5e5}
body.focus .seg{opacity:.15}
body.focus .seg.hl{opacity:1}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #999;border-radius:4px;padding:6px 8px;
font-size:12px;box-shadow:0 2px 6px rgba(0,0,0,.2);max-width:320px;white-space:pre-line;z-index:2}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var segs = JSON.parse(document.getElementById("segments").textContent);
  var tip = document.getElementById("tip");
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function describe(s) {
    var head = s.truth ? s.label + "  (ground truth)"
                       : s.label + (s.score === null ? "" : "  score " + s.score.toFixed(3));
    var lines = [head, s.start.toFixed(2) + " s to " + s.end.toFixed(2) + " s", s.video];
    if (s.topk.length) {
      lines.push("top-" + s.topk.length + ": " + s.topk.map(function (t) {
        return t[0] + " " + t[1].toFixed(3); }).join(", "));
    }
    if (s.views) {
      lines.push("views: hw " + pct(s.views.hw) + ", tw " + pct(s.views.tw) + ", th " + pct(s.views.th) +
                 " (temporal " + pct(s.views.tw + s.views.th) + ")");
    }
    return lines.join("\n");
  }
  document.addEventListener("mousemove", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-k]") : null;
    if (!el) { tip.hidden = true; return; }
    tip.textContent = describe(segs[Number(el.getAttribute("data-k"))]);
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) { x = ev.clientX - tip.offsetWidth - 14; }
    if (y + tip.offsetHeight > window.innerHeight) { y = ev.clientY - tip.offsetHeight - 14; }
    tip.style.left = Math.max(0, x) + "px";
    tip.style.top = Math.max(0, y) + "px";
  });
  var buttons = document.querySelectorAll(".legend button");
  Array.prototype.forEach.call(buttons, function (b) {
    b.addEventListener("click", function () {
      var on = !b.classList.contains("on");
      Array.prototype.forEach.call(buttons, function (o) { o.classList.remove("on"); });
      document.body.classList.toggle("focus", on);
      Array.prototype.forEach.call(document.querySelectorAll(".seg"), function (r) {
        r.classList.toggle("hl", on && r.getAttribute("data-label") === b.getAttribute("data-label"));
      });
      if (on) { b.classList.add("on"); }
    });
  });
  document.body.setAttribute("data-ready", "1");
})();
"""

_W, _H, _LEFT, _RIGHT, _TOP, _PLOT_H = 1000, 118, 34, 8, 6, 84
_STRIP_GAP, _STRIP_H = 4, 14  # the truth strip, right under the time axis


def _ticks(end: float, target: int = 8) -> list[float]:
    """Round tick positions (1, 2 or 5 times a power of ten) from 0 to ``end``."""
    if end <= 0:
        return [0.0]
    raw = end / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(end / step + 1e-9) + 1)]


def _fmt_time(t: float) -> str:
    if t >= 3600:
        return f"{int(t // 3600)}:{int(t % 3600 // 60):02d}:{int(t % 60):02d}"
    if t >= 60:
        return f"{int(t // 60)}:{int(t % 60):02d}"
    return f"{t:g}"


def _svg(v: VideoLabels, first_k: int, colours: dict[str, str], truth: VideoLabels | None = None,
         strip: bool = False, truth_k: int = 0) -> str:
    """One video's timeline; ``strip``: with a ground-truth strip (``truth``, or "no truth")."""
    end = _end(v, truth)
    plot_w = _W - _LEFT - _RIGHT
    base = _TOP + _PLOT_H
    extra = _STRIP_GAP + _STRIP_H if strip else 0

    def x(t: float) -> float:
        return _LEFT + plot_w * min(max(t, 0.0), end) / end

    parts = [f'<svg viewBox="0 0 {_W} {_H + extra}" role="img" aria-label="timeline">']
    for g in (0.5, 1.0):
        y = base - _PLOT_H * g
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text x="{_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{g:g}</text>')
    for k, s in enumerate(v.segments):
        x0, x1 = x(s.start), x(s.end)
        h = _PLOT_H * _score(s)
        parts.append(f'<rect class="seg" data-k="{first_k + k}" data-label="{html.escape(s.label)}" '
                     f'x="{x0:.2f}" y="{base - h:.2f}" width="{max(x1 - x0, 0.3):.2f}" height="{h:.2f}" '
                     f'fill="{colours[s.label]}"/>')
    for s in v.segments:
        if s.temporal is not None:
            y = base - _PLOT_H * min(max(s.temporal, 0.0), 1.0)
            parts.append(f'<line class="ts" x1="{x(s.start):.2f}" x2="{x(s.end):.2f}" '
                         f'y1="{y:.2f}" y2="{y:.2f}"/>')
    parts.append(f'<line stroke="#888" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{base}" y2="{base}"/>')
    if strip:
        y0 = base + _STRIP_GAP
        parts.append(f'<text x="{_LEFT - 4}" y="{y0 + _STRIP_H - 4}" text-anchor="end">truth</text>')
        if truth is None:
            parts.append(f'<text class="notruth" x="{_LEFT + plot_w / 2:.1f}" y="{y0 + _STRIP_H - 4}" '
                         'text-anchor="middle">no truth for this video</text>')
        else:
            for k, s in enumerate(truth.segments):
                x0, x1 = x(s.start), x(s.end)
                parts.append(f'<rect class="seg truth" data-k="{truth_k + k}" data-label="{html.escape(s.label)}" '
                             f'x="{x0:.2f}" y="{y0}" width="{max(x1 - x0, 0.3):.2f}" height="{_STRIP_H}" '
                             f'fill="{colours[s.label]}"/>')
    for t in _ticks(end):
        parts.append(f'<text x="{x(t):.1f}" y="{base + extra + 14}" text-anchor="middle">{_fmt_time(t)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def timeline_html(videos: list[VideoLabels], out: str, title: str | None = None,
                  truth: dict[str, VideoLabels] | None = None) -> int:
    """Write every video's timeline into one self-contained HTML page; returns the video count.

    ``truth``: predicted video name -> its ground truth, drawn as a strip under the timeline.
    """
    colours = label_colours(videos + [t for v in videos if truth and (t := truth.get(v.video))])
    views = any(v.has_views for v in videos)
    heading = title or "cost label timelines"
    segs, sections = [], []
    for v in videos:
        name = _display(v.video)
        t = truth.get(v.video) if truth is not None else None
        svg = _svg(v, len(segs), colours, t, truth is not None, len(segs) + len(v.segments))
        sections.append(
            f'<section><h2>{html.escape(name)} <span>{_fmt_time(round(_end(v, t), 2))} s, '
            f'{len(v.segments)} segment{"s" if len(v.segments) != 1 else ""}'
            f'{f", {len(t.segments)} in the truth" if t is not None else ""}</span></h2>{svg}</section>')
        for s in v.segments:
            segs.append({"video": name, "label": s.label, "start": s.start, "end": s.end, "score": s.score,
                         "topk": [[lab, sc] for lab, sc in s.topk], "views": s.views})
        for s in (t.segments if t is not None else []):
            segs.append({"video": name, "label": s.label, "start": s.start, "end": s.end, "score": None,
                         "topk": [], "views": None, "truth": True})
    legend = "".join(
        f'<button type="button" data-label="{html.escape(lab)}"><span class="sw" style="background:{c}">'
        f'</span>{html.escape(lab)}</button>' for lab, c in colours.items())
    if views:
        legend += '<span><span class="line"></span>temporal share (tw+th)</span>'
    n_segs = sum(len(v.segments) for v in videos)
    meta = (f"{len(videos)} video{'s' if len(videos) != 1 else ''}, {n_segs} segments. "
            "Bar height: score" + ("; black line: temporal share of the views (tw+th)" if views else "")
            + ("; strip under each timeline: the ground truth" if truth is not None else "")
            + ". Hover a segment for details; click a label to pick out its segments.")
    # the segment data sits in a JSON script block: escape "<" so no "</script>" can end it early
    data = json.dumps(segs, ensure_ascii=True).replace("<", "\\u003c")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>{html.escape(heading)}</title><link rel="icon" href="data:,"><style>{_CSS}</style></head>\n'
        f'<body><h1>{html.escape(heading)}</h1><p class="meta">{html.escape(meta)}</p>'
        f'<div class="legend">{legend}</div>\n' + "\n".join(sections) +
        '\n<div id="tip" hidden></div>'
        f'<script type="application/json" id="segments">{data}</script>'
        f"<script>{_SCRIPT}</script></body></html>\n")
    try:
        Path(out).write_text(page, encoding="utf-8")
    except OSError as exc:
        from .errors import OutputError

        raise OutputError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return len(videos)


def plot_timelines(videos: list[VideoLabels], out: str, title: str | None = None,
                   max_videos: int = 40, truth: dict[str, VideoLabels] | None = None) -> int:
    """Timelines to ``out`` (.png or .html); returns how many videos the picture shows.

    ``truth`` (predicted video name -> its ground truth) adds a ground-truth strip to each.
    """
    if output_kind(out) == "png":
        return timeline_png(videos, out, title, max_videos, truth)
    return timeline_html(videos, out, title, truth)


# ------------------------------------------------------------------------ per-layer chart

def layers_png(layers: list[LayerViews], out: str, title: str, subtitle: str = "") -> None:
    """Stacked bars of the hw/tw/th shares of every CoST layer, and their mean, into a PNG."""
    import numpy as np

    from .views import mean_views

    plt = _pyplot()
    rows = list(layers) + [mean_views(layers)]
    names = [v.short_name for v in layers] + ["mean"]
    xs = np.arange(len(rows), dtype=float)
    xs[-1] += 0.5  # set the mean apart
    fig, ax = plt.subplots(figsize=(max(6.4, 0.6 * len(rows) + 3.5), 4.4), layout="constrained")
    bottom = np.zeros(len(rows))
    for key in ("hw", "tw", "th"):
        vals = np.array([getattr(v, key) for v in rows])
        ax.bar(xs, vals, bottom=bottom, width=0.7, color=VIEW_COLOURS[key], label=VIEW_NAMES[key])
        bottom += vals
    for xi, v in zip(xs, rows):
        if v.hw >= 0.06:  # the appearance share, where there is room for it
            ax.text(xi, v.hw / 2, f"{v.hw:.2f}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks(xs, names, rotation=45 if len(rows) > 8 else 0, ha="right" if len(rows) > 8 else "center",
                  fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of the layer's coefficients")
    ax.set_title(title + ("\n" + subtitle if subtitle else ""), fontsize=9, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    fig.legend(loc="outside right center", fontsize=8, frameon=False)
    _save(fig, out)
