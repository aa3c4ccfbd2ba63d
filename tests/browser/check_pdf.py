"""Checks the A4 PDF of a report, as Chromium prints it: the first page is
more than half filled, and no page holds only a leftover line or two.

usage: python check_pdf.py REPORT.pdf
"""
import sys

from pypdf import PdfReader


def text_rows(page):
    """The distinct baselines (rounded to points) of the text on a page."""
    ys = set()

    def visit(text, cm, tm, font, size):
        if text.strip():
            ys.add(round(tm[5] * cm[3] + cm[5]))

    page.extract_text(visitor_text=visit)
    return sorted(ys, reverse=True)


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
    for f in failures:
        print(f"FAILED pdf: {f}")
    print(f"pdf: {len(reader.pages)} pages, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
