#!/bin/sh
# model/run.sh - check the protocol models with SPIN: model/ipcq.pml (the
# crash-recovery protocol), model/groups.pml (a queue with consumer
# groups; the configurations named groups-*) and model/keys.pml (per-key
# order; keys-*).
#
#   model/run.sh            the bounded set (make model-test): a few minutes
#   model/run.sh full       the bounded set and the large configurations
#                           (make model): half an hour or more, ~20 GB
#   model/run.sh NAME...    the named configurations only; the set huge
#                           (all) runs only so, as it does not complete
#   model/run.sh list       the configurations and what each checks
#
# Every search is exhaustive (-DCOLLAPSE compresses states; no bit-state
# hashing, no hash compaction).  A configuration "expects pass" (errors: 0,
# search complete) or "expects fail" (an old-rules variant: SPIN must find
# the named violation; the counterexample's trace is printed, cut to
# TRAIL_LINES lines).  The last line reads "model: N passed, N failed"; the
# exit status is 0 only when every configuration did what it should.
#
# Environment: SPIN (spin), CC (cc), MODEL_DIR (build/model, where pan is
# built), MEMLIM (MB per search, 20000), TRAIL_LINES (40).

set -u
here=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-cc}
MEMLIM=${MEMLIM:-20000}
TRAIL_LINES=${TRAIL_LINES:-40}
work=${MODEL_DIR:-$here/../build/model}

# name | set | kind | expect | defines | what it checks
# kind: safety (assertions, end states; an expected failure searched breadth
# first), deadlock (the same, depth first: for an invalid end state) or
# progress (-a -f, weak fairness)
# expect: pass, or fail:REGEX (REGEX must match pan's first error line)
configs() {
	cat <<'EOF'
producers|test|safety|pass|-DM0=2 -DM1=1 -DWITH_D=0 -DCRASHABLE=3 -DREATTACHABLE=3|2 producers (3 messages, 2 laps), fast consumer, recoverer; a producer dies at any step, a new process takes its entry over while the recoverer is mid-pass: skips, lost claims, full ring
consumers|test|safety|pass|-DM0=1 -DM1=0 -DCRASHABLE=12 -DREATTACHABLE=12|producer, fast and ack consumer, recoverer; a consumer dies at any step, a new process takes its entry over: adoption, leases, nack, side ring
recoverer|test|safety|pass|-DM0=1 -DM1=0 -DCRASHABLE=20 -DREATTACHABLE=20|as consumers, but the fast consumer or the recoverer (an adopter) dies at any step
two-crashes|test|safety|pass|-DM0=1 -DM1=0 -DCRASHES=2 -DCRASHABLE=12 -DREATTACH=0 -DMAXDEL=1|both consumers die: two dead records over one slot, re-adoption, quarantine of an adopted message (max_deliveries 1)
progress|test|progress|pass|-DLIVENESS -DM0=1 -DM1=0 -DWITH_R=0 -DCRASHABLE=5 -DREATTACHABLE=5|progress: the producer or the fast consumer dies (and may be replaced); the ack consumer keeps receiving; every published message is delivered or quarantined
progress-r|test|progress|pass|-DLIVENESS -DM0=1 -DM1=0 -DCRASHABLE=4 -DREATTACH=0|progress with the concurrent recoverer: the fast consumer dies
old1|test|safety|fail:seq\[\(pos%2\)\]==|-DOLD_RULE1 -DM0=2 -DM1=0 -DWITH_D=0 -DCRASHABLE=1 -DREATTACHABLE=1|old rule 1 (liveness decided once per pass): a skip is published over a live new process's claim, and its publish overwrites it
old2|test|safety|fail:sent\[gk\]|-DOLD_RULE2 -DM0=1 -DM1=0 -DWITH_R=0 -DCRASHABLE=12 -DREATTACH=0|old rule 2 (a lost claim keeps its record): a dead claimer's message is never delivered (end state)
old2-progress|test|progress|fail:acceptance cycle|-DOLD_RULE2 -DNO_STUCK_CHECK -DLIVENESS -DM0=1 -DM1=0 -DWITH_R=0 -DCRASHABLE=4 -DREATTACH=0|old rule 2 found by the progress property alone: the live consumer keeps receiving, the message is never delivered
old3|test|safety|fail:lmsg\[gk\]==smsg|-DOLD_RULE3 -DM0=1 -DM1=0 -DCRASHES=2 -DCRASHABLE=12 -DREATTACH=0|old rule 3 (moved on? asked of the dead record at hand): a message a lease holds is adopted again, two copies
old-all-producers|test|safety|fail:.|-DOLD_RULES -DM0=2 -DM1=0 -DWITH_D=0 -DCRASHABLE=1 -DREATTACHABLE=1|all old rules, producer crashes
old-all-consumers|test|safety|fail:.|-DOLD_RULES -DM0=1 -DM1=0 -DCRASHABLE=12 -DREATTACHABLE=12|all old rules, consumer crashes
old-all-two|test|safety|fail:.|-DOLD_RULES -DM0=1 -DM1=0 -DCRASHES=2 -DCRASHABLE=12 -DREATTACH=0|all old rules, two consumer crashes
attach-same-tag|test|safety|fail:hold\[gk\]|-DATTACH_KEEPS_GEN -DM0=1 -DM1=0 -DCRASHABLE=12 -DREATTACHABLE=12|an attacher that takes leases over under the dead holder's own tag (generation raised only at the takeover): two recoverers own one lease
sole-producer|test|safety|pass|-DSOLE_P -DM0=3 -DM1=0 -DWITH_D=0 -DCRASHABLE=1 -DREATTACHABLE=1|sole producer (IPCQ_ATTACH_SOLE: P1s, a store claim; 3 messages, 2 laps), fast consumer, recoverer; the producer dies at any step, a new process takes its entry (and the seat) over while the recoverer is mid-pass
sole-consumer|test|safety|pass|-DSOLE_C -DM0=2 -DM1=0 -DWITH_D=0 -DCRASHABLE=4 -DREATTACHABLE=4|sole fast consumer (C1s, a store claim; no other consumer claims), producer, recoverer; the consumer dies at any step, a new process takes its entry (and the seat) over
sole-both|test|safety|pass|-DSOLE_P -DSOLE_C -DM0=2 -DM1=0 -DWITH_D=0 -DCRASHABLE=21 -DREATTACHABLE=21|sole producer and sole fast consumer, recoverer; any of the three dies at any step and is replaced
sole-noseat-producers|test|safety|fail:seq\[\(pos%2\)\]==|-DSOLE_P -DM0=1 -DM1=1 -DWITH_D=0 -DCRASHES=0|old rule: store claims without the seat: both producers claim one position by store, and the second publish overwrites the first
sole-noseat-consumers|test|safety|fail:hold\[gk\]!=smsg|-DSOLE_C -DM0=1 -DM1=0 -DCRASHES=0|old rule: a store claim without the seat: C claims by store while D claims by CAS, and both take one message
sole-producer-ack|full|safety|pass|-DSOLE_P -DM0=2 -DM1=0 -DCRASHABLE=1 -DREATTACHABLE=1|as sole-producer (2 messages), with the ack consumer D as well
all-no-replace|full|safety|pass|-DM0=1 -DM1=1 -DCRASHABLE=31 -DREATTACH=0|2 producers, fast and ack consumer, recoverer; anyone dies at any step, and no process takes the dead entry over
all|huge|safety|pass|-DM0=1 -DM1=1 -DCRASHABLE=31 -DREATTACHABLE=31|as all-no-replace, and the dead entry may be taken over: run by name only (model/run.sh all), it does not complete within MEMLIM (model/README.md)
laps|full|safety|pass|-DM0=2 -DM1=0 -DCRASHABLE=28 -DREATTACHABLE=12|2 messages through both consumers and the recoverer; any consumer or the recoverer dies, consumers replaced
two-crashes-reattach|full|safety|pass|-DM0=1 -DM1=0 -DCRASHES=2 -DCRASHABLE=28 -DREATTACH=1 -DREATTACHABLE=12 -DMAXDEL=1|two crashes among consumers and recoverer, one replacement
progress-full|full|progress|pass|-DLIVENESS -DM0=1 -DM1=0 -DCRASHABLE=21 -DREATTACHABLE=21|progress: producer, fast consumer or recoverer dies and may be replaced, the ack consumer keeps receiving
expire|test|safety|pass|-DEXPIRE -DM0=1 -DM1=0 -DCRASHABLE=12 -DREATTACHABLE=12|an expired message moved to the side ring by the fast consumer under its move record (IPCQ_CF_EXPIRED_TO_SIDE), a consumer dying at any step and replaced: never both in the side ring and adopted
expire-old-clear|test|safety|fail:.|-DEXPIRE -DOLD_EXPIRE_CLEAR -DM0=1 -DM1=0 -DWITH_R=1 -DCRASHABLE=4 -DREATTACH=0|old rule: the move record cleared before the release: a consumer dying in between leaves the message both in the side ring and adopted
expire-again|test|safety|pass|-DEXPIRE -DM0=2 -DM1=0 -DWITH_D=0 -DCRASHABLE=4 -DREATTACHABLE=4|an expired message moved to the side ring, then the next message claimed in the same receive (the move record cleared after the release, before the claim), the fast consumer dying at any step and replaced: the next message is delivered, never taken for moved
expire-old-again|test|safety|fail:.|-DEXPIRE -DOLD_EXPIRE_AGAIN -DM0=2 -DM1=0 -DWITH_D=0 -DCRASHABLE=4 -DREATTACHABLE=4|old rule: the move record kept over the next claim of the same receive: a consumer dying after that claim has its message taken for moved and released by recovery, never delivered
side-race|test|safety|pass|-DEXPIRE -DM0=2 -DM1=0 -DMAXDEL=1 -DWITH_R=0 -DCRASHABLE=12 -DREATTACH=0|two movers race for the one side entry (max_deliveries 1: the ack consumer nacks one message to poison, the fast consumer moves the other, expired); either dies at any step: the move record, written after the claim, names only an entry its mover owns; nothing lost, nothing quarantined twice
side-old-record|test|safety|fail:assertion violated|-DOLD_SIDE_RECORD -DEXPIRE -DM0=2 -DM1=0 -DMAXDEL=1 -DWITH_R=0 -DCRASHABLE=12 -DREATTACH=0|old rule: the move record written before the side claim: a mover dies between the two, the other fills that entry at the same generation, and recovery takes its FULL entry for the dead's move: the dead's message is lost
side-race-r|test|safety|pass|-DEXPIRE -DM0=2 -DM1=0 -DMAXDEL=1 -DCRASHABLE=12 -DREATTACH=0|as side-race, with the concurrent recoverer R: moved_on asks only the move records of the entries that owner_alive found dead with a record covering the position, so a consumer that covers it later (a lost claim) and moves another message is never taken for the claimer, and an attacher recovering a dead mover's entry does not hide its move
side-old-moved-on|test|safety|fail:sent\[gk\]|-DOLD_MOVED_ON_LIVE -DEXPIRE -DM0=2 -DM1=0 -DMAXDEL=1 -DCRASHABLE=12 -DREATTACH=0|old rule: moved_on reads the move record of every participant whose record covers the position, alive or dead: R takes a live consumer's move of another message for the dead claimer's, and releases its message as moved on: lost
side-take|test|safety|pass|-DSIDE_TAKE=1 -DEXPIRE -DM0=2 -DM1=0 -DMAXDEL=1 -DRPASSES=0 -DCRASHABLE=12 -DREATTACH=0|R purges or replays the side entry at any moment (ipcq__side_settle() first) while the ack consumer nacks a message to poison and the fast consumer moves an expired one, either dying at any step: a dead mover's source is freed before the take, a live mover's entry is passed over; a purged or replayed message never comes again from its source
side-old-take|test|safety|fail:quar\[|-DSIDE_TAKE=1 -DOLD_SIDE_TAKE -DEXPIRE -DM0=2 -DM1=0 -DMAXDEL=1 -DRPASSES=0 -DCRASHABLE=12 -DREATTACH=0|old rule: purge or replay takes a FULL entry whose mover has not freed its source: the mover dies, its move looks unfinished (the generation moved on), and recovery delivers or quarantines the message again
groups-tail|test|safety|pass|-DWITH_B1=0 -DCRASHABLE=7|groups: producer, two consumers of one durable group (3 messages, 2 laps); the producer or a consumer dies at any step: tails over out-of-order releases, adoption in the group
groups-lossy|test|safety|pass|-DWITH_A2=0 -DWITH_B1=0 -DWITH_L=1 -DCRASHABLE=3|groups: a durable and a lossy group; the producer or the durable consumer dies: the lossy reader never takes a wrong payload, delivered + dropped + passed = positions
groups-old-tail|test|safety|fail:rel\[|-DOLD_TAIL -DCRASHES=0 -DWITH_B1=0 -DRPASSES=0|groups, old rule: a tail moved to just past one release (no scan): the producer overwrites a message the group's slower consumer has not taken
groups-old-wordcheck|test|safety|fail:posmsg|-DOLD_WORDCHECK -DCRASHES=0 -DWITH_A2=0 -DWITH_B1=0 -DWITH_L=1 -DRPASSES=0|groups, old rule: a lossy reader re-checks the slot word after its copy (right only while producers marked it before writing): it takes the next lap's payload, written before that lap's publish, for the message it read
groups-floor|test|safety|pass|-DWITH_A2=0 -DCRASHABLE=1|groups: two durable groups from the start, one consumer each; the producer dies at any step: the floor word (minimum of the tails, one load per send) and advance_floor
groups-create-newest|test|safety|pass|-DLATE_B=1 -DWITH_A2=0 -DCRASHABLE=65 -DRPASSES=0|groups: durable group 1 created during traffic, starting at the newest message (enq); the producer or the creator dies at any step (a creator dead after present = 1 leaves a memberless group that holds space)
groups-create-oldest|test|safety|pass|-DLATE_B=1 -DOLDEST=1 -DWITH_A2=0 -DCRASHABLE=65|groups: as groups-create-newest, starting at the oldest message still in the ring (the floor), with recovery passes at any moment
groups-old-nogen|test|safety|fail:floor|-DLATE_B=1 -DOLDEST=1 -DOLD_NOGEN -DWITH_A2=0 -DCRASHES=0 -DRPASSES=0|groups, old rule: no generation (the creator stores present and does not CAS the floor; advance_floor compares positions only): a producer's minimum taken before the group was present moves the floor past its start
groups-old-samegen|test|safety|fail:floor|-DLATE_B=1 -DOLDEST=1 -DOLD_SAMEGEN -DWITH_A2=0 -DCRASHES=0 -DRPASSES=0|groups, old rule: the creator's CAS checks the floor but does not raise the generation: the producer's CAS from the word it loaded before still succeeds
groups-old-noretry|test|safety|fail:rel\[|-DLATE_B=1 -DOLD_NORETRY -DWITH_A2=0 -DCRASHES=0 -DRPASSES=0|groups, old rule: the creator keeps its start when its floor CAS fails: the producer overwrites a message the new group must receive
groups-all|full|safety|pass|-DCRASHABLE=7 -DRPASSES=0|groups: two durable groups (two consumers and one), the producer or a group-0 consumer dies at any step
groups-two|full|safety|pass|-DWITH_A2=0 -DWITH_B2=1 -DCRASHABLE=9 -DRPASSES=0|groups: two durable groups (one consumer and two), the producer or a group-1 consumer dies: adoption within the other group only
groups-create-full|full|safety|pass|-DLATE_B=1 -DWITH_A2=0 -DCRASHABLE=65|groups: as groups-create-newest, with recovery passes at any moment
keys-order|test|safety|pass|-DNMSG=2 -DNLEASE=2|per-key order: 2 messages of one key, 2 ack consumers (lease pool of 2), a nack; a consumer dies at any step: each message delivered only after the one before it was acked, again only flagged, never lost
keys-wake|test|safety|pass|-DNMSG=2 -DNLEASE=2 -DCRASHES=0 -DNO_GRACE_LOOK|per-key order without crashes and without the look per grace period: the wake-ups (K2, K3, K4) alone move every parked message
keys-old-nog1|test|safety|fail:acked|-DOLD_NO_G1 -DNMSG=2 -DNLEASE=2 -DCRASHES=0 -DNACKS=0|per-key order, old rule: the gate looks at the lease pool only (no G1): a message of the key claimed from the ring but not yet in a lease is passed
keys-old-g2owned|test|safety|fail:acked|-DOLD_G2_OWNED -DNMSG=2 -DNLEASE=2 -DCRASHES=0|per-key order, old rule: the pool look counts OWNED entries only: a message given back (nacked) is passed
keys-old-nok3|test|deadlock|fail:invalid end state|-DOLD_NO_K3 -DNO_GRACE_LOOK -DNMSG=2 -DNLEASE=2 -DCRASHES=0 -DNACKS=0|per-key order, old rule: no re-check after parking (K3): a gate opened by an acker that saw nothing parked stays unseen, and both consumers wait for ever
keys-old-nolook|test|deadlock|fail:invalid end state|-DNO_GRACE_LOOK -DNMSG=2 -DNLEASE=2|old rule: the pool is looked at only when the hints say so: a consumer killed between its nack (L4) and its count (L7) leaves the entry uncounted, and everyone waits for ever
keys-old-latekh|test|safety|fail:acked|-DOLD_LATE_KH1 -DNMSG=2 -DNLEASE=2 -DCRASHES=0 -DNACKS=0|per-key order, old rule: an entry counted in key_held after its release (R2), not before its L1: the pool look is skipped while a message of the key is in it uncounted
keys-old-stalepark|test|safety|fail:lredel|-DOLD_STALE_PARK -DNMSG=2 -DNLEASE=2 -DCRASHES=0|per-key order, old rule: an entry given back unparked is parked on the verdict of the look, not asked again once held: a message delivered and nacked meanwhile loses its redelivered mark
keys-full|full|safety|pass|-DNLEASE=2 -DCRASHES=0|per-key order: 3 messages of one key over two laps, lease pool of 2, a nack, no crash
EOF
}

command -v "$SPIN" >/dev/null 2>&1 || { echo "model: $SPIN not found (Debian package spin; make deps)"; echo "model: 0 passed, 1 failed"; exit 1; }

sel=test
case "${1:-}" in
list)
	configs | awk -F'|' '{ printf "%-22s %-5s %-8s %-6s %s\n    %s\n", $1, $2, $3, ($4 == "pass" ? "pass" : "FAIL"), $5, $6 }'
	exit 0 ;;
full) sel=full; shift ;;
test|"") sel=test; [ $# -gt 0 ] && shift ;;
*) sel=names ;;
esac

mkdir -p "$work" || exit 1
cp "$here/ipcq.pml" "$here/groups.pml" "$here/keys.pml" "$work/" || exit 1
cd "$work" || exit 1

pass=0 fail=0 failed=""
echo "model: SPIN $($SPIN -V 2>/dev/null | sed 's/Spin Version //; s/ --.*//'), exhaustive searches (COLLAPSE; no bit-state hashing)"

run_one() {
	name=$1 kind=$2 expect=$3 defs=$4 what=$5
	case $name in groups*) pml=groups.pml ;; keys*) pml=keys.pml ;; *) pml=ipcq.pml ;; esac
	rm -f ipcq.pml.trail groups.pml.trail keys.pml.trail pan pan.* _spin_nvr.tmp
	flags="-O2 -w -DCOLLAPSE -DMEMLIM=$MEMLIM -DVECTORSZ=2048"
	panargs="-m200000"
	case $kind in
	safety)
		flags="$flags -DSAFETY"
		# old-rules runs: breadth first, for the shortest counterexample
		case $expect in fail:*) flags="-O2 -w -DSAFETY -DBFS -DMEMLIM=$MEMLIM -DVECTORSZ=2048" ;; esac ;;
	deadlock)
		# depth first: pan's breadth-first search reports no invalid
		# end state
		flags="$flags -DSAFETY" ;;
	progress)
		flags="$flags -DNFAIR=3"; panargs="$panargs -a -f" ;;
	esac
	start=$(date +%s)
	if ! $SPIN -a $defs $pml > spin.log 2>&1; then
		echo "FAIL $name: spin -a failed"; sed 's/^/    | /' spin.log | head -20; return 1
	fi
	if ! $CC $flags -o pan pan.c > cc.log 2>&1; then
		echo "FAIL $name: cc pan.c failed"; sed 's/^/    | /' cc.log | head -20; return 1
	fi
	./pan $panargs > pan.log 2>&1
	secs=$(( $(date +%s) - start ))
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log | tail -n 1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.log | tail -n 1)
	depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.log | tail -n 1)
	first=$(grep -m1 -E '^pan:1: |^pan: (out of memory|resizing)' pan.log | grep -v resizing)
	incomplete=$(grep -E 'Search not completed|max search depth too small|out of memory|reached -DMEMLIM' pan.log | head -n 1)
	stats="$kind, ${states:-?} states, depth ${depth:-?}, ${secs}s"
	case $expect in
	pass)
		if [ "${errors:-x}" = 0 ] && [ -z "$incomplete" ]; then
			echo "PASS $name: errors 0 ($stats)"
			return 0
		fi
		echo "FAIL $name: expected no error, got errors ${errors:-?} ($stats) ${incomplete:+- $incomplete}"
		[ -n "$first" ] && echo "    $first"
		[ -z "$errors" ] && tail -n 5 pan.log | sed 's/^/    | /'
		show_trail "$defs"
		return 1 ;;
	fail:*)
		re=${expect#fail:}
		if [ "${errors:-0}" != 0 ] && printf '%s\n' "$first" | grep -qE "$re"; then
			echo "PASS $name: fails as it must ($stats)"
			echo "    $first"
			show_trail "$defs"
			return 0
		fi
		echo "FAIL $name: an old-rules variant must fail with /$re/, got errors ${errors:-?} ($stats)"
		[ -n "$first" ] && echo "    $first"
		return 1 ;;
	esac
}

# The counterexample, as the model's trace lines (@entry event).
show_trail() {
	[ -f $pml.trail ] || return 0
	$SPIN -t $1 $pml 2>&1 | grep -E '@[0-9]|START OF CYCLE|assertion violated' |
		sed -e 's/^ *//' -e "s/^spin: $pml:[0-9]*, Error: /    >> /" > trail.txt
	n=$(wc -l < trail.txt)
	case $pml in
	groups.pml) echo "    counterexample (entries: 0 P, 1 A1, 2 A2 group 0, 3 B1, 4 B2 group 1, 5 L lossy, 6 creator of group 1):" ;;
	keys.pml) echo "    counterexample (entries: 0 and 1 ack consumers, 2 recoverer):" ;;
	*) echo "    counterexample (entries: 0 P0, 1 P1, 2 C fast, 3 D ack, 4 R recoverer):" ;;
	esac
	head -n "$TRAIL_LINES" trail.txt | sed 's/^/      /'
	[ "$n" -gt "$TRAIL_LINES" ] && echo "      ... ($n lines; model/run.sh keeps the trail in $work)"
	cp $pml.trail "trail.$name" 2>/dev/null
	return 0
}

configs > configs.txt
while IFS='|' read -r name set kind expect defs what; do
	case $sel in
	test) [ "$set" = test ] || continue ;;
	full) [ "$set" = huge ] && continue ;;
	names)
		hit=0
		for n in "$@"; do [ "$n" = "$name" ] && hit=1; done
		[ $hit = 1 ] || continue ;;
	esac
	echo "---- $name: $what"
	if run_one "$name" "$kind" "$expect" "$defs" "$what" < /dev/null; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); failed="$failed $name"
	fi
done < configs.txt
[ -n "$failed" ] && echo "model: failed:$failed"
echo "model: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
