// bench_cxx.cc - the cost of ipcq.hpp over the C calls it wraps: the same
// loop of 64-byte sends and receives (bursts of BURST, one process, a
// handle in both roles) through ipcq_send/ipcq_recv and through
// ipcqpp::queue::send/recv, alternated ROUNDS times; the best round of
// each is compared.
//
//   bench_cxx [MESSAGES] [ROUNDS]     (defaults: 2000000, 7)
#include "ipcq.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <unistd.h>

namespace {

const unsigned BURST = 512;

double now_s()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// ns per message (one send and one receive) through the C API.
double run_c(ipcq *q, unsigned long long n)
{
	std::array<char, 64> msg{}, buf{};
	double t0 = now_s();
	for (unsigned long long i = 0; i < n; i += BURST) {
		for (unsigned k = 0; k < BURST; k++)
			if (ipcq_send(q, msg.data(), msg.size(), IPCQ_FOREVER) < 0)
				std::abort();
		for (unsigned k = 0; k < BURST; k++)
			if (ipcq_recv(q, buf.data(), buf.size(), nullptr, IPCQ_FOREVER) != 64)
				std::abort();
	}
	return (now_s() - t0) / double(n) * 1e9;
}

// The same through the wrapper.
double run_cxx(ipcqpp::queue &q, unsigned long long n)
{
	std::array<char, 64> msg{}, buf{};
	double t0 = now_s();
	for (unsigned long long i = 0; i < n; i += BURST) {
		for (unsigned k = 0; k < BURST; k++)
			q.send(msg);
		for (unsigned k = 0; k < BURST; k++)
			if (q.recv(buf) != std::optional<std::size_t>(64))
				std::abort();
	}
	return (now_s() - t0) / double(n) * 1e9;
}

} // namespace

int main(int argc, char **argv)
{
	unsigned long long n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
	int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
	std::string name = "bench.cxx." + std::to_string(getpid());
	try {
		ipcqpp::config cfg;
		cfg.capacity = 1024;
		cfg.max_msg_size = 64;
		ipcqpp::queue q = ipcqpp::queue::create(name, cfg);
		q.attach(ipcqpp::producer | ipcqpp::consumer);
		double best_c = 1e30, best_cxx = 1e30;
		run_c(q.native_handle(), n / 10); // warm up
		for (int r = 0; r < rounds; r++) {
			best_c = std::min(best_c, run_c(q.native_handle(), n));
			best_cxx = std::min(best_cxx, run_cxx(q, n));
		}
		q.close();
		ipcqpp::unlink(name);
		std::printf("64-byte send+recv, %llu messages, best of %d rounds\n", n, rounds);
		std::printf("%-24s %8.1f ns/message\n", "C (ipcq_send/recv)", best_c);
		std::printf("%-24s %8.1f ns/message\n", "C++ (ipcqpp::queue)", best_cxx);
		std::printf("C++ / C: %.3f (%+.1f%%)\n", best_cxx / best_c, (best_cxx / best_c - 1) * 100);
	} catch (const ipcqpp::error &e) {
		std::fprintf(stderr, "bench_cxx: %s\n", e.what());
		(void)ipcq_unlink(name.c_str());
		return 1;
	}
	return 0;
}
