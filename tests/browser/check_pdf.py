"""Checks the A4 PDF of a report, as Chromium prints it: the first page is
more than half filled, and no page holds only a leftover line or two. With
the marked print (check_report.mjs writes REPORT.marked.pdf beside it, each
table's header and rows marked `[[<table>h]]` / `[[<table>r]]`): no table is
split so that a page holds a lone row of it, and a header is repeated only
with rows under it.

usage: python check_pdf.py REPORT.pdf
"""
import os
import re
import sys
from collections import Counter, defaultdict

from pypdf import PdfReader


def text_rows(page):
    """The distinct baselines (rounded to points) of the text on a page."""
    ys = set()

    def visit(text, cm, tm, font, size):
        if text.strip():
            ys.add(round(tm[5] * cm[3] + cm[5]))

    page.extract_text(visitor_text=visit)
    return sorted(ys, reverse=True)


MARK = re.compile(r"\[\[(\d+)([hr])\]\]")


def table_breaks(path):
    """Each table's rows per page: no page with one row of a table that has
    more, and no header on a page without rows of its table."""
    pages = []
    for page in PdfReader(path).pages:
        # Marks are 1 px text: join the extracted text so none is split.
        text = re.sub(r"\s+", "", page.extract_text() or "")
        pages.append(Counter(MARK.findall(text)))
    rows = defaultdict(int)
    for marks in pages:
        for (table, kind), n in marks.items():
            if kind == "r":
                rows[table] += n
    failures = []
    for number, marks in enumerate(pages, 1):
        for (table, kind), n in marks.items():
            on_page = marks.get((table, "r"), 0)
            if kind == "h" and on_page == 0:
                failures.append(f"page {number}: the header of table {table} with no row under it")
            if kind == "r" and n == 1 and rows[table] > 1:
                failures.append(f"page {number}: a lone row of table {table} ({rows[table]} rows)")
    if not rows:
        failures.append("no table marks found in the marked print")
    return failures


def main(path):
    reader = PdfReader(path)
    failures = []
    for number, page in enumerate(reader.pages, 1):
        height = float(page.mediabox.height)
        rows = text_rows(page)
        if number == 1:
            filled = (height - min(rows)) / height if rows else 0.0
            if filled <= 0.5:
                failures.append(f"page 1 is only {filled:.0%} filled")
        elif len(rows) < 3 and number < len(reader.pages):
            failures.append(f"page {number} holds only {len(rows)} line(s) of text")
    marked = path[: -len(".pdf")] + ".marked.pdf"
    if os.path.exists(marked):
        failures += table_breaks(marked)
    for f in failures:
        print(f"FAILED pdf: {f}")
    print(f"pdf: {len(reader.pages)} pages, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
