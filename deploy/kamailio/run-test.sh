#!/usr/bin/env bash
# Kamailio dispatcher front in front of two tonegate instances, all on 127.0.0.1:
#
#   sipp UAC ──▶ Kamailio (deploy/kamailio/kamailio.cfg) ──▶ tonegate tg1 ─┐
#                                                       └──▶ tonegate tg2 ─┴──▶ sipp UAS (carrier)
#
# 1. Both instances up and probed active: a batch of short calls must all
#    succeed and reach both instances (Call-ID hash).
# 2. A few long calls are placed through the front and left running.
# 3. An instance carrying long calls (tg1 when it has one) gets SIGTERM: it
#    drains, answering OPTIONS and new INVITEs 503. Kamailio must mark it
#    inactive while it is still running; its /readyz must say 503.
# 4. A second batch of short calls must all succeed, every one on the other
#    instance, none on the drained one.
# 5. The long calls must end normally (their BYEs reach the draining instance
#    through the front), and the drained instance must then exit with status 0.
#
# Calls per instance are counted three ways and must agree: the front's
# "dispatched to" log lines, the instances' "call started" log lines, and the
# instances' /metrics (tonegate_calls_total) where the binary serves it.
#
# Usage: deploy/kamailio/run-test.sh
# Environment (all optional):
#   TONEGATE_BIN   tonegate binary to use (default: `cargo build --release -p tonegate`
#                  and target/release/tonegate)
#   CALLS          calls per batch (default 20)         RATE   calls per second (default 10)
#   PING_INTERVAL  Kamailio's OPTIONS interval, s (default 1)
#   RTP_BASE       first RTP port; tg1 takes RTP_BASE..+99, tg2 the next 100 (default 17000)
#   LONG_CALLS     long calls left running over the drain (default 4)
#   LONG_MS        their length in ms (default 15000; below [limits] drain_timeout_s)
#   KEEP_TMP=1     keep the scratch directory (it is always kept on failure)
# Needs kamailio and kamcmd (Debian package kamailio), sipp (sip-tester) and curl;
# when one is missing and this runs as root with CI set, they are installed with apt-get.
# Exit status 0 on success; otherwise a message and the logs' tails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CALLS="${CALLS:-20}"
RATE="${RATE:-10}"
PING_INTERVAL="${PING_INTERVAL:-1}"
RTP_BASE="${RTP_BASE:-17000}"
LONG_CALLS="${LONG_CALLS:-4}"
LONG_MS="${LONG_MS:-15000}"
FR_TIMER_MS=2000

say() { printf '[run-test] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools

missing=()
command -v kamailio >/dev/null 2>&1 || missing+=(kamailio)
command -v kamcmd >/dev/null 2>&1 || missing+=(kamailio)
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
    pkgs="$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
    if [ "$(id -u)" -eq 0 ] && [ -n "${CI:-}" ]; then
        say "installing $pkgs"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $pkgs
    else
        say "missing tools; install the Debian packages: $pkgs"
        say "(e.g. apt-get install -y $pkgs; this script installs them itself only as root with CI set)"
        exit 2
    fi
fi
# The package's own service may hold 5060; this test uses other ports.

if [ -n "${TONEGATE_BIN:-}" ]; then
    BIN="$TONEGATE_BIN"
else
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    BIN="$ROOT/target/release/tonegate"
    if command -v cargo >/dev/null 2>&1; then
        say "cargo build --release -p tonegate (a no-op when the binary is fresh)"
        (cd "$ROOT" && cargo build --release -p tonegate --quiet)
    elif [ -x "$BIN" ]; then
        say "no cargo: using $BIN as it is"
    else
        say "no cargo and no $BIN: build tonegate first or set TONEGATE_BIN"
        exit 2
    fi
fi
[ -x "$BIN" ] || { say "tonegate binary $BIN is not executable"; exit 2; }

# ---------------------------------------------------------------- scratch and cleanup

T="$(mktemp -d "${TMPDIR:-/tmp}/tonegate-kamailio.XXXXXX")"
PIDS=()
OK=0

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$OK" = 1 ] && [ "${KEEP_TMP:-0}" != 1 ]; then
        rm -rf "$T"
    else
        say "scratch directory kept: $T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tail_of() {
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        printf '\n----- %s (last 40 lines)\n' "${f#"$T"/}" >&2
        tail -n 40 "$f" >&2
    done
}

fail() {
    say "FAIL: $*"
    if [ -S "$T/kam/ctl" ]; then
        printf '\n----- kamcmd dispatcher.list\n' >&2
        kamcmd -s "unix:$T/kam/ctl" dispatcher.list >&2 2>&1 || true
    fi
    tail_of "$T/kamailio.log" "$T/tg1/log" "$T/tg2/log" "$T"/uac-*.out "$T"/uac-*-errors.log \
        "$T/uas-errors.log"
    exit 1
}

# ---------------------------------------------------------------- ports

# In use by any socket on this machine (from /proc, no extra tool).
port_in_use() {
    local hex
    hex="$(printf ':%04X' "$1")"
    cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null |
        awk -v h="$hex" 'substr($2, length($2) - 4) == h { found = 1 } END { exit !found }'
}

TAKEN=" "
pick_port() { # VAR: a port free for UDP and TCP, not handed out before
    local p
    for _ in $(seq 200); do
        p=$((10000 + RANDOM % 6000))
        case "$TAKEN" in *" $p "*) continue ;; esac
        if ! port_in_use "$p"; then
            TAKEN="$TAKEN$p "
            printf -v "$1" '%s' "$p"
            return
        fi
    done
    fail "no free port found in 10000-15999"
}

pick_port KPORT
pick_port CARRIER_PORT
pick_port HTTP1
pick_port HTTP2
pick_port UAC_PORT
pick_port UAC_LONG_PORT

# ---------------------------------------------------------------- carrier (sipp UAS)

(cd "$T" && exec sipp -sn uas -i 127.0.0.1 -p "$CARRIER_PORT" -nostdin \
    -trace_err -error_file "$T/uas-errors.log" >"$T/uas.out" 2>&1) &
PIDS+=("$!")
UAS_PID="$!"

# ---------------------------------------------------------------- tonegate instances

start_tonegate() { # name rtp_low http_port -> sets TG_PID, TG_ADDR
    local name="$1" lo="$2" http="$3" d="$T/$1"
    mkdir -p "$d"
    cat >"$d/tonegate.toml" <<EOF
[sip]
listen = "127.0.0.1:0"

[[trunks]]
name = "front"
sources = ["127.0.0.1/32"]          # the Kamailio front
target = "sip:127.0.0.1:$CARRIER_PORT"

[rtp]
ports = "$lo-$((lo + 99))"
address = "127.0.0.1"

[recordings]
dir = "$d/recordings"

[http]
listen = "127.0.0.1:$http"

[events]
outbox = "$d/outbox.redb"

[classify]
library = "$ROOT/testdata/library"
EOF
    TONEGATE_LOG="${TONEGATE_LOG:-info}" NO_COLOR=1 \
        "$BIN" run --config "$d/tonegate.toml" >"$d/stdout" 2>"$d/log" &
    TG_PID="$!"
    PIDS+=("$TG_PID")
    for _ in $(seq 200); do
        TG_ADDR="$(sed -n 's/^listening //p' "$d/stdout" | head -n 1)"
        [ -n "$TG_ADDR" ] && return
        kill -0 "$TG_PID" 2>/dev/null || fail "tonegate $name exited at start"
        sleep 0.1
    done
    fail "tonegate $name did not print 'listening' within 20 s"
}

start_tonegate tg1 "$RTP_BASE" "$HTTP1"
TG1_PID="$TG_PID" TG1_ADDR="$TG_ADDR"
start_tonegate tg2 "$((RTP_BASE + 100))" "$HTTP2"
TG2_PID="$TG_PID" TG2_ADDR="$TG_ADDR"
TG1_URI="sip:$TG1_ADDR"
TG2_URI="sip:$TG2_ADDR"
say "tonegate tg1 on $TG1_ADDR (pid $TG1_PID), tg2 on $TG2_ADDR (pid $TG2_PID)"

# ---------------------------------------------------------------- counting

started() { grep -c "call started" "$T/$1/log" 2>/dev/null || true; }
# The front's "dispatched to <uri>" lines for one instance (failovers included).
dispatched() {
    grep -cE "dispatched to sip:${1//./\\.}( \(failover\))?\$" "$T/kamailio.log" 2>/dev/null || true
}
# Sum of the samples of one metric (name, or name{labels}) from an instance's
# /metrics, or "-" when the binary does not serve it.
metric_sum() {
    local body
    body="$(curl -fsS --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null)" || { echo -; return; }
    printf '%s\n' "$body" | awk -v m="$2" '
        index($0, m) == 1 && (length($0) == length(m) || substr($0, length(m) + 1, 1) ~ /[{ ]/) { s += $NF; n++ }
        END { if (n) print s; else if (NR) print 0; else print "-" }'
}
metric_calls() { metric_sum "$1" tonegate_calls_total; }

# ---------------------------------------------------------------- Kamailio front

cat >"$T/dispatcher.list" <<EOF
# setid destination flags priority attributes
1 $TG1_URI 0 0 duid=tg1
1 $TG2_URI 0 0 duid=tg2
EOF
mkdir -p "$T/kam"
kamailio -f "$HERE/kamailio.cfg" -DD -E -m 32 -M 8 \
    -Y "$T/kam" -P "$T/kam/kamailio.pid" -w "$T/kam" \
    -A SIP_IP=127.0.0.1 -A "SIP_PORT=$KPORT" -A CHILDREN=2 \
    -A "DS_LIST=\"$T/dispatcher.list\"" -A "DS_PING_INTERVAL=$PING_INTERVAL" \
    -A "CTL_SOCKET=\"unix:$T/kam/ctl\"" -A "FR_TIMER=$FR_TIMER_MS" \
    >"$T/kamailio.log" 2>&1 &
KAM_PID="$!"
PIDS+=("$KAM_PID")

# The dispatcher state flags of one destination ("AP": active and probed,
# "IP": inactive, "TP": trying), from kamcmd.
ds_flags() {
    kamcmd -s "unix:$T/kam/ctl" dispatcher.list 2>/dev/null |
        awk -v uri="$1" '$1 == "URI:" { cur = $2 } $1 == "FLAGS:" && cur == uri { print $2; exit }'
}

say "Kamailio on 127.0.0.1:$KPORT (pid $KAM_PID), OPTIONS every ${PING_INTERVAL}s"
# Both instances must have answered probes: they start out active, and one
# that does not answer is marked trying/inactive within an interval plus
# the transaction timeout. Done early when /metrics shows the probes.
deadline=$((SECONDS + PING_INTERVAL * 2 + FR_TIMER_MS / 1000 + 1))
while :; do
    kill -0 "$KAM_PID" 2>/dev/null || fail "Kamailio exited at start"
    if [ "$(ds_flags "$TG1_URI")" = AP ] && [ "$(ds_flags "$TG2_URI")" = AP ]; then
        o1="$(metric_sum "$HTTP1" 'tonegate_sip_requests_total{method="OPTIONS"}')"
        o2="$(metric_sum "$HTTP2" 'tonegate_sip_requests_total{method="OPTIONS"}')"
        if [ "$o1" != - ] && [ "$o2" != - ] && [ "$o1" -gt 0 ] && [ "$o2" -gt 0 ]; then break; fi
    fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
done
if [ "$(ds_flags "$TG1_URI")" != AP ] || [ "$(ds_flags "$TG2_URI")" != AP ]; then
    fail "Kamailio does not show both instances active (tg1: $(ds_flags "$TG1_URI"), tg2: $(ds_flags "$TG2_URI"))"
fi
say "dispatcher: tg1 $(ds_flags "$TG1_URI"), tg2 $(ds_flags "$TG2_URI")"

# Kamailio's UDP workers read one socket in parallel, so a 180 that tonegate relays just before
# its 200 can reach the caller after the 200 (RFC 3261 allows that reordering over UDP; a UAC
# ignores a provisional response after the final one). sipp aborts a call on a message it did
# not expect unless told otherwise; a real failure still fails the call (timeout, error code).
UAC_TOLERANT=(-default_behaviors all,-abortunexp)

run_batch() { # label
    local label="$1" rc=0
    say "batch $label: $CALLS calls at $RATE/s through the front"
    (cd "$T" && exec sipp -sn uac "127.0.0.1:$KPORT" -i 127.0.0.1 -p "$UAC_PORT" \
        -s 4930123456 -m "$CALLS" -r "$RATE" -nostdin -timeout 60s -timeout_error "${UAC_TOLERANT[@]}" \
        -trace_err -error_file "$T/uac-$label-errors.log" >"$T/uac-$label.out" 2>&1) || rc=$?
    [ "$rc" = 0 ] || fail "batch $label: sipp UAC exited $rc (0 = every call succeeded)"
}

# Calls end asynchronously in the instances: let the last BYEs land.
settle() { sleep 1; }

# ---------------------------------------------------------------- batch 1: both instances

run_batch before
settle
a1="$(started tg1)" a2="$(started tg2)"
k1="$(dispatched "$TG1_ADDR")" k2="$(dispatched "$TG2_ADDR")"
m1="$(metric_calls "$HTTP1")" m2="$(metric_calls "$HTTP2")"
say "before drain: tg1 $a1 calls, tg2 $a2 calls (front dispatched $k1/$k2; /metrics calls_total $m1/$m2)"
[ "$((a1 + a2))" = "$CALLS" ] || fail "the instances started $((a1 + a2)) calls, sipp placed $CALLS"
if [ "$a1" != "$k1" ] || [ "$a2" != "$k2" ]; then
    fail "the front dispatched $k1/$k2 calls, the instances started $a1/$a2"
fi
if [ "$a1" -eq 0 ] || [ "$a2" -eq 0 ]; then
    fail "calls did not reach both instances (tg1 $a1, tg2 $a2)"
fi
for pair in "$m1:$a1:tg1" "$m2:$a2:tg2"; do
    IFS=: read -r m a n <<<"$pair"
    [ "$m" = - ] || [ "$m" = "$a" ] || fail "$n: /metrics says $m calls, its log $a"
done

# ---------------------------------------------------------------- long calls in progress

# A few long calls through the front, still up while an instance drains: the
# draining instance stays alive for them (and answers OPTIONS 503), and their
# BYEs must still reach it through the front.
say "batch long: $LONG_CALLS calls of ${LONG_MS} ms through the front, left running"
(cd "$T" && exec sipp -sn uac "127.0.0.1:$KPORT" -i 127.0.0.1 -p "$UAC_LONG_PORT" \
    -s 4930123456 -m "$LONG_CALLS" -r 10 -d "$LONG_MS" -nostdin -timeout 90s -timeout_error "${UAC_TOLERANT[@]}" \
    -trace_err -error_file "$T/uac-long-errors.log" >"$T/uac-long.out" 2>&1) &
LONG_PID="$!"
PIDS+=("$LONG_PID")
for _ in $(seq 100); do
    [ "$(($(started tg1) + $(started tg2) - a1 - a2))" -ge "$LONG_CALLS" ] && break
    sleep 0.1
done
long1=$(($(started tg1) - a1)) long2=$(($(started tg2) - a2))
[ "$((long1 + long2))" = "$LONG_CALLS" ] || fail "only $((long1 + long2)) of the $LONG_CALLS long calls started"

# Drain an instance that has long calls (tg1 if it has any).
if [ "$long1" -gt 0 ]; then
    D=tg1 D_PID="$TG1_PID" D_ADDR="$TG1_ADDR" D_URI="$TG1_URI" D_HTTP="$HTTP1" D_LONG="$long1"
    O=tg2 O_ADDR="$TG2_ADDR" O_URI="$TG2_URI" O_HTTP="$HTTP2"
else
    D=tg2 D_PID="$TG2_PID" D_ADDR="$TG2_ADDR" D_URI="$TG2_URI" D_HTTP="$HTTP2" D_LONG="$long2"
    O=tg1 O_ADDR="$TG1_ADDR" O_URI="$TG1_URI" O_HTTP="$HTTP1"
fi
say "long calls in progress: tg1 $long1, tg2 $long2"

# ---------------------------------------------------------------- drain

d_started="$(started "$D")" o_started="$(started "$O")"
d_disp="$(dispatched "$D_ADDR")" o_disp="$(dispatched "$O_ADDR")"
say "SIGTERM to $D (pid $D_PID): drain with $D_LONG call(s) in progress"
kill -TERM "$D_PID"
marked=0
limit=$((PING_INTERVAL * 4 + FR_TIMER_MS / 1000 + 5))
for _ in $(seq $((limit * 5))); do
    case "$(ds_flags "$D_URI")" in
        I*) marked=1; break ;;
    esac
    sleep 0.2
done
[ "$marked" = 1 ] || fail "Kamailio did not mark $D inactive within ${limit}s (flags: $(ds_flags "$D_URI"))"
kill -0 "$D_PID" 2>/dev/null || fail "$D exited while $D_LONG of its calls were in progress (no drain?)"
readyz="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$D_HTTP/readyz" 2>/dev/null || true)"
[ "$readyz" = 503 ] || fail "$D /readyz answers $readyz while draining (expected 503)"
draining="$(metric_sum "$D_HTTP" tonegate_draining)"
[ "$draining" = - ] || [ "$draining" = 1 ] || fail "$D tonegate_draining is $draining while draining"
grep -q "tonegate instance down: $D_URI\$" "$T/kamailio.log" || fail "the front logged no 'instance down' for $D"
say "dispatcher: $D $(ds_flags "$D_URI"), $O $(ds_flags "$O_URI"); $D draining: /readyz 503, tonegate_draining $draining"
case "$(ds_flags "$O_URI")" in
    A*) ;;
    *) fail "$O is not active any more: $(ds_flags "$O_URI")" ;;
esac

# ---------------------------------------------------------------- batch 2: the other instance only

run_batch after
settle
kill -0 "$D_PID" 2>/dev/null || fail "$D exited before its long calls ended"
b_d=$(($(started "$D") - d_started)) b_o=$(($(started "$O") - o_started))
l_d=$(($(dispatched "$D_ADDR") - d_disp)) l_o=$(($(dispatched "$O_ADDR") - o_disp))
say "after drain: $D $b_d calls, $O $b_o calls (front dispatched $l_d/$l_o)"
[ "$b_d" = 0 ] || fail "$D started $b_d calls after it was drained"
[ "$l_d" = 0 ] || fail "the front sent $l_d calls to $D after it was drained"
[ "$b_o" = "$CALLS" ] || fail "$O started $b_o of the $CALLS calls after the drain"
[ "$l_o" = "$CALLS" ] || fail "the front dispatched $l_o of the $CALLS calls to $O"

# ---------------------------------------------------------------- the drained instance's calls end, then it exits

rc=0
wait "$LONG_PID" || rc=$?
[ "$rc" = 0 ] || fail "the long calls failed (sipp exited $rc): in-dialog requests did not reach the draining $D"
settle
for _ in $(seq 300); do
    kill -0 "$D_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$D_PID" 2>/dev/null && fail "$D still runs 30 s after its last call ended"
rc=0
wait "$D_PID" || rc=$?
[ "$rc" = 0 ] || fail "$D exited with status $rc after SIGTERM (expected 0)"
o_total="$(started "$O")"
o_metric="$(metric_calls "$O_HTTP")"
[ "$o_metric" = - ] || [ "$o_metric" = "$o_total" ] || fail "$O: /metrics says $o_metric calls, its log $o_total"
kill -0 "$KAM_PID" 2>/dev/null || fail "Kamailio died"
kill -0 "$UAS_PID" 2>/dev/null || fail "the carrier sipp died"

OK=1
say "PASS: before the drain tg1 $a1 + tg2 $a2 calls; $D drained with $D_LONG call(s) in progress," \
    "which ended normally; after the drain $D 0 + $O $b_o; $D exited 0"
