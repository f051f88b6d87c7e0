"""Small charts as inline SVG, drawn on the server (no JavaScript library, no CDN):
one bar a week, each bar's value written above it, so the chart reads at phone size
(the viewBox is 360 units wide: 1:1 on a 390 px phone, scaled up on a desktop).

The SVG is an image to sight (`role="img"`, its `<title>` and `<desc>` say what it
shows); the numbers are also a table visually hidden for screen readers (`wb-sr`), so
nothing is only in the picture. Returns Markup for a Jinja template; every text is escaped.
"""

from __future__ import annotations

import dataclasses

from markupsafe import Markup, escape

WIDTH, HEIGHT = 360, 170
TOP, BOTTOM, LEFT, RIGHT = 18, 24, 6, 6  # room for the value above a bar and the label below


@dataclasses.dataclass(frozen=True)
class Point:
    label: str  # the week, e.g. 3/2
    value: float | None  # None: nothing to show that week (a rate without receipts)
    text: str  # the value as written, e.g. 4 or 87%


def bars(points: list[Point], *, title: str, unit: str, ident: str, maximum: float | None = None) -> Markup:
    """One `<figure>`: the bar chart and its hidden table. `maximum`: the top of the scale
    (100 for a rate), else the largest value (at least 1)."""
    top = maximum if maximum is not None else max([p.value or 0 for p in points] + [1])
    step = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    room = HEIGHT - TOP - BOTTOM
    parts = []
    for i, p in enumerate(points):
        x = LEFT + i * step
        centre = x + step / 2
        if p.value is not None:
            h = room * (p.value / top) if top else 0
            y = TOP + room - h
            parts.append(f'<rect x="{x + step * 0.15:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                         f'rx="2" class="wb-svg__bar"/>')
            parts.append(f'<text x="{centre:.1f}" y="{y - 4:.1f}" class="wb-svg__value">{escape(p.text)}</text>')
        else:
            parts.append(f'<text x="{centre:.1f}" y="{TOP + room - 4:.1f}" class="wb-svg__none">—</text>')
        if i % 2 == (len(points) - 1) % 2 or len(points) <= 6:  # every other label, the latest always
            parts.append(f'<text x="{centre:.1f}" y="{HEIGHT - 8}" class="wb-svg__label">{escape(p.label)}</text>')
    baseline = TOP + room
    summary = "，".join(f"{p.label} {p.text}" for p in points)
    svg = (f'<svg class="wb-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{ident}-t {ident}-d" '
           f'preserveAspectRatio="xMidYMid meet" data-test="{ident}">'
           f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(summary)}</desc>'
           f'<line x1="{LEFT}" y1="{baseline}" x2="{WIDTH - RIGHT}" y2="{baseline}" class="wb-svg__axis"/>'
           + "".join(parts) + "</svg>")
    rows = "".join(f"<tr><th scope=\"row\">{escape(p.label)}</th><td>{escape(p.text)}</td></tr>" for p in points)
    table = (f'<table class="wb-sr"><caption>{escape(title)}</caption><thead><tr><th scope="col">周</th>'
             f'<th scope="col">{escape(unit)}</th></tr></thead><tbody>{rows}</tbody></table>')
    return Markup(f'<figure class="wb-figure"><figcaption class="wb-figure__title">{escape(title)}</figcaption>'
                  f'{svg}{table}</figure>')
