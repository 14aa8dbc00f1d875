#!/bin/sh
# Run the benchmark: ipcq next to its peers, CSV and plots.
#   bench/run.sh DIR [ARGS...]
# DIR holds the built programs (make bench: build/release/bench, or
# $B/bench with make B=...).  Runs DIR/transports, which measures ipcq and
# every peer it was built with (pipe, socketpair, POSIX mq, Boost
# message_queue, DPDK rte_ring, ck_ring, the hand-written SPSC ring),
# verifies every message and prints the ratios of the performance goals
# (README.md, section Performance).  ARGS, or else $BENCH_ARGS, go to it:
#   BENCH_ARGS=--quick make bench          about a minute
#   bench/run.sh build/release/bench --only ipcq,rte_ring --size 64
#   bench/run.sh build/release/bench --help
# Writes, in $BENCH_RESULTS (default bench/results):
#   bench.csv                 one row per case; columns 1-18 as before
#                             (status is column 17), then the regime and,
#                             for latency rows, each percentile as a
#                             multiple of the cache-line floor and of the
#                             SPSC ring (columns 19-25)
#   bench.txt                 the table and the ratios as printed, then
#                             the cost table (transports --tests cost)
#   throughput_64.png, throughput_1024.png, throughput_16384.png,
#   latency.png               when gnuplot is installed (else a note)
# Exit status: that of the programs (1 when a case failed its checks or
# hung); a missed performance goal is printed as MISSED and is not a failure.
dir=${1:?usage: bench/run.sh DIR [ARGS...]}
shift
[ $# -eq 0 ] && [ -n "$BENCH_ARGS" ] && set -- $BENCH_ARGS
results=${BENCH_RESULTS:-bench/results}
mkdir -p "$results" || exit 1
prog="$dir/transports"
[ -x "$prog" ] || { echo "bench/run.sh: $prog not built (make bench)" >&2; exit 1; }

csv="$results/bench.csv"
txt="$results/bench.txt"
status_file="$results/.status.$$"
start=$(date +%s)
# Keep the program's exit status through the pipe into tee.
{ "$prog" "$@" --csv "$csv"; echo $? > "$status_file"; } 2>&1 | tee "$txt"
rc=$(cat "$status_file" 2>/dev/null || echo 1)
rm -f "$status_file"

# Then the cost of each transport's calls alone, in one process (--tests
# cost: a table of its own, into bench.txt too), unless ARGS chose tests.
case " $* " in
*" --tests"*) ;;
*)
	{ "$prog" "$@" --tests cost; echo $? > "$status_file"; } 2>&1 | tee -a "$txt"
	rc_cost=$(cat "$status_file" 2>/dev/null || echo 1)
	rm -f "$status_file"
	[ "$rc" = 0 ] && rc=$rc_cost ;;
esac


# ---- plots ----------------------------------------------------------------
plots=""
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "bench/run.sh: gnuplot not installed: no plots (apt-get install gnuplot-nox)"
elif [ -s "$csv" ]; then
	if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
		term="pngcairo size 1600,720 font 'sans,9'"
	else
		term="png size 1600,720"
	fi
	tmp=$(mktemp -d) || exit 1
	# Throughput, one plot per size: a cluster of bars (P/C 1/1, 2/2, 4/4)
	# per transport variant, Mmsg/s on a log scale.  Capped cases count
	# (their achieved rate); failed, n/a and skipped ones are gaps.
	for size in 64 1024 16384; do
		dat="$tmp/tp_$size.dat"
		awk -F, -v size="$size" '
			NR > 1 && $1 == "throughput" && $8 == size && ($17 == "ok" || $17 == "capped") {
				key = $2 " " $3 " " $4 " b" $5
				if (!(key in seen)) { seen[key] = 1; order[++n] = key }
				v[key, $6] = $11 / 1e6
			}
			NR > 1 && $1 == "throughput" && $8 == size && $17 != "ok" && $17 != "capped" {
				key = $2 " " $3 " " $4 " b" $5
				if (!(key in seen)) { seen[key] = 1; order[++n] = key }
			}
			END {
				for (i = 1; i <= n; i++) {
					k = order[i]
					printf "\"%s\"", k
					for (p = 1; p <= 4; p *= 2)
						printf " %s", ((k, p) in v) ? v[k, p] : "-"
					printf "\n"
				}
			}' "$csv" > "$dat"
		[ -s "$dat" ] || continue
		png="$results/throughput_$size.png"
		gnuplot <<EOF 2>"$tmp/err" || { echo "bench/run.sh: gnuplot failed for $png:"; cat "$tmp/err"; }
set terminal $term
set output '$png'
set title "Throughput, $size-byte messages (Mmsg/s, log scale; every message verified)"
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [0.001:*]
set grid ytics
set key top right
set xtics rotate by -50 left noenhanced
set ylabel 'Mmsg/s'
set bmargin 12
set rmargin 14
plot '$dat' using 2:xtic(1) title 'P/C 1/1', '' using 3 title 'P/C 2/2', '' using 4 title 'P/C 4/4'
EOF
		[ -s "$png" ] && plots="$plots $png"
	done
	# Latency: p50, p99, p99.9 of the round trip per transport and size
	# (µs, log), the floor's rows first (the cache line again at the end).
	dat="$tmp/lat.dat"
	awk -F, 'NR > 1 && $1 == "latency" && ($17 == "ok" || $17 == "capped") {
			printf "\"%s %s %s %s B%s\" %s %s %s\n", $2, $3, $4, $8,
				($2 == "floor" && $18 != "") ? " (after)" : "",
				$13 / 1000, $14 / 1000, $15 / 1000
		}' "$csv" > "$dat"
	if [ -s "$dat" ]; then
		png="$results/latency.png"
		gnuplot <<EOF 2>"$tmp/err" || { echo "bench/run.sh: gnuplot failed for $png:"; cat "$tmp/err"; }
set terminal $term
set output '$png'
set title "Round trip, 16- and 64-byte messages, one in flight; floor: the machine's (µs, log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set key top left
set xtics rotate by -40 left noenhanced
set ylabel 'µs'
set bmargin 11
set rmargin 14
plot '$dat' using 2:xtic(1) title 'p50', '' using 3 title 'p99', '' using 4 title 'p99.9'
EOF
		[ -s "$png" ] && plots="$plots $png"
	fi
	rm -rf "$tmp"
fi

echo
echo "bench/run.sh: $(( $(date +%s) - start )) s"
echo "CSV:   $csv"
echo "table: $txt"
for p in $plots; do echo "plot:  $p"; done
exit "$rc"
