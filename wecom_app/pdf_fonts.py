"""The fonts every PDF the app writes is set in, embedded as subsets (issue 13 #8).

A PDF that names a font without embedding it (reportlab's CID font STSong-Light, as
the receipt sheet once did) shows no Chinese at all in a viewer without Adobe's
Chinese font pack. So every font here is a TrueType file that reportlab embeds,
subset to the characters the document uses: WenQuanYi Micro Hei (文泉驿微米黑) and
its monospaced face (for hashes and commands), from the pip package
`paperang-p2-fonts-cjk`, whose one file is byte-identical to Debian's
fonts-wqy-microhei 0.2.0-beta (SHA-256 below, checked before use). It covers all
of GB2312 (7,445 characters) and more; it is TrueType (glyf) outlines, which
reportlab can read, where Noto/Source Han CJK are CFF. Licence: Apache-2.0 or
GPL-3+ with the font embedding exception (the package's README says OFL: wrong).

No network and no system font: the file comes from the installed package.
Helvetica, Courier and the other standard-14 fonts are never used, as they are
not embedded either; so a document also passes `initialFontName=SANS` to its
DocTemplate or Canvas (reportlab starts each page in Helvetica and lists it).
"""

from __future__ import annotations

import hashlib
import threading
from importlib.resources import files

SANS = "WenQuanYiMicroHei"  # subfont 0 of the collection: proportional Latin, every CJK character 1 em
MONO = "WenQuanYiMicroHeiMono"  # subfont 1: Latin at 0.6 em, as Courier
PACKAGE, FILE = "paperang_p2_fonts_cjk", "fonts/wqy-microhei.ttc"
FILE_SHA256 = "2420e8078af796b19a3f6ef13de527a1a91c1e7171eea115926c614ced1009b3"

_lock = threading.Lock()


class FontMissing(RuntimeError):
    """The font file is absent or not the one pinned: no PDF is written without it."""


def register() -> None:
    """Make SANS and MONO known to reportlab (once a process; about a second the first time)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _lock:
        if MONO in pdfmetrics.getRegisteredFontNames():
            return
        path = _font_file()
        pdfmetrics.registerFont(TTFont(SANS, path, subfontIndex=0))
        pdfmetrics.registerFont(TTFont(MONO, path, subfontIndex=1))
        # a paragraph's <b>/<i> falls back to the same face, never to a standard-14 font
        for name in (SANS, MONO):
            pdfmetrics.registerFontFamily(name, normal=name, bold=name, italic=name, boldItalic=name)


def _font_file() -> str:
    try:
        path = files(PACKAGE) / FILE
        data = path.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise FontMissing(f"the PDF font {FILE} is missing: pip install paperang-p2-fonts-cjk "
                          f"(a dependency of wecom-app)") from exc
    if hashlib.sha256(data).hexdigest() != FILE_SHA256:
        raise FontMissing(f"the PDF font {FILE} is not the pinned WenQuanYi Micro Hei 0.2.0-beta "
                          f"(SHA-256 {FILE_SHA256})")
    return str(path)
