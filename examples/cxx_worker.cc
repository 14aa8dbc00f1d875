// cxx_worker.cc - a C++ worker (include/ipcq.hpp) in ack mode: takes the
// jobs that producer.c sends ("message 1", "message 2", ...), checks that
// each producer's jobs come in order, acknowledges each once it is done,
// and stops at the empty end marker.  A worker killed half-way loses
// nothing: the jobs it held unacknowledged go to the next worker.
//
//   cxx_worker [QUEUE]        (default: example.orders)
//
//   cxx_worker example.orders &
//   producer example.orders 100000
#include <ipcq.hpp>

#include <cstdio>
#include <map>
#include <string>

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.orders";
	try {
		// Whoever comes first creates the queue (producer.c does the same).
		std::error_code ec;
		ipcqpp::queue q = ipcqpp::queue::open(name, 0, ec);
		if (ec == std::errc::no_such_file_or_directory) {
			ipcqpp::config cfg; // 1024 slots of up to 1 KiB, leases for ack mode
			q = ipcqpp::queue::create(name, cfg, ec);
			if (ec == std::errc::file_exists)
				q = ipcqpp::queue::open(name);
		}
		if (!q)
			throw ipcqpp::error(-ec.value(), "open", ipcqpp::errdetail());

		ipcqpp::attach_options opts;
		opts.flags = IPCQ_ATTACH_ACK; // each job stays leased until acked
		opts.name = "cxx-worker";
		q.attach(ipcqpp::consumer, opts);

		std::map<unsigned, unsigned long long> last; // producer -> last job
		unsigned long long jobs = 0;
		for (;;) {
			ipcqpp::msginfo info;
			// Nothing for 10 s: give up (std::nullopt is a timeout).
			std::optional<std::string> job = q.recv_string(std::chrono::seconds(10), &info);
			if (!job) {
				std::fprintf(stderr, "cxx_worker: no job for 10 s\n");
				return 1;
			}
			q.ack(info.token);
			if (job->empty())
				break; // the end marker
			unsigned long long n = std::stoull(job->substr(job->find(' ') + 1));
			if (n != last[info.producer] + 1) {
				std::fprintf(stderr, "cxx_worker: job %llu after %llu\n", n, last[info.producer]);
				return 1;
			}
			last[info.producer] = n;
			jobs++;
		}
		std::printf("cxx_worker: processed %llu jobs, in order, each acked\n", jobs);
		q.close();
		ipcqpp::unlink(name);
	} catch (const ipcqpp::error &e) {
		std::fprintf(stderr, "cxx_worker: %s\n", e.what());
		return 1;
	}
	return 0;
}
