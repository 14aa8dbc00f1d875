// t_cxx.cc - ipcq.hpp against the C API, in real processes: C++ producers
// with a C consumer, C producers with a C++ consumer (every message checked:
// the set, each producer's order, every byte), a C++ ack-mode consumer
// killed (SIGKILL) while it holds messages, which another consumer gets
// again, flagged; errors as exceptions and as std::error_code; zero copy
// and named producers through the wrapper; peeked and reservation objects
// that outlive or follow their queue object.
#include "ipcq.hpp"

#include <array>
#include <set>
#include <string>
#include <vector>

#include "testutil.h"

namespace {

const uint64_t COUNT = 20000;
const int64_t WAIT_NS = 30 * 1000000000LL;
const std::chrono::seconds WAIT{30};

size_t msg_len(uint64_t seq) { return 16 + size_t(seq * 7 % 200); }

ipcqpp::config small_config(uint32_t capacity)
{
	ipcqpp::config cfg;
	cfg.capacity = capacity;
	cfg.max_msg_size = 256;
	return cfg;
}

// Check one pattern message of tag @tag against the order seen so far.
void check_message(const void *buf, size_t len, std::vector<uint64_t> &last)
{
	uint32_t tag;
	uint64_t seq;
	CHECK(len >= 16);
	t_header(buf, &tag, &seq);
	CHECK(tag < last.size());
	if (seq != last[tag] + 1)
		T_FAIL("producer %u: seq %llu after %llu", tag, (unsigned long long)seq,
		       (unsigned long long)last[tag]);
	CHECK(len == msg_len(seq) && t_verify(buf, len, tag, seq) == 0);
	last[tag] = seq;
}

// A C++ producer: COUNT messages of producer @tag, then an empty one.
int cxx_producer(const char *name, uint32_t tag)
{
	ipcqpp::queue q = ipcqpp::queue::open(name);
	q.attach(ipcqpp::producer);
	std::vector<uint8_t> msg;
	for (uint64_t seq = 1; seq <= COUNT; seq++) {
		msg.resize(msg_len(seq));
		t_fill(msg.data(), msg.size(), tag, seq);
		q.send(msg, WAIT);
	}
	q.send(ipcqpp::const_bytes(), WAIT);
	return 0;
}

// A C producer, the same messages through ipcq.h alone.
int c_producer(const char *name, uint32_t tag)
{
	struct ipcq *q;
	uint8_t buf[256];
	CHECK_OK(ipcq_open(name, &q));
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL));
	for (uint64_t seq = 1; seq <= COUNT; seq++)
		CHECK_OK(ipcq_send(q, buf, t_fill(buf, msg_len(seq), tag, seq), WAIT_NS));
	CHECK_OK(ipcq_send(q, NULL, 0, WAIT_NS));
	ipcq_close(q);
	return 0;
}

// A C consumer of @producers producers (tags 1..), every message checked.
int c_consumer(const char *name, unsigned producers)
{
	struct ipcq *q;
	uint8_t buf[256];
	std::vector<uint64_t> last(producers + 1);
	CHECK_OK(ipcq_open(name, &q));
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL));
	for (unsigned ends = 0; ends < producers;) {
		int len = ipcq_recv(q, buf, sizeof buf, NULL, WAIT_NS);
		CHECK_OK(len);
		if (len == 0)
			ends++;
		else
			check_message(buf, size_t(len), last);
	}
	for (unsigned t = 1; t <= producers; t++)
		CHECK(last[t] == COUNT);
	ipcq_close(q);
	return 0;
}

template <class F>
pid_t spawn(F f)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		T_FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		int rc = 1;
		try {
			rc = f();
		} catch (const std::exception &e) {
			fprintf(stderr, "child: %s\n", e.what());
		}
		_exit(rc);
	}
	return pid;
}

void cxx_producers_c_consumer()
{
	const char *name = t_qname("cxx2c");
	ipcqpp::queue q = ipcqpp::queue::create(name, small_config(256));
	pid_t c = spawn([&] { return c_consumer(name, 2); });
	pid_t p1 = spawn([&] { return cxx_producer(name, 1); });
	pid_t p2 = spawn([&] { return cxx_producer(name, 2); });
	CHECK(t_wait(p1) == 0 && t_wait(p2) == 0 && t_wait(c) == 0);
	CHECK(q.info().depth == 0);
	ipcqpp::unlink(name);
}

void c_producers_cxx_consumer()
{
	const char *name = t_qname("c2cxx");
	ipcqpp::queue q = ipcqpp::queue::create(name, small_config(256));
	q.attach(ipcqpp::consumer);
	pid_t p1 = spawn([&] { return c_producer(name, 1); });
	pid_t p2 = spawn([&] { return c_producer(name, 2); });
	std::vector<uint64_t> last(3);
	std::array<uint8_t, 256> buf;
	uint64_t received = 0;
	for (unsigned ends = 0; ends < 2;) {
		// Every other message read in place.
		if (received % 2) {
			std::optional<ipcqpp::peeked> m = q.peek(WAIT);
			CHECK(m.has_value());
			if (m->size() == 0)
				ends++;
			else
				check_message(m->data(), m->size(), last), received++;
			continue;
		}
		ipcqpp::msginfo info;
		std::optional<size_t> n = q.recv(buf, &info, WAIT);
		CHECK(n.has_value() && *n == info.len);
		if (*n == 0)
			ends++;
		else
			check_message(buf.data(), *n, last), received++;
	}
	CHECK(t_wait(p1) == 0 && t_wait(p2) == 0);
	CHECK(last[1] == COUNT && last[2] == COUNT && received == 2 * COUNT);
	CHECK(!q.recv(buf, nullptr, ipcqpp::nowait).has_value());
	ipcqpp::unlink(name);
}

void killed_ack_consumer()
{
	const uint64_t total = 300, acks = 50, hold = 16;
	const char *name = t_qname("ackkill");
	ipcqpp::config cfg = small_config(512);
	cfg.lease_capacity = 64;
	ipcqpp::queue q = ipcqpp::queue::create(name, cfg);
	ipcqpp::attach_options opts;
	opts.flags = IPCQ_ATTACH_ACK;
	opts.prefetch = 64;
	q.attach(ipcqpp::producer | ipcqpp::consumer, opts);
	uint8_t buf[256];
	for (uint64_t seq = 1; seq <= total; seq++)
		q.send(ipcqpp::const_bytes(buf, t_fill(buf, msg_len(seq), 9, seq)));

	// What the victim acked and holds, by sequence: 1 acked, 2 held.
	uint8_t *state = static_cast<uint8_t *>(t_shared(total + 1));
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t victim = spawn([&] {
		ipcqpp::queue v = ipcqpp::queue::open(name);
		ipcqpp::attach_options o;
		o.flags = IPCQ_ATTACH_ACK;
		o.prefetch = uint32_t(hold);
		v.attach(ipcqpp::consumer, o);
		uint8_t m[256];
		for (uint64_t i = 0; i < acks + hold; i++) {
			ipcqpp::msginfo info;
			std::optional<size_t> n = v.recv(m, &info, WAIT);
			CHECK(n && *n >= 16);
			uint32_t tag;
			uint64_t seq;
			t_header(m, &tag, &seq);
			CHECK(tag == 9 && seq <= total);
			state[seq] = i < acks ? 1 : 2;
			if (i < acks)
				v.ack(info.token);
		}
		CHECK(write(ready[1], "h", 1) == 1);
		for (;;)
			pause(); // until killed
		return 0;
	});
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(q.info().leased == hold);
	kill(victim, SIGKILL);
	int st;
	CHECK(waitpid(victim, &st, 0) == victim && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	close(ready[0]);
	close(ready[1]);

	q.recover();
	std::set<uint64_t> got;
	uint64_t want = 0, held = 0;
	for (uint64_t seq = 1; seq <= total; seq++) {
		want += state[seq] != 1;
		held += state[seq] == 2;
	}
	CHECK(want == total - acks && held == hold);
	while (got.size() < want) {
		ipcqpp::msginfo info;
		std::optional<size_t> n = q.recv(buf, &info, WAIT);
		CHECK(n.has_value());
		uint32_t tag;
		uint64_t seq;
		t_header(buf, &tag, &seq);
		CHECK(tag == 9 && seq >= 1 && seq <= total && state[seq] != 1);
		CHECK(got.insert(seq).second);
		CHECK(t_verify(buf, *n, 9, seq) == 0 && *n == msg_len(seq));
		bool redelivered = (info.flags & IPCQ_MSG_REDELIVERED) != 0;
		CHECK(redelivered == (state[seq] == 2));
		CHECK(info.deliveries == (state[seq] == 2 ? 2u : 1u));
		q.ack(info.token);
	}
	struct ipcq_info i = q.info();
	CHECK(i.depth == 0 && i.leased == 0 && i.side_depth == 0);
	ipcqpp::unlink(name);
}

void errors_both_ways()
{
	const char *name = t_qname("err");
	ipcqpp::config bad;
	bad.capacity = 1000;
	std::error_code ec;
	ipcqpp::queue q = ipcqpp::queue::create(name, bad, ec);
	CHECK(!q && ec == std::errc::invalid_argument && ec.category() == ipcqpp::category());
	CHECK(strstr(ipcqpp::errdetail(), "capacity 1000") != nullptr);
	try {
		ipcqpp::queue::create(name, bad);
		T_FAIL("create with capacity 1000 did not throw");
	} catch (const ipcqpp::error &e) {
		CHECK(e.code() == std::errc::invalid_argument);
		CHECK(e.detail().find("capacity 1000") != std::string::npos);
		CHECK(std::string(e.what()).find("capacity 1000") != std::string::npos);
	}
	ipcqpp::queue::open(name, 0, ec);
	CHECK(ec == std::errc::no_such_file_or_directory);

	q = ipcqpp::queue::create(name, small_config(16));
	CHECK(q && q.max_msg_size() == 256);
	q.attach(ipcqpp::producer | ipcqpp::consumer);
	std::string big(257, 'x');
	q.send(big, ipcqpp::nowait, ec);
	CHECK(ec == std::errc::message_size);
	try {
		q.send(big);
		T_FAIL("oversized send did not throw");
	} catch (const std::system_error &e) {
		CHECK(e.code() == std::errc::message_size);
	}
	char small[4];
	CHECK(!q.recv(ipcqpp::mutable_bytes(small, sizeof small), nullptr, ipcqpp::nowait));
	CHECK(!q.recv(small, nullptr, std::chrono::milliseconds(1), ec) && ec == std::errc::timed_out);
	CHECK(q.send("hello") == ipcqpp::send_result::ok);
	ipcqpp::msginfo info;
	try {
		(void)q.recv(small, &info, ipcqpp::nowait);
		T_FAIL("a receive into 4 bytes did not throw");
	} catch (const ipcqpp::error &e) {
		CHECK(e.code() == std::errc::no_buffer_space && info.len == 5);
	}
	std::optional<std::string> s = q.recv_string(ipcqpp::nowait);
	CHECK(s && *s == "hello");

	// RAII: a moved-from queue holds nothing; close() lets the handle go.
	ipcqpp::queue moved = std::move(q);
	CHECK(!q && moved);
	moved.close();
	CHECK(!moved);
	ipcqpp::unlink(name);
	ipcqpp::unlink(name, ec);
	CHECK(ec == std::errc::no_such_file_or_directory);
}

void zero_copy_and_named()
{
	const char *name = t_qname("zc");
	ipcqpp::queue q = ipcqpp::queue::create(name, small_config(16));
	{
		ipcqpp::queue p = ipcqpp::queue::open(name);
		ipcqpp::attach_options o;
		o.flags = IPCQ_ATTACH_DEDUP;
		o.name = "feed";
		p.attach(ipcqpp::producer, o);
		CHECK(p.last_seq() == 0);
		for (uint64_t seq = 1; seq <= 5; seq++)
			CHECK(p.send_seq(seq, "order") == ipcqpp::send_result::ok);
		CHECK(p.send_seq(3, "order") == ipcqpp::send_result::duplicate);
		{
			std::optional<ipcqpp::reservation> r = p.reserve(ipcqpp::nowait);
			CHECK(r && r->capacity() == 256);
			memcpy(r->data(), "in place", 8);
			CHECK(r->commit(8) == ipcqpp::send_result::ok);
		}
		{
			std::optional<ipcqpp::reservation> r = p.reserve(ipcqpp::nowait);
			CHECK(r); // destroyed uncommitted: given up
		}
		CHECK(p.last_seq() == 6);
	}
	q.attach(ipcqpp::consumer);
	for (uint64_t seq = 1; seq <= 6; seq++) {
		std::optional<ipcqpp::peeked> m = q.peek(WAIT);
		CHECK(m && m->info().seq == seq && m->info().stream != 0);
		CHECK(m->view() == (seq < 6 ? "order" : "in place"));
	}
	CHECK(!q.peek(ipcqpp::nowait));
	std::vector<ipcq_participant_stats> parts;
	struct ipcq_stats st = q.stats(&parts);
	CHECK(st.info.dedup_names == 1 && parts.size() == 1 && parts[0].received == 6);
	ipcqpp::unlink(name);
}

// A peeked or a reservation follows its queue object when either moves,
// and is given back by the queue's close() or destruction: none outlives
// the handle (ASan finds a use after free otherwise).
void views_and_queue_lifetimes()
{
	const char *name = t_qname("views");
	ipcqpp::queue q = ipcqpp::queue::create(name, small_config(16));
	q.attach(ipcqpp::producer | ipcqpp::consumer);
	for (const char *m : { "a", "b", "c", "d" })
		q.send(m);
	{
		std::optional<ipcqpp::peeked> m = q.peek(ipcqpp::nowait);
		CHECK(m && m->view() == "a");
		ipcqpp::queue moved = std::move(q);
		ipcqpp::peeked kept = std::move(*m);
		m.reset(); // moved from: nothing to give back
		kept.release(); // through the queue object it now lives in
		std::optional<ipcqpp::peeked> next = moved.peek(ipcqpp::nowait);
		CHECK(next && next->view() == "b");
		q = std::move(moved);
	} // next released here, through q
	std::optional<ipcqpp::peeked> m = q.peek(ipcqpp::nowait);
	CHECK(m && m->view() == "c");
	{
		ipcqpp::queue p = ipcqpp::queue::open(name);
		p.attach(ipcqpp::producer);
		std::optional<ipcqpp::reservation> r = p.reserve(ipcqpp::nowait);
		CHECK(r);
		memcpy(r->data(), "late", 4);
		p.close(); // gives the reservation up
		try {
			r->commit(4);
			T_FAIL("a commit after the queue's close() did not throw");
		} catch (const ipcqpp::error &e) {
			CHECK(e.code() == std::errc::invalid_argument);
		}
		std::optional<ipcqpp::reservation> r2;
		{
			ipcqpp::queue p2 = ipcqpp::queue::open(name);
			p2.attach(ipcqpp::producer);
			r2 = p2.reserve(ipcqpp::nowait);
			CHECK(r2);
		} // p2 destroyed first: r2 given up
		r2.reset();
	}
	q.close(); // m given back first
	m.reset();
	ipcqpp::queue c = ipcqpp::queue::open(name);
	c.attach(ipcqpp::consumer);
	std::optional<std::string> got = c.recv_string(ipcqpp::nowait);
	CHECK(got && *got == "d"); // nothing of the reservations
	CHECK(!c.recv_string(ipcqpp::nowait));
	{
		// a detach gives the open peeked back too: a stale one must not
		// release the next peek's slot, nor outlive the queue
		ipcqpp::queue d = ipcqpp::queue::open(name);
		d.attach(ipcqpp::producer | ipcqpp::consumer);
		d.send("e");
		d.send("f");
		std::optional<ipcqpp::peeked> stale = d.peek(ipcqpp::nowait);
		CHECK(stale);
		std::optional<ipcqpp::reservation> stale_r = d.reserve(ipcqpp::nowait);
		CHECK(stale_r);
		d.detach();
		d.attach(ipcqpp::producer | ipcqpp::consumer);
		std::optional<ipcqpp::peeked> fresh = d.peek(ipcqpp::nowait);
		std::optional<ipcqpp::reservation> fresh_r = d.reserve(ipcqpp::nowait);
		CHECK(fresh && fresh_r);
		stale.reset();
		stale_r.reset();
		memcpy(fresh_r->data(), "g", 1);
		CHECK(fresh_r->commit(1) == ipcqpp::send_result::ok);
		fresh.reset(); // its own slot, given back once
		d.detach();
	}
	got = c.recv_string(ipcqpp::nowait);
	CHECK(got && *got == "g");
	CHECK(!c.recv_string(ipcqpp::nowait));
	ipcqpp::unlink(name);
}

void groups()
{
	const char *name = t_qname("grp");
	ipcq_config cfg = small_config(8);
	cfg.max_groups = 2;
	ipcqpp::queue q = ipcqpp::queue::create(name, cfg);
	CHECK(q.group_create("audit") == 0);
	CHECK(q.group_create("tap", IPCQ_GROUP_LOSSY) == 1);
	ipcqpp::queue p = ipcqpp::queue::open(name);
	p.attach(ipcqpp::producer);
	ipcqpp::queue a = ipcqpp::queue::open(name);
	ipcqpp::attach_options o;
	o.group = "audit";
	a.attach(ipcqpp::consumer, o);
	for (int i = 0; i < 8; i++)
		p.send("m");
	std::error_code ec;
	p.send("x", ipcqpp::nowait, ec); // the audit group holds the ring
	CHECK(ec == std::errc::resource_unavailable_try_again);
	std::vector<ipcq_group_info> g = q.groups();
	CHECK(g.size() == 2 && g[0].lag == 8 && g[0].holding == 1 && g[0].members == 1);
	a.detach();
	q.group_remove("audit");
	p.send("x", ipcqpp::nowait); // only the lossy group is left
	CHECK(q.groups().size() == 1);
	ipcqpp::unlink(name);
}

} // namespace

/* send_options: a priority and a key through ipcq_send_ex(); a bad one
 * fails both ways. */
void send_options()
{
	const char *name = t_qname("opts");
	ipcqpp::config cfg = small_config(16);
	cfg.priorities = 3;
	cfg.priority_share = 0;
	ipcqpp::queue q = ipcqpp::queue::create(name, cfg);
	q.attach(ipcqpp::producer | ipcqpp::consumer);
	CHECK(q.send("low") == ipcqpp::send_result::ok);
	CHECK(q.send("high", ipcqpp::send_options::at_priority(2)) == ipcqpp::send_result::ok);
	CHECK(q.send("mid", ipcqpp::send_options::at_priority(1)) == ipcqpp::send_result::ok);
	std::error_code ec;
	q.send("none", ipcqpp::send_options::at_priority(3), ipcqpp::nowait, ec);
	CHECK(ec == std::errc::invalid_argument);
	q.send("key", ipcqpp::send_options::with_key(7), ipcqpp::nowait, ec);
	CHECK(ec == std::errc::invalid_argument); /* the queue is not keyed */
	const char *want[] = { "high", "mid", "low" };
	for (uint32_t i = 0; i < 3; i++) {
		char buf[16];
		ipcqpp::msginfo info;
		std::optional<std::size_t> n = q.recv(buf, &info, ipcqpp::nowait);
		CHECK(n && std::string(buf, *n) == want[i] && ipcqpp::priority_of(info) == 2 - i);
	}
	CHECK(q.info().priorities == 3 && q.info().depth == 0);
	ipcqpp::unlink(name);
}

int main()
{
	try {
		cxx_producers_c_consumer();
		c_producers_cxx_consumer();
		killed_ack_consumer();
		errors_both_ways();
		zero_copy_and_named();
		views_and_queue_lifetimes();
		groups();
		send_options();
	} catch (const std::exception &e) {
		T_FAIL("unexpected exception: %s", e.what());
	}
	printf("t_cxx: ok\n");
	return 0;
}
