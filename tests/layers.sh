#!/bin/sh
# tests/layers.sh OBJDIR - lib/ is layered: no file of lib/ calls, through
# any chain of calls, back into itself.  Reads the object files: an arrow
# A -> B when A.o uses a symbol that B.o defines.  Prints the arrows and
# the order, bottom first, or the files of a circle and exits 1.
set -eu
dir=${1:?usage: tests/layers.sh OBJDIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for o in "$dir"/*.o; do
	f=$(basename "$o" .o)
	nm --defined-only -g "$o" | awk -v f="$f" 'NF == 3 { print $3, f }'
done | sort > "$tmp/defs"
for o in "$dir"/*.o; do
	f=$(basename "$o" .o)
	nm -u "$o" | awk -v f="$f" '{ print $2, f }'
done | sort > "$tmp/uses"
# "user definer" pairs, each file also paired with itself so tsort lists it
join "$tmp/uses" "$tmp/defs" | awk '$2 != $3 { print $2, $3 }' | sort -u > "$tmp/arrows"
for o in "$dir"/*.o; do f=$(basename "$o" .o); echo "$f $f"; done >> "$tmp/arrows"
if ! tsort "$tmp/arrows" > "$tmp/order" 2> "$tmp/err"; then
	echo "layers: lib/ has a circle:" >&2
	sed -n 's/^tsort: //p' "$tmp/err" >&2
	exit 1
fi
grep -v '^\(.*\) \1$' "$tmp/arrows" | sed 's/ / -> /'
# tsort prints users before what they use: reverse for bottom first
echo "layers: no circle; bottom first: $(tac "$tmp/order" | tr '\n' ' ')"
