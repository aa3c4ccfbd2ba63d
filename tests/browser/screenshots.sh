#!/usr/bin/env bash
# Regenerates the report's screenshots in docs/ from the sample audit, in
# English and Chinese: desktop (1280 px), phone (390 px) and the first page
# of the A4 print. Needs what .ci/run installs (Chromium, playwright-core in
# /var/tmp/hutong-node, pypdfium2 in /var/tmp/hutong-venv, fonts-noto-cjk).
#
# usage: bash tests/browser/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hutong-target}"
NODE_DIR=/var/tmp/hutong-node
VENV=/var/tmp/hutong-venv
"$VENV/bin/pip" install --quiet --disable-pip-version-check pypdfium2
cp tests/browser/check_report.mjs "$NODE_DIR/"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for lang in en zh-CN; do
  SOURCE_DATE_EPOCH=1700000000 "$CARGO_TARGET_DIR/release/hutong" audit --rules rules/cn-interconnection-2021.toml \
    --data testdata/sample --out "$work/$lang" --quiet --lang "$lang" >/dev/null || true
  node "$NODE_DIR/check_report.mjs" "$work/$lang/report.html" "$work/$lang/shot.png" \
    "$NODE_DIR/node_modules/axe-core/axe.min.js"
  suffix=$([ "$lang" = en ] && echo "" || echo ".$lang")
  cp "$work/$lang/shot.png" "docs/report$suffix.png"
  cp "$work/$lang/shot-phone.png" "docs/report-phone$suffix.png"
  "$VENV/bin/python" tests/browser/pdf_page.py "$work/$lang/shot.pdf" "docs/report-print$suffix.png"
done
ls -l docs/report*.png
