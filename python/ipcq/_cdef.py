"""The declarations of include/ipcq.h that the binding uses, for cffi.

Both backends start from them.  The compiled module (_build.py, cffi's API
mode) is compiled with ipcq.h, so the C compiler checks them there.  ABI
mode lays the structures out from these declarations alone, so they must
match the header exactly: python/tests/test_cdef.py compiles a C file that
includes ipcq.h and asserts every size, offset, constant and function type
given here, as ABI mode reads them (make python-test runs it).
"""

CDEF = """
#define IPCQ_VERSION 100
#define IPCQ_NAME_MAX 200
#define IPCQ_PARTICIPANT_NAME_MAX 47
#define IPCQ_ROLE_PRODUCER 1
#define IPCQ_ROLE_CONSUMER 2
#define IPCQ_OPEN_READONLY 1
#define IPCQ_OPEN_ANY_OWNER 2
#define IPCQ_ATTACH_ACK 1
#define IPCQ_ATTACH_DEDUP 2
#define IPCQ_ATTACH_LATE_RELEASE 4
#define IPCQ_ATTACH_SOLE 8
#define IPCQ_PART_SOLE_STORE_ENQ 65536
#define IPCQ_PART_SOLE_STORE_DEQ 131072
#define IPCQ_SEND_PRESSURE 1
#define IPCQ_SEND_DUPLICATE 2
#define IPCQ_MSG_REDELIVERED 1
#define IPCQ_MSG_REPLAYED 2
#define IPCQ_MSG_GAP 4
#define IPCQ_MSG_KEYED 8
#define IPCQ_SEND_F_KEY 1
#define IPCQ_PRIORITIES_MAX 8
#define IPCQ_GROUPS_MAX 64
#define IPCQ_GROUP_NAME_MAX 31
#define IPCQ_GROUP_LOSSY 1
#define IPCQ_GROUP_FROM_OLDEST 2
#define IPCQ_AUTO 4294967295
#define IPCQ_POISON_ALL 18446744073709551615
#define IPCQ_NUMA_ANY -1
#define IPCQ_NUMA_LOCAL -2
#define IPCQ_CF_EXPIRY 1
#define IPCQ_CF_EXPIRED_TO_SIDE 2
#define IPCQ_CF_KEYED 4

enum ipcq_wait_strategy {
	IPCQ_WAIT_DEFAULT = 0, IPCQ_WAIT_ADAPTIVE = 1, IPCQ_WAIT_BUSY_POLL = 2,
	IPCQ_WAIT_YIELD = 3,
};
enum ipcq_full_policy {
	IPCQ_FULL_BLOCK = 0, IPCQ_FULL_FAIL = 1, IPCQ_FULL_DROP_OLDEST = 2,
};
enum ipcq_nack_action { IPCQ_NACK_REQUEUE = 0, IPCQ_NACK_POISON = 1, };
enum ipcq_reason {
	IPCQ_REASON_NACKED = 1, IPCQ_REASON_MAX_DELIVERIES = 2,
	IPCQ_REASON_CONSUMER_CRASHED = 3, IPCQ_REASON_EXPIRED = 4,
	IPCQ_REASON_REFUSED = 5, IPCQ_REASON_TOO_LARGE = 6,
};

struct ipcq_config {
	uint32_t size;
	uint32_t capacity;
	uint32_t max_msg_size;
	uint32_t mode;
	uint32_t wait_strategy;
	uint32_t spin_count;
	uint32_t yield_count;
	uint32_t max_participants;
	uint32_t side_capacity;
	uint32_t max_deliveries;
	int32_t numa_node;
	uint32_t high_watermark;
	uint32_t low_watermark;
	uint32_t flags;
	uint32_t lease_capacity;
	uint32_t grace_us;
	uint32_t dedup_capacity;
	uint32_t retry_base_us;
	uint32_t retry_max_us;
	uint32_t retry_factor;
	uint32_t ttl_ms;
	uint32_t max_groups;
	uint32_t priorities;
	uint32_t priority_share;
};

struct ipcq;

struct ipcq_attach_opts {
	uint32_t size;
	uint32_t wait_strategy;
	uint32_t spin_count;
	uint32_t yield_count;
	const char *name;
	uint32_t flags;
	uint32_t prefetch;
	uint32_t full_policy;
	uint32_t reserved[5];
	const char *group;
};

struct ipcq_send_opts {
	uint32_t size;
	uint32_t flags;
	int64_t ttl_ns;
	uint64_t key;
	uint32_t priority;
	uint32_t reserved32;
	uint64_t seq;
	uint64_t reserved[3];
};

struct ipcq_buf {
	void *data;
	size_t len;
};

struct ipcq_msginfo {
	uint64_t len;
	uint64_t seq;
	uint64_t enqueue_ns;
	uint32_t producer;
	uint32_t deliveries;
	uint32_t flags;
	uint32_t stream;
	uint64_t token;
	uint64_t gap;
	uint64_t key;
};

struct ipcq_zmsg {
	const void *data;
	size_t len;
	struct ipcq_msginfo info;
};

struct ipcq_recovery {
	uint32_t size;
	uint32_t dead;
	uint64_t skipped;
	uint64_t redelivered;
	uint64_t completed;
	uint64_t poisoned;
	uint64_t freed;
	uint64_t pending;
	uint64_t reserved[4];
};

struct ipcq_poison {
	uint64_t id;
	uint64_t len;
	uint64_t seq;
	uint64_t first_ns;
	uint64_t last_ns;
	uint32_t producer;
	uint32_t deliveries;
	uint32_t reason;
	uint32_t last_consumer;
	uint32_t last_consumer_pid;
	uint32_t stream;
	uint32_t group;
	uint32_t priority;
};

struct ipcq_group_info {
	char name[32];
	uint32_t index;
	uint32_t flags;
	uint32_t members;
	uint32_t dead;
	uint64_t position;
	uint64_t start;
	uint64_t lag;
	uint64_t oldest_ns;
	uint64_t dropped;
	uint64_t created_ns;
	uint32_t holding;
	uint32_t reserved[3];
};

struct ipcq_info {
	uint32_t size;
	uint32_t capacity;
	uint32_t max_msg_size;
	uint32_t slot_size;
	uint32_t max_participants;
	uint32_t participants;
	uint32_t wait_strategy;
	uint32_t mode;
	uint64_t segment_size;
	uint64_t enqueued;
	uint64_t dequeued;
	uint64_t depth;
	uint64_t created_ns;
	int32_t participant_index;
	uint32_t side_capacity;
	uint32_t side_depth;
	uint32_t lease_capacity;
	uint32_t leased;
	uint32_t redeliverable;
	uint32_t max_deliveries;
	uint32_t grace_us;
	uint32_t pressure;
	uint32_t high_watermark;
	uint32_t low_watermark;
	uint32_t dedup_capacity;
	uint32_t dedup_names;
	uint32_t delayed;
	uint32_t retry_base_us;
	uint32_t retry_max_us;
	uint32_t max_groups;
	uint32_t groups;
	uint32_t key_waiting;
	uint32_t flags;
	uint32_t priorities;
	uint32_t priority_share;
	uint64_t lane_enqueued[8];
	uint64_t lane_dequeued[8];
};

struct ipcq_participant_stats {
	uint32_t index;
	uint32_t roles;
	uint32_t flags;
	uint32_t alive;
	uint32_t pid;
	uint32_t stream;
	char name[48];
	uint64_t attach_ns;
	uint64_t sent, sent_bytes, send_calls;
	uint64_t received, received_bytes, recv_calls;
	uint64_t full;
	uint64_t empty;
	uint64_t blocked_ns;
	uint64_t sleeps, wakes;
	uint64_t acks, nacks;
	uint64_t redeliveries;
	uint64_t poisoned;
	uint64_t recoveries;
	uint64_t side_full;
	uint64_t duplicates;
	uint64_t dropped;
	uint64_t pressure_on, pressure_off;
	uint32_t group;
	uint32_t reserved32;
	uint64_t reserved[5];
};

struct ipcq_stats {
	uint32_t size;
	uint32_t participants;
	struct ipcq_info info;
	uint64_t now_ns;
	uint64_t oldest_ns;
	uint64_t recoveries, skipped, redelivered, completed, poisoned, freed;
	uint64_t side_full;
	uint64_t takeovers;
	uint32_t side_by_reason[4];
	int32_t numa_node;
	uint32_t side_expired;
	uint64_t expired;
	uint32_t side_refused;
	uint32_t side_too_large;
	uint64_t reserved[6];
};

int ipcq_version(void);
const char *ipcq_version_string(void);
const char *ipcq_strerror(int err);
const char *ipcq_errdetail(void);
int ipcq_config_init(struct ipcq_config *cfg);
int ipcq_create(const char *name, const struct ipcq_config *cfg, struct ipcq **out);
int ipcq_open(const char *name, struct ipcq **out);
int ipcq_open_flags(const char *name, uint32_t flags, struct ipcq **out);
int ipcq_close(struct ipcq *q);
int ipcq_unlink(const char *name);
int ipcq_sweep(void);
int ipcq_attach_opts_init(struct ipcq_attach_opts *opts);
int ipcq_attach(struct ipcq *q, unsigned roles, const struct ipcq_attach_opts *opts);
int ipcq_detach(struct ipcq *q);
int ipcq_group_create(struct ipcq *q, const char *name, uint32_t flags);
int ipcq_group_remove(struct ipcq *q, const char *name);
int ipcq_group_list(struct ipcq *q, struct ipcq_group_info *out, unsigned n);
int ipcq_send(struct ipcq *q, const void *data, size_t len, int64_t timeout_ns);
int ipcq_send_ex(struct ipcq *q, const void *data, size_t len,
		 const struct ipcq_send_opts *opts, int64_t timeout_ns);
int ipcq_send_seq(struct ipcq *q, uint64_t seq, const void *data, size_t len,
		  int64_t timeout_ns);
int ipcq_last_seq(struct ipcq *q, uint64_t *seq);
int ipcq_dedup_remove(struct ipcq *q, const char *name);
int ipcq_pressure(struct ipcq *q);
int ipcq_wait_pressure(struct ipcq *q, int64_t timeout_ns);
int ipcq_send_batch(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n,
		    int64_t timeout_ns);
int ipcq_recv(struct ipcq *q, void *buf, size_t cap, struct ipcq_msginfo *info,
	      int64_t timeout_ns);
int ipcq_recv_batch(struct ipcq *q, struct ipcq_buf *msgs, struct ipcq_msginfo *infos,
		    unsigned n, int64_t timeout_ns);
int ipcq_reserve(struct ipcq *q, unsigned n, void **bufs, int64_t timeout_ns);
int ipcq_commit(struct ipcq *q, const size_t *lens, unsigned n);
int ipcq_peek(struct ipcq *q, struct ipcq_zmsg *msgs, unsigned n, int64_t timeout_ns);
int ipcq_release(struct ipcq *q);
int ipcq_ack(struct ipcq *q, uint64_t token);
int ipcq_nack(struct ipcq *q, uint64_t token, unsigned action);
int ipcq_nack_delay(struct ipcq *q, uint64_t token, int64_t delay_ns);
int ipcq_recover(struct ipcq *q, struct ipcq_recovery *report);
int ipcq_poison_list(struct ipcq *q, uint64_t after, struct ipcq_poison *out, unsigned n);
int ipcq_poison_peek(struct ipcq *q, uint64_t id, void *buf, size_t cap,
		     struct ipcq_poison *info);
int ipcq_poison_replay(struct ipcq *q, uint64_t id);
int ipcq_poison_purge(struct ipcq *q, uint64_t id);
int ipcq_poison_put(struct ipcq *q, const void *data, size_t len, unsigned reason,
		    uint64_t seq, uint32_t deliveries);
int ipcq_info(struct ipcq *q, struct ipcq_info *info);
int ipcq_open_readonly(const char *name, struct ipcq **out);
int ipcq_stats(struct ipcq *q, struct ipcq_stats *st,
	       struct ipcq_participant_stats *parts, unsigned nparts);
int ipcq_numa_node(struct ipcq *q);
"""

# Public functions of ipcq.h the binding does not declare, and why; the
# sync test fails on any other function of the header missing above.
NOT_BOUND = {
    "ipcq_list": "a C callback; Python lists /dev/shm itself (ipcq.list_queues)",
    "ipcq_browse": "a debugging read for ipcq-ctl peek and tail",
    "ipcq_browse_lane": "the same, on one priority lane",
    "ipcq_numa_placement": "ipcq-stat shows it",
    "ipcq_pin_thread": "pins a C thread; os.sched_setaffinity does it in Python",
    "ipcq_app_counter_set": "a C participant's own counters; ipcq-stat shows them",
    "ipcq_app_counters": "read by ipcq-stat beside the participant table",
}
