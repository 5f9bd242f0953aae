#!/usr/bin/env bash
# observe-paired.sh [ROUNDS] [SECONDS]: what metrics, logs and per-client
# authorization cost the signer. One build of this checkout serves, in
# turn, with them (serve -metrics 127.0.0.1:0 -log-format json, and a
# DIR/policy.json that lets the deployment's client use every key) and
# without them (no -metrics, no policy.json; the default log); each time
# asyncspeed -remote signs ECDSA P-256 through it for SECONDS a row
# (default 2) at 256 jobs in flight (-mode callback: rows sync, callback,
# goroutines and unary, the same in both halves), and the signer's CPU
# time (utime + stime from /proc) is divided by the signatures made (the
# rows' ops). The machine's speed drifts, so the halves alternate ROUNDS
# times (default 5), each first in every other round, and the figure is
# the median of each round's ratio, with : without. A build whose signer knows no policy file ignores it:
# that half then measures metrics and logs alone. Linux only (/proc).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5} secs=${2:-2}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
(cd "$repo" && go build -o "$work/" ./cmd/asyncsignd ./cmd/asyncspeed)
"$work/asyncsignd" init "$work/deploy" >/dev/null
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
: >"$work/on" ; : >"$work/off" ; : >"$work/ratio"
echo "signer CPU per ECDSA P-256 signature, asyncspeed -remote -async_jobs 256 -seconds $secs; $(nproc) cores; $(uptime)"
for r in $(seq "$rounds"); do
	order="on off"
	[ $((r % 2)) = 0 ] && order="off on" # neither half always first
	for half in $order; do
		flags=()
		rm -f "$work/deploy/policy.json"
		if [ "$half" = on ]; then
			flags=(-metrics 127.0.0.1:0 -log-format json)
			echo '{"asyncsignd client": ["*"]}' >"$work/deploy/policy.json"
		fi
		"$work/asyncsignd" serve -dir "$work/deploy" -listen 127.0.0.1:0 "${flags[@]}" >"$work/serve.out" 2>"$work/serve.log" &
		pid=$!
		for _ in $(seq 100); do grep -q '^listening on' "$work/serve.out" && break; sleep 0.1; done
		addr=$(sed -n 's/^listening on //p' "$work/serve.out")
		c0=$(cpu "$pid")
		ops=$("$work/asyncspeed" -remote "$addr" -remote-dir "$work/deploy" -seconds "$secs" -mode callback -async_jobs 256 -json ecdsap256 |
			grep -o '"ops":[0-9]*' | awk -F: '{n += $2} END {print n}')
		c1=$(cpu "$pid")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		pid=
		us=$(awk -v t=$((c1 - c0)) -v k="$tck" -v n="$ops" 'BEGIN {printf "%.2f", t / k * 1e6 / n}')
		echo "$us" >>"$work/$half"
		echo "round $r, $half: $ops signatures, signer CPU $(awk -v t=$((c1 - c0)) -v k="$tck" 'BEGIN {print t / k}') s, $us µs a signature"
	done
	paste <(tail -1 "$work/on") <(tail -1 "$work/off") | awk '{print $1 / $2}' >>"$work/ratio"
done
echo "median µs a signature: with $(median <"$work/on"), without $(median <"$work/off")"
echo "median of the rounds' ratios, with : without: $(median <"$work/ratio") (overhead $(median <"$work/ratio" | awk '{printf "%+.1f%%", ($1 - 1) * 100}'))"
