/*
 * boost_mq.cc - Boost.Interprocess message_queue behind a C interface
 * (boost_mq.h), for the boost_mq transport of bench/transports (boost_mq.c).
 *
 * boost::interprocess::message_queue is what a C++ user picks for a
 * message queue between processes: a segment in /dev/shm holding a
 * priority queue of fixed-size slots, guarded by a process-shared mutex and
 * two condition variables (so every send and every receive takes the lock).
 * Header-only; it needs -lrt -pthread.
 *
 * The C side never sees a C++ type or an exception: every function catches
 * what Boost throws and returns -errno (the bench's convention).  A handle
 * is opened by each process after fork(), by name, as Boost intends.
 *
 * bench/bench.mk compiles it with the C++ compiler when Boost is found, and
 * then the C files of bench/transports with -DBENCH_HAVE_BOOST, and links
 * -lstdc++ -lrt.
 */
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/date_time/posix_time/posix_time_types.hpp>

#include <cerrno>
#include <cstddef>
#include <new>

namespace bip = boost::interprocess;

extern "C" {
#include "boost_mq.h"
}

namespace {

/* Map a Boost exception to -errno. */
int error_of(const bip::interprocess_exception &e)
{
	int native = e.get_native_error();

	if (native > 0)
		return -native;
	switch (e.get_error_code()) {
	case bip::already_exists_error:
		return -EEXIST;
	case bip::not_found_error:
		return -ENOENT;
	case bip::security_error:
		return -EACCES;
	case bip::out_of_memory_error:
		return -ENOMEM;
	case bip::size_error:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

boost::posix_time::ptime deadline_after_ms(unsigned ms)
{
	/* message_queue's timed calls take an absolute universal time. */
	return boost::posix_time::microsec_clock::universal_time() +
	       boost::posix_time::milliseconds(ms);
}

} // namespace

extern "C" int bench_bmq_create(const char *name, unsigned depth, unsigned msg_size)
{
	try {
		bip::message_queue::remove(name);
		bip::message_queue mq(bip::create_only, name, depth, msg_size);
		return 0;
	} catch (const bip::interprocess_exception &e) {
		return error_of(e);
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -EIO;
	}
}

extern "C" int bench_bmq_open(const char *name, struct bench_bmq **out)
{
	*out = nullptr;
	try {
		bip::message_queue *mq = new bip::message_queue(bip::open_only, name);

		*out = reinterpret_cast<struct bench_bmq *>(mq);
		return 0;
	} catch (const bip::interprocess_exception &e) {
		return error_of(e);
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -EIO;
	}
}

extern "C" void bench_bmq_close(struct bench_bmq *h)
{
	delete reinterpret_cast<bip::message_queue *>(h);
}

extern "C" int bench_bmq_remove(const char *name)
{
	try {
		return bip::message_queue::remove(name) ? 0 : -ENOENT;
	} catch (...) {
		return -EIO;
	}
}

extern "C" int bench_bmq_send(struct bench_bmq *h, const void *data, size_t len,
			      unsigned timeout_ms)
{
	bip::message_queue *mq = reinterpret_cast<bip::message_queue *>(h);

	try {
		/* Priority 0 for all: FIFO among equals. */
		if (mq->try_send(data, len, 0))
			return 0;
		return mq->timed_send(data, len, 0, deadline_after_ms(timeout_ms)) ? 0
										 : -ETIMEDOUT;
	} catch (const bip::interprocess_exception &e) {
		return error_of(e);
	} catch (...) {
		return -EIO;
	}
}

extern "C" int bench_bmq_recv(struct bench_bmq *h, void *buf, size_t cap, size_t *len,
			      unsigned timeout_ms)
{
	bip::message_queue *mq = reinterpret_cast<bip::message_queue *>(h);
	bip::message_queue::size_type got = 0;
	unsigned prio = 0;

	try {
		if (!mq->try_receive(buf, cap, got, prio) &&
		    !mq->timed_receive(buf, cap, got, prio, deadline_after_ms(timeout_ms)))
			return -ETIMEDOUT;
		*len = got;
		return 0;
	} catch (const bip::interprocess_exception &e) {
		return error_of(e);
	} catch (...) {
		return -EIO;
	}
}
