#!/usr/bin/env bash
# Run every example as a user would and check what it prints.
#   examples/run.sh DIR        (DIR: where `make examples` put the programs)
# Jobs with several processes run as several processes.  Each program runs
# under `timeout $EXAMPLE_TIMEOUT` (default 20 s); nothing sleeps to let
# things settle: the script waits for processes to exit, or polls a
# condition against a deadline.  Queue names carry this script's pid, and
# every queue is removed at the end, whatever happened.  The last line is
# "N passed, N failed"; the exit status is 0 only if none failed.
set -u
dir=${1:?usage: examples/run.sh DIR}
limit=${EXAMPLE_TIMEOUT:-20}
tag=ex-$$
log=$(mktemp -d)
bg_pids=""
passed=0
failed=0

cleanup() {
	for p in $bg_pids; do kill -9 "$p" 2>/dev/null; done
	rm -f /dev/shm/ipcq."$tag".*
	rm -rf "$log"
}
trap cleanup EXIT

# run LOG PROG ARGS...: run an example in the foreground; returns its status.
run() {
	local out=$1; shift
	timeout "$limit" "$dir/$@" >>"$log/$out" 2>&1
}
# start LOG PROG ARGS...: the same in the background; its pid is in $!.
start() {
	local out=$1; shift
	timeout "$limit" "$dir/$@" >>"$log/$out" 2>&1 &
	bg_pids="$bg_pids $!"
}
# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds or time is up.
wait_for() {
	local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
	until "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.01
	done
}
# has LOG REGEX: the log has a line matching REGEX.
has() { grep -Eq -- "$2" "$log/$1"; }
# sum LOG REGEX FIELD: the sum of FIELD over the lines matching REGEX.
sum() { awk -v re="$2" -v f="$3" '$0 ~ re { gsub(/,/, "", $f); s += $f } END { print s + 0 }' "$log/$1"; }
gone() { [ ! -e "/dev/shm/ipcq.$1" ]; }

# check NAME CONDITION...: each CONDITION is a shell test, evaluated in order.
check() {
	local name=$1 why=""; shift
	for c in "$@"; do
		eval "$c" || { why=$c; break; }
	done
	if [ -z "$why" ]; then
		passed=$((passed + 1)); echo "PASS $name"
	else
		failed=$((failed + 1)); echo "FAIL $name: $why"
		for f in "$log"/"$name"*; do echo "--- ${f##*/}"; cat "$f"; done
	fi
}

# 1. hello: one process creates, sends, receives, removes.
q=$tag.hello
run hello hello "$q"; rc=$?
check hello '[ $rc = 0 ]' 'has hello "received \"hello, ipcq\" \(11 bytes"' 'gone $q'

# 2. Two producers and a consumer, three processes, started together.
q=$tag.orders
start pc.consumer consumer "$q" 2; c=$!
start pc.producer1 producer "$q" 20000; p1=$!
start pc.producer2 producer "$q" 20000; p2=$!
wait $p1; rp1=$?; wait $p2; rp2=$?; wait $c; rc=$?
check pc '[ $rp1 = 0 ] && [ $rp2 = 0 ] && [ $rc = 0 ]' \
	'has pc.producer1 "sent 20000 messages" && has pc.producer2 "sent 20000 messages"' \
	'has pc.consumer "received 40000 messages from 2 producer\(s\), each in order"' 'gone $q'

# 3. A worker pool in ack mode: every job acked once, except the malformed
#    ones (quarantined) and the failing ones (requeued once, then acked).
q=$tag.jobs
run pool worker_pool "$q" 1000 4; rc=$?
jobs=$(grep -o '"job [0-9]*"' "$log/pool" | tr -dc '0-9\n' | sort -n | tr '\n' ' ')
check pool '[ $rc = 0 ]' '[ $(grep -c "^worker-" $log/pool) = 4 ]' \
	'[ $(sum pool "^worker-" 3) = 990 ]' '[ $(sum pool "^worker-" 5) = 100 ]' \
	'[ $(sum pool "^worker-" 7) = 10 ]' \
	'[ "$jobs" = "13 113 213 313 413 513 613 713 813 913 " ]' \
	'has pool "0 of 4 workers failed, depth 0, leased 0, quarantined 10"' 'gone $q'

# 4. A named producer killed (SIGKILL) after order 2000, seen dead by the
#    monitor, restarted: the consumer gets 1..5000 once each, in order.
q=$tag.feed
start named.consumer consumer "$q"; c=$!
{ run named.run1 named_producer "$q" 5000 2000; } 2>/dev/null; r1=$? # bash: "Killed"
run named.monitor monitor "$q" 0 1; rm=$?
run named.run2 named_producer "$q" 5000; r2=$?
wait $c; rc=$?
check named '[ $r1 = 137 ] && [ $r2 = 0 ] && [ $rm = 0 ] && [ $rc = 0 ]' \
	'has named.run1 "accepted under \"feed\": 0$"' \
	'has named.monitor "producer +feed .* dead "' \
	'has named.run2 "accepted under \"feed\": 2000$"' \
	'has named.run2 "sent 3000 new orders, 8 duplicates dropped"' \
	'has named.consumer "received 5000 messages from 1 producer\(s\), each in order, no gap, no duplicate"' \
	'gone $q'

# 5. Backpressure: the producer creates the queue with watermarks; a slow
#    consumer (20 us a message) joins once it exists.
q=$tag.pressure
start bp.producer backpressure "$q" 2000; p=$!
wait_for 10 test -e "/dev/shm/ipcq.$q"; rw=$?
start bp.consumer consumer "$q" 1 20; c=$!
wait $p; rp=$?; wait $c; rc=$?
check bp '[ $rw = 0 ] && [ $rp = 0 ] && [ $rc = 0 ]' \
	'has bp.producer "sent 2000 messages, paused [1-9][0-9]* times"' \
	'has bp.consumer "received 2000 messages from 1 producer\(s\), each in order"' 'gone $q'

# 6. Zero copy: a producer and its forked consumer, in place both ways.
q=$tag.ticks
run zc zerocopy "$q" 100000; rc=$?
check zc '[ $rc = 0 ]' 'has zc "producer wrote 100000 ticks in place"' \
	'has zc "consumer read 100000 ticks in place in [0-9]+ peeks, all in order"' 'gone $q'

# 7. The monitor: a queue left with 301 messages and nobody attached, then a
#    slow consumer (1 ms a message) draining it, watched three times 20 ms
#    apart.
q=$tag.watch
run mon.producer producer "$q" 500; rp=$?
run mon.idle monitor "$q" 0 1; ri=$?
start mon.consumer consumer "$q" 1 1000; c=$!
consumer_alive() { timeout "$limit" "$dir/monitor" "$q" 0 1 2>/dev/null | grep -Eq 'consumer +consumer .* alive'; }
wait_for 10 consumer_alive; rw=$?
run mon.busy monitor "$q" 20 3; rb=$?
wait $c; rc=$?
check mon '[ $rp = 0 ] && [ $ri = 0 ] && [ $rw = 0 ] && [ $rb = 0 ] && [ $rc = 0 ]' \
	'has mon.idle "depth 501/1024, oldest waiting" && has mon.idle "participants: 0 "' \
	'[ $(grep -c "depth " $log/mon.busy) = 3 ]' \
	'[ $(grep -Ec "depth .*, in [0-9]+/s, out [0-9]+/s" $log/mon.busy) = 2 ]' \
	'has mon.busy "consumer +consumer .* alive"' \
	'has mon.consumer "received 500 messages"' 'gone $q'

# 8. Fan-out: a producer and two groups, "billing" (two consumers, each
#    message to one of them once) and "dashboard" (lossy, slow: what it got
#    plus what it was told it missed is every message, and its group's
#    dropped count says the same).
q=$tag.prices
run fan fanout "$q" 100000; rc=$?
missed() { sed -n 's/.*dashboard received .* missed \([0-9]*\) in .*/\1/p' "$log/fan"; }
dropped() { sed -n 's/.*group dashboard (lossy): .* dropped \([0-9]*\)$/\1/p' "$log/fan"; }
check fan '[ $rc = 0 ]' 'has fan "sent 100000 messages to 2 groups"' \
	'[ $(grep -c "billing-[12] received [0-9]* messages, in order" $log/fan) = 2 ]' \
	'[ $(sum fan "billing-[12] received" 4) = 100000 ]' \
	'has fan "group billing \(durable\): position 100002, lag 0, dropped 0"' \
	'has fan "dashboard received [0-9]+ messages, missed [0-9]+ in [0-9]+ gaps: 100000 in all"' \
	'[ -n "$(missed)" ] && [ "$(missed)" = "$(dropped)" ]' 'gone $q'

# 9. Per-key order: forked ack-mode workers apply each account's orders in
#    order.
q=$tag.acct
run acct accounts "$q" 20000 3; rc=$?
check acct '[ $rc = 0 ]' \
	'has acct "sent 20000 orders for 4 accounts; each account.s orders applied in order: yes"' \
	'[ $(grep -c "worker [123] applied [0-9]* orders" $log/acct) = 3 ]' \
	'[ $(sum acct "worker [123] applied" 4) = 20000 ]' 'gone $q'

# 10. Priority lanes: a forked gateway sends 1000 new orders at priority 0,
#     then 50 cancels at priority 1; received once it has exited, the
#     cancels come first but for the starvation guard's share.
q=$tag.prio
run prio priorities "$q" 1000 50; rc=$?
check prio '[ $rc = 0 ]' \
	'has prio "gateway sent 1000 new orders at priority 0, then 50 cancels at priority 1"' \
	'has prio "all 50 cancels within the first [0-9]+ messages, [0-9]+ new orders before the last of them \(the guard allows [0-9]+\), then [0-9]+ new orders"' \
	'has prio "each lane in order, none lost or repeated"' 'gone $q'

# 11. A gateway and its worker, one order at a time through two queues with
#     a sole producer and a sole consumer each: every fill matches its
#     order, and a second producer is refused while the gateway holds the
#     seat.
q=$tag.pp
run pp pingpong "$q" 20000; rc=$?
check pp '[ $rc = 0 ]' \
	'has pp "a second producer of $q.req: refused \(-EBUSY\), the gateway is its sole producer"' \
	'has pp "20000 round trips, every fill matched its order: p50 [0-9]+ ns"' \
	'gone $q.req' 'gone $q.rep'

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
