/*
 * test_auth.c — the pure half of bearer credentials: key generation and parsing, constant-time
 * comparison, the operator key check and the Authorization header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "auth.h"
#include "banned.h"

#define SECRET_OFFSET (4 + AUTH_KEY_ID_LEN + 1)

static void generate(struct auth_key *k)
{
	struct err e = ERR_INIT;

	memset(k, 0x5a, sizeof(*k));
	if (!auth_key_generate(k, &e))
		fail_msg("auth_key_generate: %s", e.message);
	assert_int_equal(e.status, 0);
	err_release(&e);
}

static bool is_lower_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

static bool is_base64url(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       ch == '-' || ch == '_';
}

static void test_generate_shape(void **state)
{
	struct auth_key k;

	(void)state;
	assert_int_equal(AUTH_KEY_LEN, 64);
	generate(&k);
	assert_int_equal(strlen(k.text), AUTH_KEY_LEN);
	assert_memory_equal(k.text, "tsk_", 4);
	assert_int_equal(k.text[4 + AUTH_KEY_ID_LEN], '_');
	assert_int_equal(strlen(k.key_id), AUTH_KEY_ID_LEN);
	assert_memory_equal(k.text + 4, k.key_id, AUTH_KEY_ID_LEN);
	for (int i = 0; i < AUTH_KEY_ID_LEN; i++)
		assert_true(is_lower_hex(k.key_id[i]));
	for (int i = 0; i < AUTH_SECRET_LEN; i++)
		assert_true(is_base64url(k.text[SECRET_OFFSET + i]));
}

static void test_generate_hash_is_sha256_of_secret(void **state)
{
	struct auth_key k;
	unsigned char want[SHA256_DIGEST_LENGTH];

	(void)state;
	generate(&k);
	SHA256((const unsigned char *)k.text + SECRET_OFFSET, AUTH_SECRET_LEN, want);
	assert_memory_equal(k.hash, want, AUTH_HASH_LEN);
}

static void test_generate_then_parse(void **state)
{
	struct auth_key k;
	char key_id[AUTH_KEY_ID_LEN + 1];
	unsigned char hash[AUTH_HASH_LEN];

	(void)state;
	for (int i = 0; i < 50; i++) {
		generate(&k);
		memset(key_id, 'x', sizeof(key_id));
		memset(hash, 0, sizeof(hash));
		assert_true(auth_key_parse(k.text, key_id, hash));
		assert_string_equal(key_id, k.key_id);
		assert_memory_equal(hash, k.hash, AUTH_HASH_LEN);
	}
}

static void test_generated_keys_differ(void **state)
{
	enum { N = 64 };
	struct auth_key k[N];

	(void)state;
	for (int i = 0; i < N; i++)
		generate(&k[i]);
	for (int i = 0; i < N; i++) {
		for (int j = i + 1; j < N; j++) {
			assert_string_not_equal(k[i].text, k[j].text);
			assert_string_not_equal(k[i].key_id, k[j].key_id);
			assert_memory_not_equal(k[i].text + SECRET_OFFSET,
			                        k[j].text + SECRET_OFFSET, AUTH_SECRET_LEN);
			assert_memory_not_equal(k[i].hash, k[j].hash, AUTH_HASH_LEN);
		}
	}
}

/* Fails the test when auth_key_parse accepts text. */
static void expect_parse_rejects(const char *text)
{
	char key_id[AUTH_KEY_ID_LEN + 1];
	unsigned char hash[AUTH_HASH_LEN];

	if (auth_key_parse(text, key_id, hash))
		fail_msg("accepted: \"%s\"", text);
}

static void test_parse_rejects_wrong_prefix(void **state)
{
	struct auth_key k;
	char buf[AUTH_KEY_LEN + 8];
	static const char *const prefixes[] = {"tsx_", "TSK_", "Tsk_", "tsk-", "xsk_", "pk__"};

	(void)state;
	generate(&k);
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		memcpy(buf, k.text, AUTH_KEY_LEN + 1);
		memcpy(buf, prefixes[i], 4);
		expect_parse_rejects(buf);
	}
	/* Same length, prefix shifted away. */
	memcpy(buf, "sk_", 3);
	memcpy(buf + 3, k.text + 4, AUTH_KEY_LEN - 4);
	buf[AUTH_KEY_LEN - 1] = 'A';
	buf[AUTH_KEY_LEN] = '\0';
	expect_parse_rejects(buf);
}

static void test_parse_rejects_wrong_length(void **state)
{
	struct auth_key k;
	char buf[AUTH_KEY_LEN + 8];

	(void)state;
	generate(&k);
	expect_parse_rejects("");
	expect_parse_rejects("tsk_");
	memcpy(buf, k.text, AUTH_KEY_LEN + 1);
	buf[AUTH_KEY_LEN - 1] = '\0';
	expect_parse_rejects(buf);
	memcpy(buf, k.text, AUTH_KEY_LEN + 1);
	buf[AUTH_KEY_LEN] = 'A';
	buf[AUTH_KEY_LEN + 1] = '\0';
	expect_parse_rejects(buf);
	/* The base64 padding that generation drops is not accepted back. */
	memcpy(buf, k.text, AUTH_KEY_LEN + 1);
	buf[AUTH_KEY_LEN] = '=';
	buf[AUTH_KEY_LEN + 1] = '\0';
	expect_parse_rejects(buf);
}

static void test_parse_rejects_bad_chars(void **state)
{
	struct auth_key k;
	char buf[AUTH_KEY_LEN + 1];
	static const char bad_id[] = {'A', 'F', 'g', 'z', '_', '-', ' ', '.', '\xff'};
	static const char bad_secret[] = {'+', '/', '=', ' ', '.', '!', '~', '\t', '\xc3', '\x7f'};

	(void)state;
	generate(&k);
	for (size_t i = 0; i < sizeof(bad_id); i++) {
		memcpy(buf, k.text, sizeof(buf));
		buf[4 + (int)(i % AUTH_KEY_ID_LEN)] = bad_id[i];
		expect_parse_rejects(buf);
	}
	for (size_t i = 0; i < sizeof(bad_secret); i++) {
		memcpy(buf, k.text, sizeof(buf));
		buf[SECRET_OFFSET + (int)((i * 5) % AUTH_SECRET_LEN)] = bad_secret[i];
		expect_parse_rejects(buf);
	}
	/* The separator between id and secret must be '_'. */
	memcpy(buf, k.text, sizeof(buf));
	buf[4 + AUTH_KEY_ID_LEN] = '-';
	expect_parse_rejects(buf);
	memcpy(buf, k.text, sizeof(buf));
	buf[4 + AUTH_KEY_ID_LEN] = 'a';
	expect_parse_rejects(buf);
}

static void test_parse_tampered_secret_changes_hash(void **state)
{
	struct auth_key k;
	char buf[AUTH_KEY_LEN + 1];
	char key_id[AUTH_KEY_ID_LEN + 1];
	unsigned char hash[AUTH_HASH_LEN];

	(void)state;
	generate(&k);
	for (int pos = 0; pos < AUTH_SECRET_LEN; pos++) {
		memcpy(buf, k.text, sizeof(buf));
		buf[SECRET_OFFSET + pos] = buf[SECRET_OFFSET + pos] == 'A' ? 'B' : 'A';
		assert_true(auth_key_parse(buf, key_id, hash));
		assert_string_equal(key_id, k.key_id);
		assert_memory_not_equal(hash, k.hash, AUTH_HASH_LEN);
	}
	/* A tampered id keeps the hash but names another key. */
	memcpy(buf, k.text, sizeof(buf));
	buf[4] = buf[4] == '0' ? '1' : '0';
	assert_true(auth_key_parse(buf, key_id, hash));
	assert_string_not_equal(key_id, k.key_id);
	assert_memory_equal(hash, k.hash, AUTH_HASH_LEN);
}

static void test_parse_hand_written_key(void **state)
{
	const char *text = "tsk_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0";
	char key_id[AUTH_KEY_ID_LEN + 1];
	unsigned char hash[AUTH_HASH_LEN], want[SHA256_DIGEST_LENGTH];

	(void)state;
	assert_int_equal(strlen(text), AUTH_KEY_LEN);
	assert_true(auth_key_parse(text, key_id, hash));
	assert_string_equal(key_id, "0123456789abcdef");
	SHA256((const unsigned char *)text + SECRET_OFFSET, AUTH_SECRET_LEN, want);
	assert_memory_equal(hash, want, AUTH_HASH_LEN);
}

static void test_equal(void **state)
{
	unsigned char a[32], b[32];

	(void)state;
	for (int i = 0; i < 32; i++)
		a[i] = b[i] = (unsigned char)(i * 7);
	assert_true(auth_equal(a, b, sizeof(a)));
	assert_true(auth_equal(a, a, sizeof(a)));
	assert_true(auth_equal(a, b, 0));
	b[0] ^= 1;
	assert_false(auth_equal(a, b, sizeof(a)));
	assert_true(auth_equal(a + 1, b + 1, sizeof(a) - 1));
	b[0] ^= 1;
	b[31] ^= 0x80;
	assert_false(auth_equal(a, b, sizeof(a)));
	assert_true(auth_equal(a, b, sizeof(a) - 1));
	assert_true(auth_equal("abc", "abd", 2));
	assert_false(auth_equal("abc", "abd", 3));
}

static void test_operator_matches(void **state)
{
	const char *key = "0123456789abcdef0123456789abcdef";

	(void)state;
	assert_true(auth_operator_matches(key, "0123456789abcdef0123456789abcdef"));
	/* None configured: nothing matches, not even an empty token. */
	assert_false(auth_operator_matches("", ""));
	assert_false(auth_operator_matches("", "anything"));
	assert_false(auth_operator_matches(NULL, "anything"));
	assert_false(auth_operator_matches(NULL, NULL));
	assert_false(auth_operator_matches(key, NULL));
	assert_false(auth_operator_matches(key, ""));
	/* Prefixes and extensions of the key are different lengths, and wrong. */
	assert_false(auth_operator_matches(key, "0123456789abcdef0123456789abcde"));
	assert_false(auth_operator_matches(key, "0123456789abcdef0123456789abcdef0"));
	assert_false(auth_operator_matches(key, "0"));
	/* Same length, one character off. */
	assert_false(auth_operator_matches(key, "0123456789abcdef0123456789abcdeF"));
	assert_false(auth_operator_matches(key, "1123456789abcdef0123456789abcdef"));
}

static void test_bearer(void **state)
{
	const char *h;

	(void)state;
	h = "Bearer x";
	assert_ptr_equal(auth_bearer(h), h + 7);
	assert_string_equal(auth_bearer("Bearer x"), "x");
	assert_string_equal(auth_bearer("bearer x"), "x");
	assert_string_equal(auth_bearer("BEARER x"), "x");
	assert_string_equal(auth_bearer("Bearer   tok"), "tok");
	assert_string_equal(auth_bearer("Bearer tsk_abc_def"), "tsk_abc_def");
	assert_null(auth_bearer("Basic x"));
	assert_null(auth_bearer("Basic dXNlcjpwYXNz"));
	assert_null(auth_bearer("Bearer "));
	assert_null(auth_bearer("Bearer    "));
	assert_null(auth_bearer("Bearer"));
	assert_null(auth_bearer("Bearerx"));
	assert_null(auth_bearer(" Bearer x"));
	assert_null(auth_bearer(""));
	assert_null(auth_bearer(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_generate_shape),
	        cmocka_unit_test(test_generate_hash_is_sha256_of_secret),
	        cmocka_unit_test(test_generate_then_parse),
	        cmocka_unit_test(test_generated_keys_differ),
	        cmocka_unit_test(test_parse_rejects_wrong_prefix),
	        cmocka_unit_test(test_parse_rejects_wrong_length),
	        cmocka_unit_test(test_parse_rejects_bad_chars),
	        cmocka_unit_test(test_parse_tampered_secret_changes_hash),
	        cmocka_unit_test(test_parse_hand_written_key),
	        cmocka_unit_test(test_equal),
	        cmocka_unit_test(test_operator_matches),
	        cmocka_unit_test(test_bearer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
