"""Screenshots of every workbench page at phone (390×844) and desktop (1280×900) size,
for review (issue 13): `python scripts/screenshots.py [OUT]` (default screenshots/).

It starts the sandbox (emulator + app) on a fresh SQLite file with the demo data
(`wecom-app sandbox`'s), adds what the demo lacks for a few pages (a group whose members
break the rules, an external member with a 30-character id, an announcement), then logs
in as each role through the sandbox picker and saves each page as
`<size>-<role>-<page>.png`. Debian's Chromium (/usr/bin/chromium) is used; Chinese is
set in the WenQuanYi Micro Hei the PDFs embed (package paperang-p2-fonts-cjk), handed
to Chromium through a fontconfig file, as the machine may have no Chinese font.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
# (role, userid, [(page name, path)]); {group}, {bad_group}, {directive}, {violation}, {announcement},
# {internal_group} are filled in from the data made below
PAGES = (
    ("admin", "zhangwei", [
        ("home", "/"), ("more", "/more"), ("groups", "/groups"), ("group-new", "/groups/new"),
        ("group-register", "/groups/register"), ("group", "/groups/{group}"), ("group-members", "/groups/{bad_group}"),
        ("group-members-bad-name", "/groups/{bad_group}?compliance=bad_name"), ("violations", "/violations"),
        ("violation", "/violations/{violation}"), ("directives", "/directives"), ("directive-new", "/directives/new"),
        ("receipts", "/directives/{directive}/receipts"), ("directive-correct", "/directives/{directive}/correct"),
        ("announcements", "/announcements"), ("announcement-new", "/announcements/new"),
        ("announcement", "/announcements/{announcement}"), ("assessments", "/assessments"), ("settings", "/settings"),
        ("audit", "/audit"), ("me", "/me"), ("reports", "/reports"), ("group-edit", "/groups/{group}/edit"),
        ("group-import", "/groups/import"), ("digest", "/digest"), ("help-rules", "/help/rules"),
        ("internal-group", "/groups/{internal_group}"), ("internal-group-archive", "/groups/{internal_group}/archive")]),
    ("custodian", "xuchao", [("home", "/"), ("more", "/more"), ("groups", "/groups"), ("violations", "/violations")]),
    ("internal-custodian", "caoyang", [("internal-group", "/groups/{internal_group}")]),
    ("issuer", "caoyang", [("directives", "/directives"), ("receipts", "/directives/{confidential}/receipts")]),
    ("employee", "zhuxia", [("me", "/me"), ("directive", "/directives/{directive}"), ("reports", "/reports")]),
)


def _fontconfig(tmp: Path) -> dict:
    """An environment for Chromium whose fontconfig also knows the packaged Chinese font."""
    import paperang_p2_fonts_cjk

    fonts = Path(paperang_p2_fonts_cjk.__file__).parent / "fonts"
    conf = tmp / "fonts.conf"
    conf.write_text(f"""<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>
<include ignore_missing="yes">/etc/fonts/fonts.conf</include><dir>{fonts}</dir><cachedir>{tmp / 'fc-cache'}</cachedir>
<alias><family>sans-serif</family><prefer><family>WenQuanYi Micro Hei</family></prefer></alias>
<alias><family>system-ui</family><prefer><family>WenQuanYi Micro Hei</family></prefer></alias></fontconfig>""")
    return dict(os.environ, FONTCONFIG_FILE=str(conf))


def _extra_data(runtime) -> dict:
    """What the demo lacks for some pages: members breaking the rules, a long external id."""
    from sqlalchemy import select

    from wecom_app.models import Directive, Group, GroupMember, Violation

    with runtime.sessions.begin() as db:
        bad = Group(kind="customer", name="华东客户交流群（演示）", chat_id="wrOgQhDgAAscreenshots000000001",
                    owner="hujie", custodian="xuchao", scope={"departments": [6]}, allow_external=False)
        db.add(bad)
        db.flush()
        db.add_all([GroupMember(group_id=bad.id, member_id=m, member_type=t, compliance=c, group_nickname=n)
                    for m, t, c, n in (("hujie", 1, "ok", ""), ("zhuxia", 1, "out_of_scope", ""),
                                       ("gaoping", 1, "bad_name", "小高"), ("pengfei", 1, "bad_name", ""),
                                       ("wmOgQhDgAAexternal0123456789ab", 2, "external_not_allowed", "王总"))])
        ids = dict(bad_group=bad.id)
        ids["group"] = db.scalar(select(Group.id).where(Group.kind == "managed").order_by(Group.id))
        ids["directive"] = db.scalar(select(Directive.id).where(Directive.confidential.is_(False)).order_by(Directive.id))
        ids["confidential"] = db.scalar(select(Directive.id).where(Directive.confidential.is_(True)).order_by(Directive.id))
        ids["violation"] = db.scalar(select(Violation.id).order_by(Violation.id)) or 1
        ids["internal_group"] = db.scalar(select(Group.id).where(Group.kind == "internal", Group.status == "active")
                                          .order_by(Group.id)) or ids["group"]
    return ids


def main(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from wecom_app.directory.full_sync import full_sync
    from wecom_app.sandbox.demo import seed_demo_data
    from wecom_app.sandbox.run import build, free_port, serve_in_background
    from wecom_app.scheduler import run_job

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        port = free_port()
        wsgi, runtime, state = build("127.0.0.1", port, f"sqlite:///{tmp / 'screens.db'}")
        server = serve_in_background(wsgi, "127.0.0.1", port)
        try:
            full_sync(runtime.sessions, runtime.client, runtime.clock())
            seed_demo_data(runtime, state, wsgi.app.extensions["wecom_pusher"])
            for job in ("archive", "inbox", "outbox"):  # archive: the internal groups of the demo
                run_job(job, runtime)
            ids = _extra_data(runtime)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", env=_fontconfig(tmp))
                ids["announcement"] = _announce(browser, runtime.settings.public_url)
                run_job("outbox", runtime)
                for size, viewport in SIZES.items():
                    for role, userid, pages in PAGES:
                        context = browser.new_context(base_url=runtime.settings.public_url, viewport=viewport,
                                                      locale="zh-CN")
                        page = context.new_page()
                        _login(page, userid)
                        for name, path in pages:
                            page.goto(path.format(**ids))
                            # a full-page shot paints a fixed bar where the first screen ends: put the
                            # phone's tab bar at the page's foot instead (body keeps room for it)
                            page.add_style_tag(content="body.wb_tabbed { position: relative; }"
                                               " .wb-tabbar { position: absolute !important; }")
                            saved.append(_save(page, out / f"{size}-{role}-{name}.png"))
                        context.close()
                page = browser.new_page(base_url=runtime.settings.public_url, viewport=SIZES["phone"])
                page.goto("/login?switch=1")
                saved.append(_save(page, out / "phone-login.png"))
                browser.close()
        finally:
            state.stopping.set()
            server.shutdown()
            server.server_close()
            runtime.engine.dispose()
    return saved


def _save(page, path: Path) -> Path:
    """A full-page PNG in 128 colours (flat UI: about 2.5 times smaller, still sharp text)."""
    from PIL import Image

    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as shot:
        small = shot.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path


def _login(page, userid: str) -> None:
    page.goto("/login?switch=1")
    page.click(f'a[data-userid="{userid}"]')
    page.wait_for_url(lambda url: "/login" not in url and "/auth/callback" not in url)


def _announce(browser, url: str) -> int:
    """An urgent announcement to every group the form offers, sent by the admin."""
    page = browser.new_page(base_url=url, viewport=SIZES["desktop"])
    _login(page, "zhangwei")
    page.goto("/announcements/new")
    for box in page.locator("[data-group] input").all():
        box.check()
    page.fill("#content", "本周五下午三点消防演练，请各位准时参加。")
    page.check("#urgent")
    page.click("[data-test=send]")
    page.wait_for_url("**/announcements/*")
    announcement = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.close()
    return announcement


if __name__ == "__main__":
    paths = main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screenshots")
    total = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} screenshots, {total / 1e6:.1f} MB, in {paths[0].parent if paths else '-'}")
