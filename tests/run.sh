#!/bin/sh
# Run test programs with a per-test timeout.
#   tests/run.sh DIR [NAME...]
# Runs every executable t_* in DIR (or only the NAMEs given), each under
# `timeout $TEST_TIMEOUT` (default 300 s).  Exit status 0 is a pass, 77 a skip,
# anything else a failure.  A skip hides whatever the test did not check, so
# it counts as a failure unless the allow-list ($SKIP_OK, default
# tests/SKIP_OK) has a line "NAME REASON" for the test whose REASON is part
# of the test's last line of output (the reason it printed).  The allow-list
# is printed at the end; the last line is "N passed, N failed, N skipped".
dir=${1:?usage: tests/run.sh DIR [NAME...]}
shift
limit=${TEST_TIMEOUT:-300}
skip_list=${SKIP_OK:-$(dirname "$0")/SKIP_OK}
# skip_ok NAME WHY: is this skip on the allow-list?
skip_ok() {
	[ -r "$skip_list" ] || return 1
	while read -r n reason; do
		case $n in ''|'#'*) continue ;; esac
		[ "$n" = "$1" ] || continue
		case $2 in *"$reason"*) return 0 ;; esac
	done < "$skip_list"
	return 1
}
if [ $# -gt 0 ]; then
	list=""
	for n in "$@"; do list="$list $dir/$n"; done
else
	list=$(ls "$dir"/t_* 2>/dev/null | grep -v '\.' | sort)
fi
pass=0 fail=0 skip=0 failed=""
logs="$dir/logs"
mkdir -p "$logs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
for t in $list; do
	[ -x "$t" ] || { echo "MISSING $t"; fail=$((fail + 1)); failed="$failed $(basename "$t")"; continue; }
	name=$(basename "$t")
	start=$(date +%s.%N)
	timeout -k 10 "$limit" "$t" > "$logs/$name.log" 2>&1
	rc=$?
	secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
	case $rc in
	0) pass=$((pass + 1)); printf 'PASS %-32s %ss\n' "$name" "$secs" ;;
	77)
		why=$(tail -n 1 "$logs/$name.log")
		if skip_ok "$name" "$why"; then
			skip=$((skip + 1)); printf 'SKIP %-32s %s\n' "$name" "$why"
		else
			fail=$((fail + 1)); failed="$failed $name"
			printf 'FAIL %-32s skipped, and not on the allow-list %s: %s\n' "$name" \
				"$skip_list" "$why"
		fi
		;;
	*)
		fail=$((fail + 1)); failed="$failed $name"
		[ $rc -eq 124 ] && why="timed out after ${limit}s" || why="exit $rc"
		printf 'FAIL %-32s %s\n' "$name" "$why"
		sed 's/^/    | /' "$logs/$name.log" | tail -n 40
		;;
	esac
done
[ -n "$failed" ] && echo "failed:$failed"
echo "allowed skips ($skip_list):"
if [ -r "$skip_list" ]; then
	grep -v -e '^#' -e '^[[:space:]]*$' "$skip_list" | sed 's/^/    /'
else
	echo "    (none: the file is missing)"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
