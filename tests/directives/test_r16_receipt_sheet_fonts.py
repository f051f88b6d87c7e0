"""R16 receipt sheet (签收单) as a reader's PDF viewer shows it (issue 13 #8): every
font is embedded, so its Chinese does not depend on the viewer's fonts; poppler
(`pdftoppm`, which finds no Chinese font on a bare Debian) draws the Chinese; the
font has a glyph for every character of GB2312 and of the CJK block; and the PDF
carries subsets, so names using every common character still make a small file."""

import io
import os
import shutil
import subprocess

import pytest
from PIL import Image
from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics
from sqlalchemy import update

from tests.directives.test_r16_receipt_sheet import SETTINGS, TITLE, make_directive
from wecom_app import pdf_fonts
from wecom_app.directives.receipt_sheet import receipt_pdf
from wecom_app.models import Directive, User

FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


def fonts_of(data: bytes) -> dict[str, dict]:
    """Every font a page (or a form it draws) uses, by PDF object, descendant fonts included."""
    found: dict[str, dict] = {}

    def add(font) -> None:
        font = font.get_object()
        reference = getattr(font, "indirect_reference", None)  # a descendant may be a direct object
        key = f"{reference.idnum} {reference.generation}" if reference else f"direct {id(font)}"
        if key in found:
            return
        found[key] = font
        for descendant in font.get("/DescendantFonts", []):  # a Type0 font draws with its CIDFont
            add(descendant)
        walk(font.get("/Resources"))  # a Type3 font's glyphs may use fonts of their own

    def walk(resources) -> None:
        if resources is None:
            return
        resources = resources.get_object()
        fonts, xobjects = resources.get("/Font"), resources.get("/XObject")
        for font in fonts.get_object().values() if fonts is not None else ():
            add(font)
        for xobject in xobjects.get_object().values() if xobjects is not None else ():
            if xobject.get_object().get("/Subtype") == "/Form":  # a form draws with its own resources
                walk(xobject.get_object().get("/Resources"))

    for page in PdfReader(io.BytesIO(data)).pages:
        walk(page.get("/Resources"))
    return found


def not_embedded(data: bytes) -> list[str]:
    """The BaseFont of each font that draws glyphs from a file the PDF does not carry."""
    missing = []
    for font in fonts_of(data).values():
        if font.get("/Subtype") in ("/Type0", "/Type3"):  # Type0: its descendant is checked; Type3: glyphs inline
            continue
        descriptor = font.get("/FontDescriptor")
        if descriptor is None or not any(key in descriptor.get_object() for key in FONT_FILES):
            missing.append(str(font.get("/BaseFont")))
    return missing


def sheet_pdf(sessions, *, people: int = 4, title: str = TITLE) -> bytes:
    """The receipt sheet of a new directive (make_directive) whose title is `title`."""
    with sessions.begin() as session:
        directive = make_directive(session, people)
    return retitled_pdf(sessions, directive.id, title)


def retitled_pdf(sessions, directive_id: int, title: str) -> bytes:
    with sessions.begin() as session:
        session.get(Directive, directive_id).title = title
    with sessions() as session:
        return receipt_pdf(session, SETTINGS, directive_id)


def gb2312(first_row: int = 0xA1, last_row: int = 0xF7) -> list[str]:
    """The characters of GB2312, rows first_row..last_row (0xB0..0xD7: the 3,755 common hanzi of level 1)."""
    found = []
    for row in range(first_row, last_row + 1):
        for cell in range(0xA1, 0xFF):
            try:
                found.append(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return found


def font_bytes(data: bytes) -> int:
    """The size of the font programs the PDF carries (uncompressed)."""
    total = 0
    for font in fonts_of(data).values():
        descriptor = font.get("/FontDescriptor")
        for key in FONT_FILES if descriptor is not None else ():
            if key in descriptor.get_object():
                total += len(descriptor.get_object()[key].get_object().get_data())
    return total


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_r16_receipt_pdf_embeds_every_font_it_uses(sessions):
    data = sheet_pdf(sessions)
    names = {str(font.get("/BaseFont")) for font in fonts_of(data).values()}
    assert not_embedded(data) == []
    assert any(pdf_fonts.SANS in name for name in names) and any(pdf_fonts.MONO in name for name in names)
    assert all("+" in name for name in names)  # AAAAAA+Name: subsets, not the 5 MB font file
    assert len(data) < 100_000


def test_r16_receipt_pdf_font_has_every_gb2312_and_basic_cjk_character():
    pdf_fonts.register()
    sans = pdfmetrics.getFont(pdf_fonts.SANS).face.charToGlyph
    characters = gb2312() + [chr(code) for code in range(0x4E00, 0x9FA6)]  # GB2312's 7,445; the 20,902 of GBK
    assert len(characters) == 7_445 + 20_902
    assert [c for c in characters if ord(c) not in sans] == []


def test_r16_pdf_font_missing_or_not_the_pinned_file_is_refused(monkeypatch):
    """No PDF falls back to a font that is not embedded, or not the one reviewed."""
    monkeypatch.setattr(pdf_fonts, "FILE_SHA256", "0" * 64)
    with pytest.raises(pdf_fonts.FontMissing, match="not the pinned"):
        pdf_fonts._font_file()
    monkeypatch.setattr(pdf_fonts, "PACKAGE", "no_such_font_package")
    with pytest.raises(pdf_fonts.FontMissing, match="pip install paperang-p2-fonts-cjk"):
        pdf_fonts._font_file()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_r16_receipt_pdf_of_names_using_every_common_hanzi_stays_small(sessions):
    """1,252 people named with all 3,755 level-1 hanzi: the worst case of glyphs for a
    sheet. (At 10,000 such people the file is 1.55 MB, 0.57 MB of it fonts as stored;
    the same sheet with the old non-embedded font was 1.05 MB.)"""
    hanzi = gb2312(0xB0, 0xD7)
    people = -(-len(hanzi) // 3)
    with sessions.begin() as session:
        directive = make_directive(session, people)
        session.execute(update(User), [dict(userid=f"user{n:05d}", name="".join(hanzi[(3 * n + i) % len(hanzi)]
                                                                                for i in range(3)))
                                       for n in range(people)])
    with sessions() as session:
        data = receipt_pdf(session, SETTINGS, directive.id)
    assert not_embedded(data) == []
    assert 500_000 < font_bytes(data) < 1_500_000  # 3,755 glyphs carried, measured 0.98 MB; the font file: 5.2 MB
    assert len(data) < 1_000_000  # measured 0.75 MB


def pdftoppm() -> str:
    found = shutil.which("pdftoppm")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftoppm is not installed (apt-get install poppler-utils): CI must render the receipt sheet")
        pytest.skip("pdftoppm is not installed (apt-get install poppler-utils)")
    return found


def first_page(data: bytes, tmp_path, name: str, dpi: int = 100) -> Image.Image:
    """Page 1 as poppler draws it, in grey."""
    (tmp_path / f"{name}.pdf").write_bytes(data)
    subprocess.run([pdftoppm(), "-png", "-gray", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile",
                    str(tmp_path / f"{name}.pdf"), str(tmp_path / name)], check=True, timeout=60)
    with Image.open(tmp_path / f"{name}.png") as image:
        return image.convert("L")


def drawn_at(data: bytes, text: str) -> tuple[float, float, float]:
    """Where page 1 draws the line that starts with `text`: its baseline's x and y and its font size."""
    found = []

    def visit(shown, cm, tm, font, size):
        if shown.startswith(text):
            found.append((cm[4] + tm[4], cm[5] + tm[5], size))

    PdfReader(io.BytesIO(data)).pages[0].extract_text(visitor_text=visit)
    assert found, f"{text!r} is not on page 1"
    return found[0]


def ink(image: Image.Image, box: tuple[float, float, float, float], dpi: int = 100) -> float:
    """The share of dark pixels in a box given in PDF points from the page's bottom left."""
    scale = dpi / 72
    x0, y0, x1, y1 = box
    height = image.height
    crop = image.crop((round(x0 * scale), round(height - y1 * scale), round(x1 * scale), round(height - y0 * scale)))
    grey = crop.histogram()  # pixels by grey level, 0 black to 255 white
    return sum(grey[:128]) / sum(grey)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_r16_receipt_pdf_renders_its_chinese_in_poppler(sessions, tmp_path):
    """The heading 关于… (the directive's title) has ink where poppler draws it; the
    same sheet with its title blank (no-break spaces: the layout stays) has none there."""
    pdftoppm()
    shown = sheet_pdf(sessions, title=TITLE)
    blank = retitled_pdf(sessions, 1, "\u00a0" * len(TITLE))
    assert drawn_at(shown, "指令编号") == drawn_at(blank, "指令编号")  # the line below the heading did not move
    x, y, size = drawn_at(shown, "关于")
    heading = (x, y - 0.2 * size, x + 2 * size, y + 0.9 * size)  # 关于: two characters of one em each
    assert ink(first_page(shown, tmp_path, "shown"), heading) > 0.08
    assert ink(first_page(blank, tmp_path, "blank"), heading) < 0.005
