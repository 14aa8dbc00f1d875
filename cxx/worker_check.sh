#!/bin/sh
# Run the C++ worker example (examples/cxx_worker.cc) beside the C
# producer example and check what it prints.
#   cxx/worker_check.sh DIR     (DIR/cxx/cxx_worker, DIR/examples/producer)
dir=${1:?usage: cxx/worker_check.sh DIR}
q=ex-cxx-$$
out=$(mktemp)
trap 'rm -f "$out" /dev/shm/ipcq.$q' EXIT
timeout 60 "$dir/cxx/cxx_worker" "$q" >"$out" 2>&1 &
w=$!
timeout 60 "$dir/examples/producer" "$q" 20000 || { kill "$w"; echo "FAIL cxx_worker: producer failed"; exit 1; }
wait "$w"; rc=$?
if [ "$rc" = 0 ] && grep -qx 'cxx_worker: processed 20000 jobs, in order, each acked' "$out" &&
	[ ! -e "/dev/shm/ipcq.$q" ]; then
	echo "PASS cxx_worker"
else
	echo "FAIL cxx_worker (exit $rc):"; cat "$out"; exit 1
fi
