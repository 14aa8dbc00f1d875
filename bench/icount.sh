#!/bin/sh
# bench/icount.sh PROGRAM - instructions per message of ipcq's hot path,
# counted by callgrind (valgrind): for each mode, a run with no message is
# subtracted from a run with N, and the rest divided by the messages.
# Prints the totals, then where a single send + receive goes, by function
# and source file (make icount).
set -eu
prog=${1:?usage: bench/icount.sh build/release/bench/icount}
command -v valgrind >/dev/null || { echo "icount: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
total() { # MODE ITERS OUT
	valgrind --tool=callgrind --callgrind-out-file="$3" "$prog" "$1" "$2" 2>&1 |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "instructions per message, 64 B, send + receive in one process (callgrind):"
for mode in single ack zerocopy batch group1 group4 keyed ack-keyed prio ack-prio late sole; do
	n=20000
	per=1
	[ "$mode" = batch ] && { n=1000; per=32; }
	t0=$(total "$mode" 0 "$tmp/zero")
	t1=$(total "$mode" "$n" "$tmp/$mode")
	echo "  $mode: $(( (t1 - t0) / (n * per) ))"
done
echo
echo "where a single send + receive goes (instructions per message, by function and file):"
callgrind_annotate --auto=no --threshold=99 "$tmp/single" 2>/dev/null |
	awk -v n=20000 '/^ *[0-9,]+ +\(/ && $0 !~ /PROGRAM TOTALS/ {
		v = $1; gsub(",", "", v); if (v / n < 1) next
		line = $0; sub(/^ *[0-9,]+ +\([ 0-9.%]+\) +/, "", line)
		sub(/ \[.*\]$/, "", line); sub(/.*\/(lib|sysdeps|time|string)\//, "", line)
		printf "  %6.1f  %s\n", v / n, line }'
