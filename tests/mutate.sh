#!/bin/sh
# Mutation check: the tests must fail when lib/ is wrong.
#   tests/mutate.sh [NAME...]
#   tests/mutate.sh --apply-only [NAME...]   (make test: only check that each
#                                            patch still applies to lib/)
# For each mutant of tests/mutants/LIST (or only the NAMEs given): a copy
# of the source tree (tracked and untracked files, not the ignored ones:
# the working tree as it is now, never changed) gets the mutant's patch,
# the library and the mutant's tests are built (V=asan), and the tests run
# under tests/run.sh with a time limit of MUTATE_LIMIT seconds (60) for the
# mutant.  KILLED: a test failed or timed out.  SURVIVED: they all passed.
# First the same tests must pass on the unmutated copy (the baseline),
# else nothing is judged.  The last line is "mutants: N killed, N
# survived"; the exit status is nonzero when any mutant survived or could
# not be applied or built.
#   MUTATE_LIMIT  seconds for one mutant's tests (default 60)
#   MUTATE_DIR    scratch directory (default: a new one under $TMPDIR)
#   MUTATE_KEEP=1 keep the scratch directory (build logs, test logs)
#   MAKE          make program (default make)
root=$(cd "$(dirname "$0")/.." && pwd) || exit 2
list="$root/tests/mutants/LIST"
limit=${MUTATE_LIMIT:-60}
make=${MAKE:-make}
[ -r "$list" ] || { echo "mutate: no $list" >&2; exit 2; }

apply_only=0
if [ "${1:-}" = --apply-only ]; then
	apply_only=1
	shift
fi

scratch=${MUTATE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ipcq-mutate.XXXXXX")} || exit 2
mkdir -p "$scratch" || exit 2
cleanup() { [ "${MUTATE_KEEP:-0}" = 1 ] || rm -rf "$scratch"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
secs() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# The mutants to run: "name tests description" lines.
sel="$scratch/selected"
grep -v '^[[:space:]]*#' "$list" | awk 'NF >= 2' > "$sel.all"
if [ $# -gt 0 ]; then
	: > "$sel"
	for n in "$@"; do
		awk -v n="$n" '$1 == n' "$sel.all" | grep . >> "$sel" ||
			{ echo "mutate: no mutant $n in $list" >&2; exit 2; }
	done
else
	cp "$sel.all" "$sel"
fi
[ -s "$sel" ] || { echo "mutate: no mutants" >&2; exit 2; }

# --apply-only: does each patch still apply to the tree as it is?  (A
# change of lib/ that moves a mutant's lines leaves it unrunnable.)
if [ $apply_only = 1 ]; then
	bad=0 n=0
	while read -r name tests desc; do
		n=$((n + 1))
		if ! patch -p1 -s -t -N --fuzz=1 --dry-run -d "$root" \
			< "$root/tests/mutants/$name.patch" > "$scratch/patch.log" 2>&1; then
			printf 'mutate: %s does not apply to lib/ any more: refresh %s\n' \
				"$name" "tests/mutants/$name.patch" >&2
			bad=$((bad + 1))
		fi
	done < "$sel"
	echo "mutants: $((n - bad)) of $n apply"
	[ $bad -eq 0 ]
	exit
fi

# The tree as it is now, without build outputs.
base="$scratch/base"
mkdir -p "$base"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$root" && git ls-files -co --exclude-standard -z | tar -cf - --null -T -) |
		tar -xf - -C "$base" || exit 2
else
	(cd "$root" && tar -cf - --exclude=./build .) | tar -xf - -C "$base" || exit 2
fi

# Build the library, the tools and the given tests in tree $1 (log in $2).
build() {
	t=$1; log=$2; shift 2
	# the tools too: tests of them (t_ctl, t_stat_*, t_keys) run them
	targets="build/asan/libipcq.a build/asan/ipcq-stat build/asan/ipcq-ctl"
	for n in "$@"; do targets="$targets build/asan/tests/$n"; done
	# shellcheck disable=SC2086 # targets is a word list
	$make -C "$t" -j"$(nproc 2>/dev/null || echo 2)" V=asan $targets < /dev/null > "$log" 2>&1
}

# Run the given tests in tree $1 (output in $2) within the limit.
runtests() {
	t=$1; out=$2; shift 2
	stamp="$t/.stamp"
	: > "$stamp"
	(cd "$t" && TEST_TIMEOUT=$limit timeout -k 10 "$limit" tests/run.sh build/asan/tests "$@") \
		< /dev/null > "$out" 2>&1
	rc=$?
	# a killed test leaves its queues behind: remove those made since the
	# stamp by processes that are gone (names are t.TAG.PID.N)
	find /dev/shm -maxdepth 1 -type f -name 'ipcq.t.*' -newer "$stamp" 2>/dev/null |
		while read -r f; do
			pid=$(echo "$f" | sed -n 's/^\/dev\/shm\/ipcq\.t\.[^.]*\.\([0-9]*\)\..*/\1/p')
			if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
				rm -f "$f"
			fi
		done
	return $rc
}

all_tests=$(awk '{ print $2 }' "$sel" | tr ',' '\n' | sort -u | tr '\n' ' ')
printf 'baseline: building and running %s\n' "$all_tests"
t0=$(now)
# shellcheck disable=SC2086
if ! build "$base" "$scratch/baseline.build.log" $all_tests; then
	tail -n 30 "$scratch/baseline.build.log"
	echo "mutate: the unmutated tree does not build" >&2
	exit 2
fi
# shellcheck disable=SC2086
if ! runtests "$base" "$scratch/baseline.log" $all_tests; then
	cat "$scratch/baseline.log"
	echo "mutate: the tests fail on the unmutated tree: fix that first" >&2
	exit 2
fi
grep -E '^(PASS|SKIP)' "$scratch/baseline.log" | sed 's/^/  /'
if grep -q '^SKIP' "$scratch/baseline.log"; then
	echo "mutate: a test is skipped here; its mutants would survive it" >&2
fi
printf 'baseline: passed in %ss\n' "$(secs "$t0")"

killed=0 survived=0 broken=0 survivors="" brokens=""
while read -r name tests desc; do
	patchf="$base/tests/mutants/$name.patch"
	work="$scratch/m.$name"
	t0=$(now)
	rm -rf "$work"
	cp -a "$base" "$work" || exit 2
	tl=$(echo "$tests" | tr ',' ' ')
	if [ ! -r "$patchf" ] || ! patch -p1 -s -t -N --fuzz=1 --no-backup-if-mismatch \
		-d "$work" -r - < "$patchf" > "$work/.patch.log" 2>&1; then
		printf '%-9s %-26s patch does not apply to lib/ any more: refresh %s\n' \
			BROKEN "$name" "tests/mutants/$name.patch"
		sed 's/^/    | /' "$work/.patch.log" | tail -n 5
		broken=$((broken + 1)); brokens="$brokens $name"
		[ "${MUTATE_KEEP:-0}" = 1 ] || rm -rf "$work"
		continue
	fi
	# shellcheck disable=SC2086
	if ! build "$work" "$work/.build.log" $tl; then
		printf '%-9s %-26s does not build\n' BROKEN "$name"
		grep -m 5 -E 'error|Error' "$work/.build.log" | sed 's/^/    | /'
		broken=$((broken + 1)); brokens="$brokens $name"
		[ "${MUTATE_KEEP:-0}" = 1 ] || rm -rf "$work"
		continue
	fi
	tb=$(secs "$t0")
	t1=$(now)
	# shellcheck disable=SC2086
	runtests "$work" "$work/.run.log" $tl
	rc=$?
	tr_=$(secs "$t1")
	if [ $rc -eq 0 ]; then
		printf '%-9s %-26s tests %5ss (build %ss)  %s: %s\n' SURVIVED "$name" "$tr_" "$tb" \
			"$tests" "$desc"
		survived=$((survived + 1)); survivors="$survivors $name"
	else
		why=$(grep -E '^FAIL' "$work/.run.log" | awk '{ $1 = ""; print }' | sed 's/^ //' |
			tr '\n' ';' | sed 's/;$//')
		[ -n "$why" ] || why="time limit of ${limit}s reached"
		printf '%-9s %-26s tests %5ss (build %ss)  by %s\n' KILLED "$name" "$tr_" "$tb" "$why"
		killed=$((killed + 1))
	fi
	[ "${MUTATE_KEEP:-0}" = 1 ] || rm -rf "$work"
done < "$sel"

[ -n "$survivors" ] && echo "survived:$survivors"
[ -n "$brokens" ] && echo "not applied or not built:$brokens"
[ "${MUTATE_KEEP:-0}" = 1 ] && echo "scratch kept in $scratch"
echo "mutants: $killed killed, $survived survived"
[ $survived -eq 0 ] && [ $broken -eq 0 ]
