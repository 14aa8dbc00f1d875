/*
 * boost_mq.h - C interface of boost_mq.cc (Boost.Interprocess
 * message_queue), used by the boost_mq transport (boost_mq.c) when built
 * with -DBENCH_HAVE_BOOST.  Every function returns 0 or -errno; none throws.
 * Timeouts are in milliseconds; a timed call that expires returns
 * -ETIMEDOUT and has done nothing.
 */
#ifndef BENCH_BOOST_MQ_H
#define BENCH_BOOST_MQ_H

#include <stddef.h>

struct bench_bmq;

/* Create queue @name (a leftover of the same name is removed first). */
int bench_bmq_create(const char *name, unsigned depth, unsigned msg_size);
/* Open an existing queue; every process opens its own handle. */
int bench_bmq_open(const char *name, struct bench_bmq **out);
void bench_bmq_close(struct bench_bmq *h);
int bench_bmq_remove(const char *name);
int bench_bmq_send(struct bench_bmq *h, const void *data, size_t len, unsigned timeout_ms);
/* Receive into @buf (@cap bytes, at least the queue's message size); *len gets the length. */
int bench_bmq_recv(struct bench_bmq *h, void *buf, size_t cap, size_t *len,
		   unsigned timeout_ms);

#endif /* BENCH_BOOST_MQ_H */
