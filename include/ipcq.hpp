/*
 * ipcq.hpp - C++17 interface to ipcq, header only, over the C API of ipcq.h.
 *
 * Everything lives in namespace ipcqpp (a namespace cannot be called ipcq:
 * ipcq.h declares struct ipcq in the global namespace).  What each call
 * does, and every error it may report, is documented at the C function it
 * wraps in ipcq.h; this header documents what it adds:
 *
 *  - RAII: ipcqpp::queue owns a struct ipcq * and closes it when destroyed
 *    (move-only); ipcqpp::reservation and ipcqpp::peeked own a zero-copy
 *    reservation and a peeked message and give them back when destroyed.
 *  - Sends take ipcqpp::const_bytes: a pointer and a length, a
 *    std::string_view, a string literal, or any contiguous container of
 *    trivially copyable elements (std::vector<T>, std::array<T, N>,
 *    std::string, std::span).  Receives fill ipcqpp::mutable_bytes (the
 *    same, writable) and return std::optional: empty when no message came
 *    within the timeout.
 *  - Errors, as the caller chooses: each call throws ipcqpp::error (a
 *    std::system_error whose code() is in ipcqpp::category(), with the
 *    library's detail text), or, in the overload that takes a
 *    std::error_code &, sets it and throws nothing (std::errc values
 *    compare equal: ec == std::errc::invalid_argument).
 *  - Timeouts are std::chrono durations: ipcqpp::nowait, ipcqpp::forever or
 *    any positive duration (converted to nanoseconds).
 *
 * Every member is inline and adds no work to the C call on the success
 * path (make bench-cxx measures it).  The thread rules of ipcq.h apply.
 */
#ifndef IPCQ_HPP
#define IPCQ_HPP

#include "ipcq.h"

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <vector>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace ipcqpp {

/** Timeouts: IPCQ_NOWAIT and IPCQ_FOREVER as durations. */
inline constexpr std::chrono::nanoseconds nowait{0};
inline constexpr std::chrono::nanoseconds forever{-1};

/** The library's version ("MAJOR.MINOR.PATCH" of the linked libipcq). */
inline const char *version() noexcept { return ipcq_version_string(); }

/** ipcq_errdetail(): what the last failed call of this thread refused. */
inline const char *errdetail() noexcept { return ipcq_errdetail(); }

/** The error category of ipcq's codes: message() is ipcq_strerror();
 *  each code is equivalent to the std::errc of the same errno value. */
class error_category : public std::error_category {
public:
	/** "ipcq". */
	const char *name() const noexcept override { return "ipcq"; }
	/** ipcq_strerror() of the code. */
	std::string message(int ev) const override { return ipcq_strerror(ev); }
	/** The generic (errno) condition of the same value. */
	std::error_condition default_error_condition(int ev) const noexcept override
	{
		return std::error_condition(ev, std::generic_category());
	}
};

/** The one instance of error_category. */
inline const std::error_category &category() noexcept
{
	static const error_category instance;
	return instance;
}

/** An ipcq return value (negative errno) as a std::error_code. */
inline std::error_code make_error_code(int rc) noexcept
{
	return std::error_code(rc < 0 ? -rc : rc, category());
}

/** What the throwing calls throw: code() is the errno value in category(),
 *  what() names the C call, its sentence and the library's detail. */
class error : public std::system_error {
public:
	/** @rc: the C call's return value, @call: its name, @detail: ipcq_errdetail() or "". */
	error(int rc, const char *call, std::string detail)
		: std::system_error(make_error_code(rc),
				    detail.empty() ? std::string(call) : std::string(call) + ": " + detail),
		  detail_(std::move(detail))
	{
	}
	/** The library's detail text ("" when the call sets none). */
	const std::string &detail() const noexcept { return detail_; }

private:
	std::string detail_;
};

namespace detail {

[[noreturn]] __attribute__((cold, noinline)) inline void raise(int rc, const char *call,
								bool with_detail)
{
	throw error(rc, call, with_detail ? ipcq_errdetail() : "");
}

inline int check(int rc, const char *call, bool with_detail = false)
{
	if (__builtin_expect(rc < 0, 0))
		raise(rc, call, with_detail);
	return rc;
}

inline int set(std::error_code &ec, int rc) noexcept
{
	if (rc < 0)
		ec = make_error_code(rc);
	else
		ec.clear();
	return rc;
}

inline int64_t ns(std::chrono::nanoseconds t) noexcept { return (int64_t)t.count(); }

inline std::string cstr(std::string_view s) { return std::string(s); }

/* Contiguous containers of trivially copyable elements (std::data, std::size). */
template <class C, class = void>
struct contiguous : std::false_type {};
template <class C>
struct contiguous<C, std::void_t<decltype(std::data(std::declval<C &>())),
				 decltype(std::size(std::declval<C &>()))>>
	: std::is_trivially_copyable<std::remove_pointer_t<decltype(std::data(std::declval<C &>()))>> {};

} // namespace detail

/** A read-only run of bytes for the sends (span-style; does not own them). */
class const_bytes {
public:
	/** No bytes (an empty message). */
	constexpr const_bytes() noexcept = default;
	/** @size bytes at @data. */
	constexpr const_bytes(const void *data, std::size_t size) noexcept : data_(data), size_(size) {}
	/** The characters of @s. */
	constexpr const_bytes(std::string_view s) noexcept : data_(s.data()), size_(s.size()) {}
	/** A NUL-terminated string, without its NUL. */
	const_bytes(const char *s) noexcept : data_(s), size_(std::strlen(s)) {}
	/** The elements of a contiguous container (vector, array, string, span). */
	template <class C, class = std::enable_if_t<detail::contiguous<const C>::value &&
						   !std::is_convertible_v<const C &, const char *>>>
	constexpr const_bytes(const C &c) noexcept
		: data_(std::data(c)), size_(std::size(c) * sizeof(*std::data(c)))
	{
	}
	/** The first byte. */
	constexpr const void *data() const noexcept { return data_; }
	/** How many bytes. */
	constexpr std::size_t size() const noexcept { return size_; }

private:
	const void *data_ = nullptr;
	std::size_t size_ = 0;
};

/** A writable run of bytes for the receives (span-style; does not own them). */
class mutable_bytes {
public:
	/** @size bytes at @data. */
	constexpr mutable_bytes(void *data, std::size_t size) noexcept : data_(data), size_(size) {}
	/** The elements of a non-const contiguous container (vector, array, string). */
	template <class C, class = std::enable_if_t<detail::contiguous<C>::value &&
						   !std::is_const_v<std::remove_pointer_t<
							   decltype(std::data(std::declval<C &>()))>>>>
	constexpr mutable_bytes(C &c) noexcept
		: data_(std::data(c)), size_(std::size(c) * sizeof(*std::data(c)))
	{
	}
	/** The first byte. */
	constexpr void *data() const noexcept { return data_; }
	/** How many bytes. */
	constexpr std::size_t size() const noexcept { return size_; }

private:
	void *data_;
	std::size_t size_;
};

/** Queue configuration: struct ipcq_config with every default set. */
struct config : ipcq_config {
	/** The defaults of IPCQ_CONFIG_INIT; change fields before create(). */
	config() noexcept : ipcq_config() { ipcq_config_init(this); }
};

/** Attach options: struct ipcq_attach_opts with every default set. */
struct attach_options : ipcq_attach_opts {
	/** The defaults of IPCQ_ATTACH_OPTS_INIT; change fields before attach(). */
	attach_options() noexcept : ipcq_attach_opts() { ipcq_attach_opts_init(this); }
};

/** Send options: struct ipcq_send_opts with nothing set (IPCQ_SEND_OPTS_INIT);
 *  set ttl_ns, key (with flags = IPCQ_SEND_F_KEY) or priority before send(). */
struct send_options : ipcq_send_opts {
	send_options() noexcept : ipcq_send_opts() { size = sizeof(ipcq_send_opts); }
	/** A message at priority @p (a queue with config::priorities > 1). */
	static send_options at_priority(uint32_t p) noexcept
	{
		send_options o;
		o.priority = p;
		return o;
	}
	/** A message with key @k (a queue with IPCQ_CF_KEYED). */
	static send_options with_key(uint64_t k) noexcept
	{
		send_options o;
		o.flags = IPCQ_SEND_F_KEY;
		o.key = k;
		return o;
	}
};

/** A receive's metadata (struct ipcq_msginfo). */
using msginfo = ipcq_msginfo;

/** The priority a message was sent with (IPCQ_MSG_PRIORITY of its flags). */
inline uint32_t priority_of(const msginfo &m) noexcept { return IPCQ_MSG_PRIORITY(m.flags); }

/** What a successful send did: ok, ok above the high watermark, or not
 *  enqueued because it was a named producer's duplicate. */
enum class send_result { ok = 0, pressure = IPCQ_SEND_PRESSURE, duplicate = IPCQ_SEND_DUPLICATE };

/** ipcq_nack()'s actions. */
enum class nack_action : unsigned { requeue = IPCQ_NACK_REQUEUE, poison = IPCQ_NACK_POISON };

/** Roles for queue::attach(); combine with |. */
inline constexpr unsigned producer = IPCQ_ROLE_PRODUCER;
inline constexpr unsigned consumer = IPCQ_ROLE_CONSUMER;

class queue;

/** Slots reserved for writing in place (queue::reserve()); move-only.
 *  Destroyed without commit(), it gives the slots up (consumers pass them),
 *  and so does its queue's close(), destruction or release(), after which
 *  data() must not be used and commit() throws (EINVAL).  It refers to its
 *  queue object: moving either keeps the two tied. */
class reservation {
public:
	reservation(reservation &&o) noexcept
		: owner_(std::exchange(o.owner_, nullptr)), buf_(o.buf_), cap_(o.cap_)
	{
		relink();
	}
	reservation &operator=(reservation &&o) noexcept
	{
		if (this != &o) {
			cancel();
			owner_ = std::exchange(o.owner_, nullptr);
			buf_ = o.buf_;
			cap_ = o.cap_;
			relink();
		}
		return *this;
	}
	reservation(const reservation &) = delete;
	reservation &operator=(const reservation &) = delete;
	~reservation() { cancel(); }

	/** Where to write the message: capacity() bytes inside the queue. */
	void *data() const noexcept { return buf_; }
	/** Room at data(): the queue's max_msg_size. */
	std::size_t capacity() const noexcept { return cap_; }
	/** Publish the first @len bytes (ipcq_commit); throws ipcqpp::error. */
	send_result commit(std::size_t len)
	{
		int rc = detail::check(ipcq_commit(handle(), &len, 1), "ipcq_commit");
		unlink();
		return static_cast<send_result>(rc);
	}
	/** The same, reporting through @ec. */
	send_result commit(std::size_t len, std::error_code &ec) noexcept
	{
		int rc = detail::set(ec, ipcq_commit(handle(), &len, 1));
		if (rc >= 0)
			unlink();
		return static_cast<send_result>(rc < 0 ? 0 : rc);
	}
	/** Give the slot up unpublished (also what the destructor does). */
	void cancel() noexcept
	{
		if (ipcq *q = handle()) {
			unlink();
			(void)ipcq_commit(q, nullptr, 0);
		}
	}

private:
	friend class queue;
	reservation(queue *owner, void *buf, std::size_t cap) noexcept
		: owner_(owner), buf_(buf), cap_(cap)
	{
		relink();
	}
	inline ipcq *handle() const noexcept;
	inline void relink() noexcept;
	inline void unlink() noexcept;
	queue *owner_;
	void *buf_;
	std::size_t cap_;
};

/** A message read in place (queue::peek()); move-only.  data() stays valid
 *  until release() or destruction (fast mode: the slot is given back), or,
 *  in ack mode, until the message is acked or nacked; its queue's close(),
 *  destruction or release() release it first.  It refers to its queue
 *  object: moving either keeps the two tied. */
class peeked {
public:
	peeked(peeked &&o) noexcept : owner_(std::exchange(o.owner_, nullptr)), msg_(o.msg_)
	{
		relink();
	}
	peeked &operator=(peeked &&o) noexcept
	{
		if (this != &o) {
			release();
			owner_ = std::exchange(o.owner_, nullptr);
			msg_ = o.msg_;
			relink();
		}
		return *this;
	}
	peeked(const peeked &) = delete;
	peeked &operator=(const peeked &) = delete;
	~peeked() { release(); }

	/** The payload, inside the queue. */
	const void *data() const noexcept { return msg_.data; }
	/** Payload length. */
	std::size_t size() const noexcept { return msg_.len; }
	/** The payload as characters. */
	std::string_view view() const noexcept
	{
		return std::string_view(static_cast<const char *>(msg_.data), msg_.len);
	}
	/** Its metadata (info().token in ack mode). */
	const msginfo &info() const noexcept { return msg_.info; }
	/** Give the slot back (ipcq_release); data() is invalid afterwards. */
	void release() noexcept
	{
		if (ipcq *q = handle()) {
			unlink();
			(void)ipcq_release(q);
		}
	}

private:
	friend class queue;
	peeked(queue *owner, const ipcq_zmsg &m) noexcept : owner_(owner), msg_(m) { relink(); }
	inline ipcq *handle() const noexcept;
	inline void relink() noexcept;
	inline void unlink() noexcept;
	queue *owner_;
	ipcq_zmsg msg_;
};

/** An open queue: owns a struct ipcq * (ipcq_close() when destroyed). */
class queue {
public:
	/** No queue (operator bool is false). */
	queue() noexcept = default;
	/** Take ownership of a handle from the C API. */
	explicit queue(ipcq *q) noexcept : q_(q) { cache(); }
	queue(queue &&o) noexcept
		: q_(std::exchange(o.q_, nullptr)), max_msg_(o.max_msg_),
		  res_(std::exchange(o.res_, nullptr)), peek_(std::exchange(o.peek_, nullptr))
	{
		adopt();
	}
	queue &operator=(queue &&o) noexcept
	{
		if (this != &o) {
			close();
			q_ = std::exchange(o.q_, nullptr);
			max_msg_ = o.max_msg_;
			res_ = std::exchange(o.res_, nullptr);
			peek_ = std::exchange(o.peek_, nullptr);
			adopt();
		}
		return *this;
	}
	queue(const queue &) = delete;
	queue &operator=(const queue &) = delete;
	~queue() { close(); }

	/** ipcq_create(): a new queue, opened.  Throws ipcqpp::error with the detail. */
	static queue create(std::string_view name, const ipcq_config &cfg = config())
	{
		ipcq *q = nullptr;
		detail::check(ipcq_create(detail::cstr(name).c_str(), &cfg, &q), "ipcq_create", true);
		return queue(q);
	}
	/** ipcq_create(), reporting through @ec (an empty queue on failure). */
	static queue create(std::string_view name, const ipcq_config &cfg, std::error_code &ec)
	{
		ipcq *q = nullptr;
		detail::set(ec, ipcq_create(detail::cstr(name).c_str(), &cfg, &q));
		return queue(q);
	}
	/** ipcq_open_flags(): an existing queue (@flags: IPCQ_OPEN_*). */
	static queue open(std::string_view name, uint32_t flags = 0)
	{
		ipcq *q = nullptr;
		detail::check(ipcq_open_flags(detail::cstr(name).c_str(), flags, &q), "ipcq_open", true);
		return queue(q);
	}
	/** ipcq_open_flags(), reporting through @ec. */
	static queue open(std::string_view name, uint32_t flags, std::error_code &ec)
	{
		ipcq *q = nullptr;
		detail::set(ec, ipcq_open_flags(detail::cstr(name).c_str(), flags, &q));
		return queue(q);
	}

	/** ipcq_close() now (the destructor does it otherwise), after giving
	 *  back the open peeked and reservation, if any. */
	void close() noexcept
	{
		end_views();
		if (q_)
			(void)ipcq_close(std::exchange(q_, nullptr));
	}
	/** True while it holds a handle. */
	explicit operator bool() const noexcept { return q_ != nullptr; }
	/** The C handle, for calls this header does not wrap. */
	ipcq *native_handle() const noexcept { return q_; }
	/** Give up ownership of the C handle (the caller closes it), after
	 *  giving back the open peeked and reservation, if any. */
	ipcq *release() noexcept
	{
		end_views();
		return std::exchange(q_, nullptr);
	}
	/** The queue's largest message (max_msg_size). */
	std::size_t max_msg_size() const noexcept { return max_msg_; }

	/** ipcq_attach() with @roles (producer, consumer or both). */
	void attach(unsigned roles, const ipcq_attach_opts &opts = attach_options())
	{
		detail::check(ipcq_attach(q_, roles, &opts), "ipcq_attach", true);
	}
	/** ipcq_attach(), reporting through @ec. */
	void attach(unsigned roles, const ipcq_attach_opts &opts, std::error_code &ec) noexcept
	{
		detail::set(ec, ipcq_attach(q_, roles, &opts));
	}
	/** ipcq_detach(), after giving back the open peeked and reservation,
	 *  if any (the detach would give them back under them). */
	void detach()
	{
		end_views();
		detail::check(ipcq_detach(q_), "ipcq_detach");
	}

	/** ipcq_group_create(): a consumer group (IPCQ_GROUP_* flags); its index. */
	int group_create(const char *name, uint32_t flags = 0)
	{
		return detail::check(ipcq_group_create(q_, name, flags), "ipcq_group_create", true);
	}
	/** ipcq_group_remove(). */
	void group_remove(const char *name)
	{
		detail::check(ipcq_group_remove(q_, name), "ipcq_group_remove", true);
	}
	/** ipcq_group_list(): every group. */
	std::vector<ipcq_group_info> groups()
	{
		std::vector<ipcq_group_info> v;
		for (;;) {
			int n = detail::check(ipcq_group_list(q_, v.data(), static_cast<unsigned>(v.size())),
					      "ipcq_group_list");
			if (static_cast<size_t>(n) <= v.size()) {
				v.resize(static_cast<size_t>(n));
				return v;
			}
			v.resize(static_cast<size_t>(n));
		}
	}

	/** ipcq_send(): one message; throws on any error (-ETIMEDOUT included). */
	send_result send(const_bytes msg, std::chrono::nanoseconds timeout = forever)
	{
		return static_cast<send_result>(detail::check(
			ipcq_send(q_, msg.data(), msg.size(), detail::ns(timeout)), "ipcq_send", true));
	}
	/** ipcq_send(), reporting through @ec (ok is returned on failure). */
	send_result send(const_bytes msg, std::chrono::nanoseconds timeout, std::error_code &ec) noexcept
	{
		int rc = detail::set(ec, ipcq_send(q_, msg.data(), msg.size(), detail::ns(timeout)));
		return static_cast<send_result>(rc < 0 ? 0 : rc);
	}
	/** ipcq_send_ex(): one message with options (a time to live, a key, a
	 *  priority); throws on any error (-ETIMEDOUT included). */
	send_result send(const_bytes msg, const send_options &opts,
			 std::chrono::nanoseconds timeout = forever)
	{
		return static_cast<send_result>(detail::check(
			ipcq_send_ex(q_, msg.data(), msg.size(), &opts, detail::ns(timeout)),
			"ipcq_send_ex", true));
	}
	/** ipcq_send_ex(), reporting through @ec (ok is returned on failure). */
	send_result send(const_bytes msg, const send_options &opts, std::chrono::nanoseconds timeout,
			 std::error_code &ec) noexcept
	{
		int rc = detail::set(ec, ipcq_send_ex(q_, msg.data(), msg.size(), &opts, detail::ns(timeout)));
		return static_cast<send_result>(rc < 0 ? 0 : rc);
	}
	/** ipcq_send_seq(): a named producer's message with its own sequence. */
	send_result send_seq(uint64_t seq, const_bytes msg, std::chrono::nanoseconds timeout = forever)
	{
		return static_cast<send_result>(detail::check(
			ipcq_send_seq(q_, seq, msg.data(), msg.size(), detail::ns(timeout)),
			"ipcq_send_seq", true));
	}
	/** ipcq_send_seq(), reporting through @ec. */
	send_result send_seq(uint64_t seq, const_bytes msg, std::chrono::nanoseconds timeout,
			     std::error_code &ec) noexcept
	{
		int rc = detail::set(ec, ipcq_send_seq(q_, seq, msg.data(), msg.size(), detail::ns(timeout)));
		return static_cast<send_result>(rc < 0 ? 0 : rc);
	}
	/** ipcq_last_seq(): where a restarted named producer resumes. */
	uint64_t last_seq()
	{
		uint64_t seq = 0;
		detail::check(ipcq_last_seq(q_, &seq), "ipcq_last_seq");
		return seq;
	}

	/** ipcq_recv() into @buf: the length, or nothing when no message came
	 *  in time (-EAGAIN, -ETIMEDOUT); throws on the other errors. */
	std::optional<std::size_t> recv(mutable_bytes buf, msginfo *info = nullptr,
					std::chrono::nanoseconds timeout = forever)
	{
		int rc = ipcq_recv(q_, buf.data(), buf.size(), info, detail::ns(timeout));
		if (__builtin_expect(rc >= 0, 1))
			return std::size_t(rc);
		if (rc == -ETIMEDOUT || rc == -EAGAIN)
			return std::nullopt;
		detail::raise(rc, "ipcq_recv", false);
	}
	/** ipcq_recv(), reporting every failure (timeouts too) through @ec. */
	std::optional<std::size_t> recv(mutable_bytes buf, msginfo *info, std::chrono::nanoseconds timeout,
					std::error_code &ec) noexcept
	{
		int rc = detail::set(ec, ipcq_recv(q_, buf.data(), buf.size(), info, detail::ns(timeout)));
		return rc < 0 ? std::nullopt : std::optional<std::size_t>(std::size_t(rc));
	}
	/** ipcq_recv() into a new string of the message's size, as recv(). */
	std::optional<std::string> recv_string(std::chrono::nanoseconds timeout = forever,
					       msginfo *info = nullptr)
	{
		std::string s(max_msg_, '\0');
		std::optional<std::size_t> n = recv(s, info, timeout);
		if (!n)
			return std::nullopt;
		s.resize(*n);
		return s;
	}

	/** ipcq_reserve() of one slot: nothing when no room came in time. */
	std::optional<reservation> reserve(std::chrono::nanoseconds timeout = forever)
	{
		void *buf = nullptr;
		int rc = ipcq_reserve(q_, 1, &buf, detail::ns(timeout));
		if (rc == -ETIMEDOUT || rc == -EAGAIN)
			return std::nullopt;
		detail::check(rc, "ipcq_reserve", true);
		return reservation(this, buf, max_msg_);
	}
	/** ipcq_peek() of one message: nothing when none came in time. */
	std::optional<peeked> peek(std::chrono::nanoseconds timeout = forever)
	{
		ipcq_zmsg m;
		int rc = ipcq_peek(q_, &m, 1, detail::ns(timeout));
		if (rc == -ETIMEDOUT || rc == -EAGAIN)
			return std::nullopt;
		detail::check(rc, "ipcq_peek");
		return peeked(this, m);
	}

	/** ipcq_ack(): the message of @token is processed. */
	void ack(uint64_t token) { detail::check(ipcq_ack(q_, token), "ipcq_ack"); }
	/** ipcq_ack(), reporting through @ec. */
	void ack(uint64_t token, std::error_code &ec) noexcept { detail::set(ec, ipcq_ack(q_, token)); }
	/** ipcq_nack(): true when the message went to the side ring. */
	bool nack(uint64_t token, nack_action action = nack_action::requeue)
	{
		return detail::check(ipcq_nack(q_, token, static_cast<unsigned>(action)), "ipcq_nack") == 1;
	}
	/** ipcq_recover(): take over the work of dead participants now. */
	ipcq_recovery recover()
	{
		ipcq_recovery r{};
		r.size = sizeof r;
		detail::check(ipcq_recover(q_, &r), "ipcq_recover", true);
		return r;
	}

	/** ipcq_info(). */
	struct ipcq_info info() const
	{
		struct ipcq_info i{};
		i.size = sizeof i;
		detail::check(ipcq_info(q_, &i), "ipcq_info");
		return i;
	}
	/** ipcq_stats(); @parts (if given) receives every participant's record. */
	struct ipcq_stats stats(std::vector<ipcq_participant_stats> *parts = nullptr) const
	{
		struct ipcq_stats st{};
		st.size = sizeof st;
		std::vector<ipcq_participant_stats> room(parts ? info().max_participants : 0);
		int n = detail::check(ipcq_stats(q_, &st, room.data(), unsigned(room.size())), "ipcq_stats");
		if (parts) {
			room.resize(std::size_t(n));
			*parts = std::move(room);
		}
		return st;
	}

	/** ipcq_poison_list(): every side-ring entry after @after, oldest first. */
	std::vector<ipcq_poison> poison_list(uint64_t after = 0) const
	{
		std::vector<ipcq_poison> out;
		ipcq_poison page[64];
		for (;;) {
			int n = detail::check(ipcq_poison_list(q_, after, page, 64), "ipcq_poison_list");
			out.insert(out.end(), page, page + n);
			if (n < 64)
				return out;
			after = page[n - 1].id;
		}
	}
	/** ipcq_poison_peek(): one entry's payload. */
	std::string poison_peek(uint64_t id) const
	{
		std::string s(max_msg_, '\0');
		int n = detail::check(ipcq_poison_peek(q_, id, s.data(), s.size(), nullptr), "ipcq_poison_peek");
		s.resize(std::size_t(n));
		return s;
	}
	/** ipcq_poison_replay(): how many entries went back to the main ring. */
	unsigned poison_replay(uint64_t id = IPCQ_POISON_ALL)
	{
		return unsigned(detail::check(ipcq_poison_replay(q_, id), "ipcq_poison_replay", true));
	}
	/** ipcq_poison_purge(): how many entries were deleted. */
	unsigned poison_purge(uint64_t id = IPCQ_POISON_ALL)
	{
		return unsigned(detail::check(ipcq_poison_purge(q_, id), "ipcq_poison_purge"));
	}

private:
	void cache() noexcept
	{
		struct ipcq_info i{};
		i.size = sizeof i;
		if (q_ && ipcq_info(q_, &i) == 0)
			max_msg_ = i.max_msg_size;
	}
	/* The open reservation and peeked (one of each at most: the C API
	 * holds one of each per handle), told here where this object is. */
	void adopt() noexcept
	{
		if (res_)
			res_->owner_ = this;
		if (peek_)
			peek_->owner_ = this;
	}
	void end_views() noexcept
	{
		if (peek_)
			peek_->release();
		if (res_)
			res_->cancel();
	}
	friend class reservation;
	friend class peeked;
	ipcq *q_ = nullptr;
	std::size_t max_msg_ = 0;
	reservation *res_ = nullptr; /* the open reservation, written by the sender */
	peeked *peek_ = nullptr;     /* the open peeked, written by the receiver */
};

inline ipcq *reservation::handle() const noexcept { return owner_ ? owner_->q_ : nullptr; }
inline void reservation::relink() noexcept
{
	if (owner_)
		owner_->res_ = this;
}
inline void reservation::unlink() noexcept
{
	if (owner_)
		std::exchange(owner_, nullptr)->res_ = nullptr;
}
inline ipcq *peeked::handle() const noexcept { return owner_ ? owner_->q_ : nullptr; }
inline void peeked::relink() noexcept
{
	if (owner_)
		owner_->peek_ = this;
}
inline void peeked::unlink() noexcept
{
	if (owner_)
		std::exchange(owner_, nullptr)->peek_ = nullptr;
}

/** ipcq_unlink(): remove a queue's name. */
inline void unlink(std::string_view name)
{
	detail::check(ipcq_unlink(detail::cstr(name).c_str()), "ipcq_unlink", true);
}
/** ipcq_unlink(), reporting through @ec. */
inline void unlink(std::string_view name, std::error_code &ec)
{
	detail::set(ec, ipcq_unlink(detail::cstr(name).c_str()));
}

} // namespace ipcqpp

#endif /* IPCQ_HPP */
