#!/bin/sh
# bench/interleave.sh [-n ROUNDS] [-m MS] [-c CLOSE_NS] DIR [DIR...]
#
# Round trips of one or more builds, interleaved, for a machine whose
# regime and noise move between runs.  Each DIR holds a built
# transports (make B=DIR DIR/bench/transports gives DIR/bench/transports;
# DIR may name either DIR or DIR/bench).  Each of ROUNDS rounds (default 5)
# runs every DIR once, the first DIR first in odd rounds and the last
# first in even ones:
#   transports --only ipcq,ring,rte_ring,floor --tests latency --latency-ms MS
# (MS default 400).  A run's regime is close when the cache-line floor's
# p50 is under CLOSE_NS (default 150) both before and after its latency
# cases, far when it is at or over it both times, and mixed otherwise
# (left out).  Prints, per DIR and regime, the medians over its runs of
# the busy-poll p50 of ipcq, the SPSC ring and rte_ring (MP/MC, HTS) at
# 16 and 64 bytes, and the medians of the per-run ratios that the goals
# of README.md (Performance) name: ipcq over the ring, over rte_ring
# MP/MC and HTS (p50), and ipcq's p99.9 over the ring's.
# Example (a commit before and the tree now):
#   git worktree add /tmp/before COMMIT
#   make -C /tmp/before B=build/ab build/ab/bench/transports
#   make B=build/ab build/ab/bench/transports
#   bench/interleave.sh /tmp/before/build/ab build/ab
set -eu
rounds=5 ms=400 close=150
while getopts n:m:c: o; do
	case $o in
	n) rounds=$OPTARG ;;
	m) ms=$OPTARG ;;
	c) close=$OPTARG ;;
	*) sed -n '2,3p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,3p' "$0" >&2; exit 2; }
progs=
for d in "$@"; do
	p=$d/bench/transports
	[ -x "$p" ] || p=$d/transports
	[ -x "$p" ] || { echo "interleave: no transports in $d (make B=$d $d/bench/transports)" >&2; exit 1; }
	progs="$progs $p"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/rows
: > "$out"
r=1
while [ "$r" -le "$rounds" ]; do
	order=$progs
	if [ $((r % 2)) -eq 0 ]; then
		order=
		for p in $progs; do order="$p $order"; done
	fi
	for p in $order; do
		# the index of p among the builds: the key of its rows
		i=0
		for q in $progs; do
			i=$((i + 1))
			[ "$q" = "$p" ] && break
		done
		csv=$tmp/run.csv
		"$p" --only ipcq,ring,rte_ring,floor --tests latency --latency-ms "$ms" \
			--csv "$csv" > "$tmp/run.txt" 2>&1 || {
			echo "interleave: $p failed in round $r:" >&2
			tail -5 "$tmp/run.txt" >&2
			exit 1
		}
		# build, round, then the CSV's latency rows
		awk -F, -v b="$i" -v r="$r" \
			'$1 == "latency" { print b "," r "," $0 }' "$csv" >> "$out"
	done
	echo "round $r of $rounds done" >&2
	r=$((r + 1))
done
awk -F, -v closens="$close" -v builds="$*" '
function med(key,   n, i, j, t, a) {
	n = cnt[key]
	if (!n) return 0
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { cnt[key]++; val[key, cnt[key]] = v }
# fields: 1 build, 2 round, 3 test, 4 transport, 5 mode, 6 strategy,
# 10 msg_size, 15 p50, 16 p99, 17 p999, 20 note
{
	run = $1 SUBSEP $2
	runs[run] = 1
	if ($4 == "floor" && $5 == "cacheline") {
		if ($20 ~ /again/) after[run] = $15; else before[run] = $15
		next
	}
	if ($6 != "busy_poll" || $19 != "ok") next
	name = $4 == "rte_ring" ? ($5 == "hts" ? "hts" : "rte") : $4
	p50[run, name, $10] = $15
	p999[run, name, $10] = $17
}
END {
	for (run in runs) {
		split(run, k, SUBSEP)
		b = before[run]; a = after[run]
		reg = "mixed"
		if (b != "" && a != "" && b + 0 < closens && a + 0 < closens) reg = "close"
		if (b != "" && a != "" && b + 0 >= closens && a + 0 >= closens) reg = "far"
		nreg[k[1], reg]++
		if (reg == "mixed") continue
		add(k[1] SUBSEP reg SUBSEP "floor", b)
		for (z = 16; z <= 64; z += 48) {
			g = k[1] SUBSEP reg SUBSEP z
			split("ipcq ring rte hts", names, " ")
			for (i = 1; i <= 4; i++)
				if ((run, names[i], z) in p50) add(g SUBSEP names[i], p50[run, names[i], z])
			q = p50[run, "ipcq", z]
			if (q && p50[run, "ring", z]) add(g SUBSEP "x_ring", q / p50[run, "ring", z])
			if (q && p50[run, "rte", z]) add(g SUBSEP "x_rte", q / p50[run, "rte", z])
			if (q && p50[run, "hts", z]) add(g SUBSEP "x_hts", q / p50[run, "hts", z])
			if (p999[run, "ipcq", z] && p999[run, "ring", z])
				add(g SUBSEP "x999", p999[run, "ipcq", z] / p999[run, "ring", z])
		}
	}
	nb = split(builds, bl, " ")
	for (bk = 1; bk <= nb; bk++) {
		printf "%s: %d far, %d close, %d mixed (left out)\n", bl[bk],
		       nreg[bk, "far"], nreg[bk, "close"], nreg[bk, "mixed"]
		split("far close", regs, " ")
		for (x = 1; x <= 2; x++) {
			reg = regs[x]
			if (!nreg[bk, reg]) continue
			printf "  %-5s floor p50 %d ns\n", reg, med(bk SUBSEP reg SUBSEP "floor")
			for (z = 16; z <= 64; z += 48) {
				g = bk SUBSEP reg SUBSEP z
				printf "  %-5s %2d B p50 ns: ipcq %d, ring %d, rte_ring %d, HTS %d;", reg, z,
				       med(g SUBSEP "ipcq"), med(g SUBSEP "ring"), med(g SUBSEP "rte"),
				       med(g SUBSEP "hts")
				printf " ipcq over ring %.2fx, rte_ring %.2fx, HTS %.2fx; p99.9 over ring %.2fx\n",
				       med(g SUBSEP "x_ring"), med(g SUBSEP "x_rte"), med(g SUBSEP "x_hts"),
				       med(g SUBSEP "x999")
			}
		}
	}
}' "$out"
