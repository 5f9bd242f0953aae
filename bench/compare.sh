#!/usr/bin/env bash
# compare.sh: run this module's job API (bench/gojobs) and OpenSSL's own
# ASYNC_* implementation (bench/c/async_bench.c) side by side on this machine
# and print a table of the four metrics against the project's targets.
#
# Usage: bash bench/compare.sh [-n JOBS] [--quick] [--strict]
#   -n JOBS   paused jobs to create for create_paused/rss (default 1000000;
#             with --quick, 100000)
#   --quick   short run: 200k iterations, one run of each metric
#   --strict  exit with status 1 when a target is missed
# create_paused's target is set at 1M jobs: with fewer (as in --quick) the
# row is shown but not judged, since the Go/C ratio depends on the count
# (see bench/README.md). Installs libssl-dev (and gcc) with apt-get when
# missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

jobs=""
quick=0
strict=0
usage() { sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
while (($#)); do
    case $1 in
    -n) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; jobs=$2; shift 2 ;;
    -n=* | --jobs=*) jobs=${1#*=}; shift ;;
    --quick) quick=1; shift ;;
    --strict) strict=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
if ((quick)); then
    iters=200000 runs=1 create_runs=1
    jobs=${jobs:-100000}
else
    iters=5000000 runs=5 create_runs=3
    jobs=${jobs:-1000000}
fi
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: -n wants a positive integer, got '$jobs'" >&2; exit 2; }

log() { echo "compare.sh: $*" >&2; }

# ---- prerequisites --------------------------------------------------------
missing=()
if [[ ! -f /usr/include/openssl/async.h ]]; then
    log "/usr/include/openssl/async.h is absent: need libssl-dev"
    missing+=(libssl-dev)
fi
if ! command -v gcc >/dev/null 2>&1; then
    log "gcc is absent: need gcc"
    missing+=(gcc)
fi
if ((${#missing[@]})); then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    log "running: ${sudo[*]} apt-get update"
    "${sudo[@]}" apt-get update
    log "running: ${sudo[*]} apt-get install -y ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
fi
command -v go >/dev/null 2>&1 || { log "the go command is not in PATH"; exit 1; }

# ---- build ----------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/async-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building C:  gcc -O2 -o async_bench bench/c/async_bench.c -lcrypto"
gcc -O2 -Wall -o "$tmp/async_bench" "$here/c/async_bench.c" -lcrypto
log "building Go: go build ./bench/gojobs"
(cd "$root" && go build -o "$tmp/gojobs" ./bench/gojobs)

cbin=$tmp/async_bench
gobin=$tmp/gojobs
ossl=$("$cbin" -V | awk '{print $1, $2}')

# ---- run ------------------------------------------------------------------
# value BIN METRIC ARGS...: run BIN once, print the value of METRIC.
value() {
    local bin=$1 metric=$2 out v
    shift 2
    out=$("$bin" "$@" 2>>"$tmp/stderr.$(basename "$bin")")
    v=$(awk -v m="$metric" '$1 == m { print $2 }' <<<"$out")
    [[ -n $v ]] || { log "$(basename "$bin") printed no $metric:"; echo "$out" >&2; exit 1; }
    echo "$v"
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? a : b }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? a : b }'; }

declare -A C G
# This machine's speed drifts by tens of percent from minute to minute, so
# C and Go take turns, a fresh process each, and each side keeps its best.
for m in pause_resume start_finish; do
    log "$m: $iters iterations, best of $runs alternating C and Go runs"
    for ((i = 0; i < runs; i++)); do
        c=$(value "$cbin" "${m}_ns" -m "$m" -N "$iters" -r 1)
        g=$(value "$gobin" "${m}_ns" -m "$m" -N "$iters" -r 1)
        log "  run $((i + 1)): C $c ns, Go $g ns"
        if ((i == 0)); then
            C[$m]=$c G[$m]=$g
        else
            C[$m]=$(min "${C[$m]}" "$c") G[$m]=$(min "${G[$m]}" "$g")
        fi
    done
done
log "create_paused: $jobs paused jobs, $create_runs fresh process(es) per side, alternating"
for ((i = 0; i < create_runs; i++)); do
    for side in C G; do
        if [[ $side == C ]]; then bin=$cbin; else bin=$gobin; fi
        out=$("$bin" -m create_paused -n "$jobs" 2>>"$tmp/stderr.$(basename "$bin")")
        t=$(awk '$1 == "create_paused_ns" { print $2 }' <<<"$out")
        r=$(awk '$1 == "rss_per_paused_bytes" { print $2 }' <<<"$out")
        [[ -n $t && -n $r ]] || { log "$(basename "$bin") printed no create_paused metrics:"; echo "$out" >&2; exit 1; }
        log "  run $((i + 1)) $side: create_paused_ns $t, rss_per_paused_bytes $r"
        declare -n arr=$side
        if ((i == 0)); then
            arr[create_paused]=$t arr[rss]=$r
        else
            arr[create_paused]=$(min "${arr[create_paused]}" "$t")
            arr[rss]=$(max "${arr[rss]}" "$r")
        fi
        unset -n arr
    done
done

# ---- table ----------------------------------------------------------------
# create_paused's target is set at 1M paused jobs. C's cost per job stays
# near 6-7 us at any count; Go's falls as the count grows and swings with
# the garbage collector's share of the machine, so at --quick's 100k jobs
# Go makes jobs about as fast as C and a 0.6x target would fail every run
# (bench/README.md has the figures). Below 1M the row is shown, not judged.
create_scale=1000000
fails=0 judged=0
row() { # name c go unit target-ratio|"" abs-limit|"" [unjudged-note]
    local name=$1 c=$2 g=$3 unit=$4 tr=$5 lim=$6 note=${7:-} ratio target ok
    ratio=$(awk -v c="$c" -v g="$g" 'BEGIN { if (c + 0 == 0) print "n/a"; else printf "%.2fx", g / c }')
    if [[ -n $note ]]; then
        target="<= ${tr}x at 1M"
        ok=$note
    elif [[ -n $tr ]]; then
        target="<= ${tr}x"
        ok=$(awk -v c="$c" -v g="$g" -v t="$tr" 'BEGIN { print (c > 0 && g / c <= t) ? "PASS" : "FAIL" }')
    else
        target="<= $(awk -v l="$lim" 'BEGIN { printf "%.1f KB", l / 1000 }') abs"
        ok=$(awk -v g="$g" -v l="$lim" 'BEGIN { print (g <= l) ? "PASS" : "FAIL" }')
    fi
    [[ -n $note ]] || judged=$((judged + 1))
    [[ -n $note || $ok == PASS ]] || fails=$((fails + 1))
    printf "%-22s | %20s | %12s | %7s | %-14s | %s\n" "$name" "$c $unit" "$g $unit" "$ratio" "$target" "$ok"
}

echo
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); $(go version | awk '{print $3}'); $(gcc --version | head -1)"
if ((quick)); then mode="--quick"; else mode="full"; fi
echo "mode: $mode; pause_resume/start_finish: $iters iterations, best of $runs; create_paused: $jobs jobs, best of $create_runs (rss: worst of $create_runs)"
echo
printf "%-22s | %20s | %12s | %7s | %-14s | %s\n" metric "C ($ossl)" "Go" "Go/C" target result
printf "%s\n" "-----------------------+----------------------+--------------+---------+----------------+-------"
row pause_resume_ns "${C[pause_resume]}" "${G[pause_resume]}" ns 0.9 ""
row start_finish_ns "${C[start_finish]}" "${G[start_finish]}" ns 0.9 ""
if ((jobs >= create_scale)); then
    row create_paused_ns "${C[create_paused]}" "${G[create_paused]}" ns 0.6 ""
else
    row create_paused_ns "${C[create_paused]}" "${G[create_paused]}" ns 0.6 "" "not judged"
fi
row rss_per_paused_bytes "${C[rss]}" "${G[rss]}" B "" 3200
echo
if [[ -f $tmp/stderr.gojobs ]] && grep -q '^#' "$tmp/stderr.gojobs"; then
    echo "Go runtime detail (create_paused runs):"
    grep '^#' "$tmp/stderr.gojobs" | sed 's/^# */  /'
    echo
fi
if ((jobs < create_scale)); then
    echo "create_paused is not judged at $jobs jobs: its target is set at $create_scale, and the"
    echo "Go/C ratio depends on the count (see bench/README.md); run without --quick to judge it."
fi
echo "$((judged - fails)) of $judged targets met."
if ((strict && fails)); then exit 1; fi
