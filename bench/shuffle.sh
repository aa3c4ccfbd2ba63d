#!/usr/bin/env bash
# Writes a row-shuffled copy of a generated data directory: the benchmark's
# "shuffled" input, where no dataset is in session, merchant or time order.
#
#   bench/shuffle.sh SOURCE_DIR TARGET_DIR
#
# The generator writes each checkout session's rows together and transactions
# in time order; an auditor cannot count on either. Every data line of
# transactions.csv and checkout.csv is kept byte for byte, in the order of a
# keyed hash of the line (sort -R with a fixed random source: the same copy on
# every run), under the header; merchants and codes are copied as they are.
# Lines, not records: meant for generated data, whose fields hold no line breaks.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
src="$1"
dst="$2"
mkdir -p "$dst"
# sort spills to TMPDIR beyond its 1 GB buffer: as much again as the file,
# less when lz4 can compress the spill.
spill=()
if command -v lz4 >/dev/null; then spill=(--compress-program=lz4); fi
for f in "$src"/*.csv; do
  name=$(basename "$f")
  case "$name" in
    transactions.csv | checkout.csv)
      head -n 1 "$f" >"$dst/$name.part"
      tail -n +2 "$f" | LC_ALL=C sort -R --random-source=<(yes hutong) -S 1G "${spill[@]}" >>"$dst/$name.part"
      mv "$dst/$name.part" "$dst/$name"
      ;;
    *) cp "$f" "$dst/$name" ;;
  esac
done
