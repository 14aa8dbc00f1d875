/* Version calls, ipcq_strerror(), and the config and attach-options initializers. */
#include "ipcq.h"
#include "testutil.h"

static const int documented_errors[] = {
	EINVAL, ENAMETOOLONG, EEXIST, ENOSPC, EFBIG, EACCES, ENOMEM, ENOENT, ELOOP, EPERM,
	EPROTO, EBADMSG, EALREADY, EUSERS, ENOLCK, EMSGSIZE, EAGAIN, ETIMEDOUT, EINTR, ENOBUFS,
	EBUSY, ESTALE,
};
#define N_ERRORS (sizeof(documented_errors) / sizeof(documented_errors[0]))

static void test_version(void)
{
	char want[32];
	CHECK_RC(ipcq_version(), IPCQ_VERSION);
	snprintf(want, sizeof(want), "%d.%d.%d", IPCQ_VERSION_MAJOR, IPCQ_VERSION_MINOR,
		 IPCQ_VERSION_PATCH);
	CHECK(ipcq_version_string() != NULL);
	CHECK(strcmp(ipcq_version_string(), want) == 0);
}

static void test_strerror(void)
{
	const char *s[N_ERRORS];
	for (size_t i = 0; i < N_ERRORS; i++) {
		int e = documented_errors[i];
		s[i] = ipcq_strerror(-e);
		CHECK(s[i] != NULL && s[i][0] != '\0');
		/* a positive errno value means the same error */
		CHECK(ipcq_strerror(e) != NULL);
		if (strcmp(ipcq_strerror(e), s[i]) != 0)
			T_FAIL("ipcq_strerror(%d) \"%s\" differs from ipcq_strerror(%d) \"%s\"", e,
			       ipcq_strerror(e), -e, s[i]);
	}
	/* every documented error gets its own sentence */
	for (size_t i = 0; i < N_ERRORS; i++)
		for (size_t j = i + 1; j < N_ERRORS; j++)
			if (strcmp(s[i], s[j]) == 0)
				T_FAIL("errors %d and %d share the sentence \"%s\"",
				       documented_errors[i], documented_errors[j], s[i]);
	/* success, unknown values and extremes still give a sentence */
	const int odd[] = { 0, 1, -1, 4095, -4095, 100000, -100000, INT32_MAX, INT32_MIN };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		const char *t = ipcq_strerror(odd[i]);
		CHECK(t != NULL && t[0] != '\0');
	}
}

static void test_config_init(void)
{
	struct ipcq_config want = IPCQ_CONFIG_INIT, got;
	memset(&got, 0xa5, sizeof(got));
	CHECK_RC(ipcq_config_init(&got), 0);
	CHECK(memcmp(&got, &want, sizeof(got)) == 0);
	CHECK(got.size == sizeof(struct ipcq_config));
	CHECK(got.capacity == 1024 && got.max_msg_size == 1024 && got.mode == 0600);
	CHECK(got.wait_strategy == IPCQ_WAIT_ADAPTIVE);
	CHECK(got.spin_count == 200 && got.yield_count == 20 && got.max_participants == 64);
	CHECK(got.side_capacity == IPCQ_AUTO && got.max_deliveries == 5);
	CHECK(got.lease_capacity == IPCQ_AUTO && got.grace_us == 10000);
	CHECK(got.numa_node == IPCQ_NUMA_ANY);
	CHECK(got.high_watermark == 0 && got.low_watermark == 0 && got.flags == 0);
	CHECK_RC(ipcq_config_init(NULL), -EINVAL);
}

static void test_attach_opts_init(void)
{
	struct ipcq_attach_opts want = IPCQ_ATTACH_OPTS_INIT, got;
	memset(&got, 0xa5, sizeof(got));
	CHECK_RC(ipcq_attach_opts_init(&got), 0);
	CHECK(got.size == sizeof(struct ipcq_attach_opts));
	CHECK(got.wait_strategy == IPCQ_WAIT_DEFAULT);
	CHECK(got.spin_count == UINT32_MAX && got.yield_count == UINT32_MAX);
	CHECK(got.name == NULL && got.flags == 0 && got.prefetch == IPCQ_AUTO);
	for (size_t i = 0; i < sizeof(got.reserved) / sizeof(got.reserved[0]); i++)
		CHECK(got.reserved[i] == 0);
	CHECK(memcmp(&want, &got, sizeof(got)) == 0);
	CHECK_RC(ipcq_attach_opts_init(NULL), -EINVAL);
}

int main(void)
{
	test_version();
	test_strerror();
	test_config_init();
	test_attach_opts_init();
	return 0;
}
