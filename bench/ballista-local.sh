#!/usr/bin/env bash
# A local Apache Ballista cluster for `hutong audit --engine ballista`: one
# scheduler and two executors, all bound to 127.0.0.1 only, started from the
# hutong binary itself (`hutong cluster`, a build with --features distributed).
#
#   bench/ballista-local.sh start   start them; prints the scheduler's URL
#   bench/ballista-local.sh stop    stop them (by the pids start recorded)
#
# Environment: HUTONG (default $CARGO_TARGET_DIR/release/hutong), BALLISTA_DIR
# (default /tmp/hutong-ballista: pids, logs and the executors' shuffle
# files), BALLISTA_PORT (default 50050: the scheduler; the executors take the
# next four ports), BALLISTA_SLOTS (default 1: tasks per executor),
# BALLISTA_MEMORY (default unset: memory per executor before it spills).
set -euo pipefail
cd "$(dirname "$0")/.."
HUTONG="${HUTONG:-${CARGO_TARGET_DIR:-target}/release/hutong}"
DIR="${BALLISTA_DIR:-/tmp/hutong-ballista}"
PORT="${BALLISTA_PORT:-50050}"
SLOTS="${BALLISTA_SLOTS:-1}"
HOST=127.0.0.1

# Waits until something listens on $1, or fails after 30 s.
wait_port() {
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "ballista-local: nothing listens on $HOST:$1 after 30 s; see $DIR/*.log" >&2
  return 1
}

stop() {
  for f in "$DIR"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    # Up to 10 s to exit, then for good.
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

case "${1:-}" in
  start)
    [ -x "$HUTONG" ] || { echo "ballista-local: no hutong binary at $HUTONG (cargo build --release --features distributed)" >&2; exit 2; }
    mkdir -p "$DIR"
    stop
    "$HUTONG" cluster scheduler --bind "$HOST" --port "$PORT" >"$DIR/scheduler.log" 2>&1 &
    echo $! >"$DIR/scheduler.pid"
    wait_port "$PORT"
    memory=()
    if [ -n "${BALLISTA_MEMORY:-}" ]; then memory=(--memory "$BALLISTA_MEMORY"); fi
    for i in 1 2; do
      flight=$((PORT + 2 * i - 1))
      grpc=$((PORT + 2 * i))
      mkdir -p "$DIR/executor-$i"
      "$HUTONG" cluster executor --bind "$HOST" --port "$flight" --grpc-port "$grpc" \
        --scheduler-host "$HOST" --scheduler-port "$PORT" --work-dir "$DIR/executor-$i" \
        --slots "$SLOTS" "${memory[@]}" >"$DIR/executor-$i.log" 2>&1 &
      echo $! >"$DIR/executor-$i.pid"
    done
    wait_port $((PORT + 1))
    wait_port $((PORT + 3))
    echo "df://$HOST:$PORT"
    ;;
  stop)
    stop
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
