#!/usr/bin/env bash
# Relay load bench: tonegate against rtpengine (userspace), measured in the same run.
#
# For each number of concurrent calls in CALLS, and for each relay in RELAYS: start the relay,
# run relay_load through it (N bidirectional G.711 calls with early media, RATE new calls/s),
# stop the relay. Then print both side by side, and for each relay the most calls it carried
# below 0.1 % loss. See benches/README.md.
#
#   benches/relay-load.sh                       # defaults below
#   CALLS="100 400" MEASURE_S=10 benches/relay-load.sh
#   RELAYS="tonegate rtpengine direct" ...      # direct: no relay, the tool's own floor
#
# Settings (environment):
#   CALLS       concurrent calls to try          default "50 100 200 400 800 1200"
#   RELAYS      relays, in order per N           default "tonegate rtpengine"
#   RATE        new calls per second             default 20
#   EARLY_MS    early media per call, ms         default 3000
#   MEASURE_S   measurement window, s            default 20
#   THREADS     relay_load's worker threads      default 2
#   RTP_PORTS   the relays' RTP port range       default 20000-29999
#   SIP_PORT    tonegate's SIP port              default 5070
#   CARRIER_PORT  relay_load's carrier UAS port  default 5080
#   NG_PORT     rtpengine's NG control port      default 2223
#   RTPENGINE   rtpengine binary                 default rtpengine (from PATH)
#   RTPENGINE_WAIT_S  wait this long for the rtpengine binary to appear   default 600
#   RTPENGINE_THREADS rtpengine --num-threads     default: rtpengine's (one per core)
#   TONEGATE_LOG  tonegate's log filter           default warn,tonegate::media=info
#               (the media module logs one line per classified call; they are counted)
#   OUT         directory for results and logs   default: a new temporary directory
#   SKIP_BUILD=1  use the binaries already built
#   RELAY_LOAD_ARGS  more arguments for relay_load (e.g. "--early-media FILE")
set -euo pipefail

cd "$(dirname "$0")/.."

CALLS=${CALLS:-"50 100 200 400 800 1200"}
RELAYS=${RELAYS:-"tonegate rtpengine"}
RATE=${RATE:-20}
EARLY_MS=${EARLY_MS:-3000}
MEASURE_S=${MEASURE_S:-20}
THREADS=${THREADS:-2}
RTP_PORTS=${RTP_PORTS:-20000-29999}
SIP_PORT=${SIP_PORT:-5070}
CARRIER_PORT=${CARRIER_PORT:-5080}
NG_PORT=${NG_PORT:-2223}
RTPENGINE=${RTPENGINE:-rtpengine}
RTPENGINE_WAIT_S=${RTPENGINE_WAIT_S:-600}
RTPENGINE_THREADS=${RTPENGINE_THREADS:-}
TONEGATE_LOG=${TONEGATE_LOG:-warn,tonegate::media=info}
OUT=${OUT:-$(mktemp -d -t relay-load.XXXXXX)}
RELAY_LOAD_ARGS=${RELAY_LOAD_ARGS:-}
export TONEGATE_LOG

mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# N calls take 2 sockets each here and about 4 in the relay.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then ulimit -n 65536; else ulimit -n "$hard"; fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p tonegate -p tonegate-benches
fi
BIN="${CARGO_TARGET_DIR:-target}/release"
TONEGATE="$BIN/tonegate"
RELAY_LOAD="$BIN/relay_load"

for relay in $RELAYS; do
    case $relay in
    tonegate | direct) ;;
    rtpengine)
        # The package may still be installing: wait for its binary.
        waited=0
        until command -v "$RTPENGINE" >/dev/null 2>&1; do
            if [ "$waited" -ge "$RTPENGINE_WAIT_S" ]; then
                echo "relay-load: $RTPENGINE not found (Debian package rtpengine-daemon)" >&2
                exit 2
            fi
            [ "$waited" = 0 ] && echo "relay-load: waiting for $RTPENGINE to be installed..." >&2
            sleep 5
            waited=$((waited + 5))
        done
        ;;
    *)
        echo "relay-load: unknown relay $relay (tonegate, rtpengine, direct)" >&2
        exit 2
        ;;
    esac
done

RELAY_PID=
stop_relay() {
    if [ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2>/dev/null; then
        kill -TERM "$RELAY_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$RELAY_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$RELAY_PID" 2>/dev/null || true
        wait "$RELAY_PID" 2>/dev/null || true
    fi
    RELAY_PID=
}
trap stop_relay EXIT INT TERM

# Is anything bound to 127.0.0.1:PORT (UDP)? /proc/net/udp has addresses in hex.
udp_bound() {
    local hex
    hex=$(printf '0100007F:%04X' "$1")
    grep -q " $hex " /proc/net/udp
}

wait_free() {
    for _ in $(seq 50); do
        udp_bound "$1" || return 0
        sleep 0.2
    done
    echo "relay-load: UDP port $1 is still in use" >&2
    return 1
}

start_tonegate() {
    local n=$1 cfg="$OUT/tonegate.toml"
    cat >"$cfg" <<EOF
[sip]
listen = "127.0.0.1:$SIP_PORT"
[[trunks]]
name = "load"
sources = ["127.0.0.1/32"]
target = "sip:127.0.0.1:$CARRIER_PORT"
[rtp]
ports = "$RTP_PORTS"
address = "127.0.0.1"
EOF
    wait_free "$SIP_PORT"
    "$TONEGATE" run --config "$cfg" >"$OUT/tonegate-$n.out" 2>"$OUT/tonegate-$n.log" &
    RELAY_PID=$!
    wait_up tonegate "$OUT/tonegate-$n.log" 600 grep -q '^listening ' "$OUT/tonegate-$n.out"
}

# wait_up NAME LOG TRIES CMD...: poll CMD every 0.1 s until it succeeds; fail if the
# relay ($RELAY_PID) exits first (showing LOG) or after TRIES polls.
wait_up() {
    local name=$1 log=$2 tries=$3
    shift 3
    for _ in $(seq "$tries"); do
        "$@" 2>/dev/null && return 0
        if ! kill -0 "$RELAY_PID" 2>/dev/null; then
            echo "relay-load: $name exited:" >&2
            cat "$log" >&2
            RELAY_PID=
            return 1
        fi
        sleep 0.1
    done
    echo "relay-load: $name did not come up in $((tries / 10)) s" >&2
    return 1
}

start_rtpengine() {
    local n=$1 lo=${RTP_PORTS%-*} hi=${RTP_PORTS#*-}
    local args=(--config-file=none --foreground --log-stderr --log-level=4 --table=-1
        --interface=127.0.0.1 --listen-ng="127.0.0.1:$NG_PORT"
        --port-min="$lo" --port-max="$hi" --delete-delay=0)
    [ -n "$RTPENGINE_THREADS" ] && args+=(--num-threads="$RTPENGINE_THREADS")
    wait_free "$NG_PORT"
    "$RTPENGINE" "${args[@]}" >"$OUT/rtpengine-$n.log" 2>&1 &
    RELAY_PID=$!
    wait_up rtpengine "$OUT/rtpengine-$n.log" 100 udp_bound "$NG_PORT"
}

echo "relay-load: results and logs in $OUT" >&2
for n in $CALLS; do
    for relay in $RELAYS; do
        echo "relay-load: $relay, $n calls" >&2
        read -r -a extra <<<"$RELAY_LOAD_ARGS"
        common=(--concurrent "$n" --rate "$RATE" --early-ms "$EARLY_MS" --measure-s "$MEASURE_S"
            --threads "$THREADS" --json "${extra[@]}")
        line=
        case $relay in
        tonegate)
            start_tonegate "$n" || exit 1
            line=$("$RELAY_LOAD" --mode tonegate --sip "127.0.0.1:$SIP_PORT" \
                --carrier-sip-port "$CARRIER_PORT" --relay-pid "$RELAY_PID" "${common[@]}" \
                2> >(tee "$OUT/relay_load-tonegate-$n.txt" >&2)) || true
            stop_relay
            classified=$(grep -c 'early media classified' "$OUT/tonegate-$n.log" || true)
            [ -n "$line" ] && line="{\"classified\":${classified:-0},${line#\{}"
            ;;
        rtpengine)
            start_rtpengine "$n" || exit 1
            line=$("$RELAY_LOAD" --mode rtpengine --ng "127.0.0.1:$NG_PORT" \
                --relay-pid "$RELAY_PID" "${common[@]}" \
                2> >(tee "$OUT/relay_load-rtpengine-$n.txt" >&2)) || true
            stop_relay
            ;;
        direct)
            line=$("$RELAY_LOAD" --mode direct "${common[@]}" \
                2> >(tee "$OUT/relay_load-direct-$n.txt" >&2)) || true
            ;;
        esac
        if [ -n "$line" ]; then
            echo "$line" >>"$RESULTS"
        else
            echo "relay-load: $relay with $n calls gave no result" >&2
        fi
    done
done

echo
echo "relay load: $RATE new calls/s, $EARLY_MS ms early media per call, ${MEASURE_S} s window," \
    "$(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
"$RELAY_LOAD" --table "$RESULTS"
echo "(JSON lines: $RESULTS)"
