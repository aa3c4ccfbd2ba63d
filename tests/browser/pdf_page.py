"""Renders the first page of a printed report as a PNG, for docs/.

usage: python pdf_page.py REPORT.pdf PAGE.png
"""
import sys

import pypdfium2


def main(pdf, png):
    page = pypdfium2.PdfDocument(pdf)[0]
    # 100 dpi: an A4 page at 827 x 1169 pixels.
    page.render(scale=100 / 72).to_pil().save(png, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
