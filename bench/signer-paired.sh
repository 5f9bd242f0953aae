#!/usr/bin/env bash
# signer-paired.sh OLD NEW [ROUNDS]: the signer's fast path, two builds
# side by side. OLD and NEW are checkouts of this module (git worktree add
# /tmp/old REV makes one). Each round runs, for OLD then NEW: the signer's
# CPU per ECDSA P-256 signature (BenchmarkServeECDSA), then asyncspeed
# against a signer process on loopback, with no delay at 256 jobs in
# flight and with -delay 5ms at 64, for ed25519 and ecdsap256. The
# machine's speed drifts from minute to minute, so the builds take turns;
# compare medians. Output goes to standard output; Linux only (/proc).
set -euo pipefail
old=$(cd "$1" && pwd) new=$(cd "$2" && pwd) rounds=${3:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in old new; do
	dir=${!t}
	mkdir -p "$work/$t"
	(cd "$dir" && go build -o "$work/$t/" ./cmd/asyncsignd ./cmd/asyncspeed)
	"$work/$t/asyncsignd" init "$work/$t/deploy" >/dev/null
done
for r in $(seq "$rounds"); do
	for t in old new; do
		dir=${!t} bin=$work/$t
		echo "== round $r $t ($dir)"
		(cd "$dir" && go test -run XXX -bench 'ServeECDSA$' -benchtime 20000x ./cmd/asyncsignd | grep '^Benchmark')
		for delay in 0 5ms; do
			jobs=256
			[ "$delay" = 5ms ] && jobs=64
			"$bin/asyncsignd" serve -dir "$bin/deploy" -listen 127.0.0.1:0 -delay "$delay" >"$work/serve.out" 2>&1 &
			pid=$!
			for _ in $(seq 50); do grep -q listening "$work/serve.out" && break; sleep 0.1; done
			addr=$(grep -o '127.0.0.1:[0-9]*' "$work/serve.out" | head -1)
			echo "-- delay $delay, $jobs jobs"
			"$bin/asyncspeed" -remote "$addr" -remote-dir "$bin/deploy" -seconds 1 -async_jobs "$jobs" ed25519 ecdsap256 | tail -2
			kill "$pid"
			wait "$pid" 2>/dev/null || true
		done
	done
done
