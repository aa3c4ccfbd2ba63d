#!/usr/bin/env bash
# Benchmark: hutong's audit against the same audit written by hand in DuckDB
# SQL (bench/audit.sql), on generated logs in CSV and Parquet.
#
#   bench/run.sh [MILLIONS...]   sizes in millions of transactions (default: 1 10)
#   bench/run.sh --smoke         one tiny size, one run each: a correctness check
#
# Environment: RUNS (default 3) alternating runs per tool, BENCH_DIR (default
# /var/tmp/hutong-bench) for generated data, CARGO_TARGET_DIR as for cargo,
# ORDER=shuffled to audit a row-shuffled copy of each size (bench/shuffle.sh)
# instead of the generator's order (sessions together, transactions by time).
# Prints a Markdown table: median wall time, ratio hutong / DuckDB, peak
# resident and peak anonymous memory of each (bench/peak.py), and the time of
# one plain DuckDB scan of the columns the rules use. hutong runs twice per
# round: as it chooses by default (a single pass when memory allows), and
# bounded (`--strategy bounded --memory-budget $BOUNDED_BUDGET`, default
# 512MB; the smoke run forces 3 hash partitions and `--sorted never` instead, so
# that it runs the hashed path beside the default run's sorted one), whose time and peak
# anonymous memory get their own columns ("refused" when the budget is below
# what that input needs: the audit says so before any work). Every hutong
# run's metrics are checked against DuckDB's, and the bounded findings against
# the single pass's.
#
# BALLISTA=1 adds a column: the same audit of the Parquet copy on a local
# Apache Ballista cluster (one scheduler and two executors on 127.0.0.1,
# bench/ballista-local.sh; hutong built with --features distributed), its
# metrics checked against DuckDB's and its findings against polars'.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hutong-target}"
RUNS="${RUNS:-3}"
WORK="${BENCH_DIR:-/var/tmp/hutong-bench}"
RULES=rules/cn-interconnection-2021.toml
sizes=("$@")
smoke=0
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
  RUNS=1
  sizes=(smoke)
fi
[ ${#sizes[@]} -gt 0 ] || sizes=(1 10)

features=()
if [ "${BALLISTA:-0}" = 1 ]; then features=(--features distributed); fi
cargo build --release --quiet "${features[@]}"
HUTONG="$CARGO_TARGET_DIR/release/hutong"
VENV=/var/tmp/hutong-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb
PY="$VENV/bin/python"
mkdir -p "$WORK"

# run LABEL CMD...: appends "seconds rss_kb anon_kb" to $WORK/times.LABEL
measure() {
  local label="$1"
  shift
  "$PY" bench/peak.py -o "$WORK/last.time" "$@" >"$WORK/last.out" 2>"$WORK/last.err" || {
    local rc=$?
    # hutong exits 1 when rules fail, which the sample data makes them do.
    if [ "$rc" -ne 1 ]; then cat "$WORK/last.err" >&2; return "$rc"; fi
  }
  tail -n 1 "$WORK/last.time" >>"$WORK/times.$label"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# maxcol N: the largest value of column N, in MB.
maxcol() { awk -v c="$1" '{ if ($c > m) m = $c } END { printf "%.0f", m / 1024 }'; }

# agrees LABEL DIR: DIR's metrics agree with DuckDB's on $data, and its findings
# with the default run's in $out: whatever the strategy or engine, only the
# recorded execution, command and time may differ.
agrees() {
  "$PY" bench/duckdb_audit.py --rules "$RULES" --data "$data" --compare "$2/findings.json" >/dev/null || {
    echo "$1 audit of $data: metrics differ from DuckDB's" >&2
    exit 1
  }
  "$PY" -c 'import json, sys
a, b = (json.load(open(p + "/findings.json")) for p in sys.argv[1:])
for d in (a, b):
    d.pop("execution"); d.pop("command"); d.pop("generated_at")
sys.exit(a != b)' "$out" "$2" || {
    echo "$1 audit of $data: findings differ from the default run's" >&2
    exit 1
  }
}

BOUNDED_BUDGET="${BOUNDED_BUDGET:-512MB}"
scheduler=""
if [ "${BALLISTA:-0}" = 1 ]; then
  export BALLISTA_DIR="$WORK/ballista" HUTONG
  trap 'bench/ballista-local.sh stop' EXIT
  scheduler=$(bench/ballista-local.sh start)
fi
echo "| transactions | format | input MB | hutong s | DuckDB s | hutong / DuckDB | hutong peak MB | hutong anon MB | DuckDB peak MB | DuckDB anon MB | one scan s | hutong / scan | bounded s | bounded anon MB | Ballista s |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for size in "${sizes[@]}"; do
  if [ "$size" = smoke ]; then scale=1; else scale=$(awk -v s="$size" 'BEGIN { printf "%d", s * 48 }'); fi
  csv="$WORK/csv-$scale"
  pq="$WORK/parquet-$scale"
  if [ ! -f "$csv/transactions.csv" ]; then
    "$HUTONG" generate --out "$csv" --scale "$scale" 2>/dev/null
  fi
  order=""
  if [ "${ORDER:-}" = shuffled ]; then
    [ -f "$csv-shuffled/transactions.csv" ] || bench/shuffle.sh "$csv" "$csv-shuffled"
    csv="$csv-shuffled"
    pq="$pq-shuffled"
    order=" shuffled"
  fi
  if [ ! -f "$pq/transactions.parquet" ]; then
    "$HUTONG" convert --data "$csv" --out "$pq" --quiet
  fi
  for data in "$csv" "$pq"; do
    fmt=$(basename "$data" | cut -d- -f1)
    rm -f "$WORK"/times.*
    out="$WORK/out-$fmt-$scale${order:+-shuffled}"
    bout="$WORK/out-bounded-$fmt-$scale${order:+-shuffled}"
    bounded=(--strategy bounded --memory-budget "$BOUNDED_BUDGET")
    if [ "$size" = smoke ]; then bounded=(--strategy bounded --partitions 3 --sorted never); fi
    refused=0
    for _ in $(seq "$RUNS"); do
      measure hutong "$HUTONG" audit --rules "$RULES" --data "$data" --out "$out" --quiet
      if [ "$refused" = 0 ] && ! measure bounded "$HUTONG" audit --rules "$RULES" --data "$data" --out "$bout" \
        "${bounded[@]}" --quiet 2>/dev/null; then
        # A budget below what the input needs is refused before any work.
        grep -q -- "--memory-budget" "$WORK/last.err" || exit 1
        refused=1
      fi
      measure duckdb "$PY" bench/duckdb_audit.py --rules "$RULES" --data "$data"
      measure scan "$PY" bench/scan.py "$data"
      if [ -n "$scheduler" ] && [ "$fmt" = parquet ]; then
        measure ballista "$HUTONG" audit --rules "$RULES" --data "$data" --out "$out-ballista" --quiet \
          --engine ballista --scheduler "$scheduler"
      fi
    done
    ballista_s="–"
    if [ -f "$WORK/times.ballista" ]; then
      agrees Ballista "$out-ballista"
      ballista_s=$(printf "%.2f" "$(cut -d' ' -f1 "$WORK/times.ballista" | median)")
    fi
    # A benchmark of wrong answers is worthless: the metrics must agree.
    "$PY" bench/duckdb_audit.py --rules "$RULES" --data "$data" --compare "$out/findings.json" >"$WORK/compare.txt" || {
      cat "$WORK/compare.txt" >&2
      exit 1
    }
    if [ "$refused" = 0 ]; then
      agrees bounded "$bout"
      bs=$(printf "%.2f" "$(cut -d' ' -f1 "$WORK/times.bounded" | median)")
      ba=$(maxcol 3 <"$WORK/times.bounded")
    else
      bs=refused
      ba=refused
    fi
    mb=$(du -sm --apparent-size "$data" | cut -f1)
    h=$(cut -d' ' -f1 "$WORK/times.hutong" | median)
    d=$(cut -d' ' -f1 "$WORK/times.duckdb" | median)
    s=$(cut -d' ' -f1 "$WORK/times.scan" | median)
    hm=$(maxcol 2 <"$WORK/times.hutong")
    ha=$(maxcol 3 <"$WORK/times.hutong")
    dm=$(maxcol 2 <"$WORK/times.duckdb")
    da=$(maxcol 3 <"$WORK/times.duckdb")
    txns=$(grep -m1 '"rows_read"' "$out/findings.json" | tr -dc '0-9')
    printf "| %s | %s | %s | %.2f | %.2f | %.2f | %s | %s | %s | %s | %.2f | %.2f | %s | %s | %s |\n" \
      "$txns" "$fmt$order" "$mb" "$h" "$d" "$(awk -v a="$h" -v b="$d" 'BEGIN { print a / b }')" "$hm" "$ha" "$dm" "$da" \
      "$s" "$(awk -v a="$h" -v b="$s" 'BEGIN { print a / b }')" "$bs" "$ba" "$ballista_s"
  done
done
echo
echo "$(tail -n 1 "$WORK/compare.txt") (metrics of the last size checked; every size is checked)"
if [ "$smoke" = 1 ]; then
  echo "bench smoke: 1 passed, 0 failed"
fi
