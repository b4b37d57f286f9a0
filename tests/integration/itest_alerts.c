/*
 * itest_alerts.c — deploy/prometheus/ is valid and covers every fault rule.
 *
 * promtool (Debian's prometheus package) checks the scrape config, the alert rules and runs the
 * rules' unit tests (alerts_test.yml: every alert firing on its condition and quiet without it).
 * Then, for every rule the detector knows (fault_rules in src/core/faults.c), alerts.yml must have
 * an alert on it (rule="<name>") that links its runbook, and docs/runbooks/<name>.md must exist and
 * name the one-line command that induces the fault. A broken rules file must make promtool
 * fail, so that these checks can fail at all.
 *
 * The suite needs neither the API nor the database that tests/run.sh gives it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "procs.h"
#include "faults.h"
#include "banned.h"

#define ALERTS  "deploy/prometheus/alerts.yml"
#define CONFIG  "deploy/prometheus/prometheus.yml"
#define TESTS   "deploy/prometheus/alerts_test.yml"
#define RUNBOOK "docs/runbooks/%s.md"

/* Runs a shell command with its output in a file; its exit status, or -1 when it did not exit
 * normally. The output is printed when the status is not the expected one. */
static int run(const char *cmd, int expect)
{
	char path[] = "/tmp/itest-alerts-XXXXXX";
	char line[2048];
	int fd = mkstemp(path), st;
	char *out;

	H_CHECK(fd >= 0, "mkstemp failed");
	close(fd);
	snprintf(line, sizeof(line), "%s >%s 2>&1", cmd, path);
	st = system(line);
	st = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (st != expect) {
		out = p_read_file(path, NULL);
		printf("$ %s\n%s\n(exit status %d)\n", cmd, out != NULL ? out : "(no output)", st);
		free(out);
	}
	unlink(path);
	return st;
}

static void test_promtool_accepts_config_rules_and_unit_tests(void **state)
{
	(void)state;
	H_CHECK(run("promtool --version", 0) == 0,
	        "cannot run promtool (Debian package prometheus; make deps installs it)");
	/* The config reads the operator key make run writes (../../.terminus/operator_key) and
	 * promtool insists that it exists: check a copy beside a stand-in key. */
	H_CHECK(run("d=$(mktemp -d) && mkdir -p $d/deploy/prometheus $d/.terminus && "
	            "cp " CONFIG " " ALERTS " $d/deploy/prometheus/ && "
	            "echo stand-in >$d/.terminus/operator_key && "
	            "promtool check config $d/" CONFIG "; st=$?; rm -rf $d; exit $st",
	            0) == 0,
	        "promtool check config failed");
	H_CHECK(run("promtool check rules " ALERTS, 0) == 0, "promtool check rules failed");
	H_CHECK(run("promtool test rules " TESTS, 0) == 0, "promtool test rules failed");
}

static void test_every_fault_rule_has_an_alert_and_a_runbook(void **state)
{
	char *alerts = p_read_file(ALERTS, NULL),
	     *index = p_read_file("docs/runbooks/README.md", NULL);
	char needle[512], path[256];

	(void)state;
	H_CHECK(alerts != NULL, "cannot read %s", ALERTS);
	H_CHECK(index != NULL, "cannot read docs/runbooks/README.md");
	H_CHECK(fault_rule_count > 0, "fault_rules is empty");
	for (int i = 0; i < fault_rule_count; i++) {
		const char *rule = fault_rules[i];
		char *book;

		snprintf(needle, sizeof(needle), "rule=\"%s\"", rule);
		H_CHECK(strstr(alerts, needle) != NULL, "%s has no alert on %s", ALERTS, needle);
		snprintf(path, sizeof(path), RUNBOOK, rule);
		snprintf(needle, sizeof(needle), "runbook_url: %s", path);
		H_CHECK(strstr(alerts, needle) != NULL, "no alert in %s links %s", ALERTS, path);
		book = p_read_file(path, NULL);
		H_CHECK(book != NULL, "fault rule %s has no runbook %s", rule, path);
		snprintf(needle, sizeof(needle), "scripts/fault.sh %s on", rule);
		H_CHECK(strstr(book, needle) != NULL, "%s does not say how to induce it (%s)", path,
		        needle);
		free(book);
		snprintf(needle, sizeof(needle), "(%s.md)", rule);
		H_CHECK(strstr(index, needle) != NULL,
		        "docs/runbooks/README.md does not link %s.md", rule);
	}
	free(alerts);
	free(index);
}

/* Writes text to dir/name. */
static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	H_CHECK(f != NULL, "cannot write %s", path);
	fputs(text, f);
	H_CHECK(fclose(f) == 0, "cannot write %s", path);
}

static void test_promtool_rejects_broken_rules(void **state)
{
	char dir[] = "/tmp/itest-alerts-dir-XXXXXX", cmd[1024];

	(void)state;
	H_CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
	/* An expression that does not parse. */
	write_file(dir, "broken.yml",
	           "groups:\n"
	           "  - name: broken\n"
	           "    rules:\n"
	           "      - alert: Broken\n"
	           "        expr: max by (rule) (terminus_faults_open{rule=\"invariant\"} > \n"
	           "        labels: {severity: critical}\n");
	snprintf(cmd, sizeof(cmd), "promtool check rules %s/broken.yml", dir);
	H_CHECK(run(cmd, 1) == 1, "promtool check rules accepted a rule that does not parse");
	/* Valid rules, and a unit test that expects an alert its input cannot raise. */
	write_file(dir, "ok.yml",
	           "groups:\n"
	           "  - name: ok\n"
	           "    rules:\n"
	           "      - alert: Open\n"
	           "        expr: terminus_faults_open > 0\n");
	write_file(dir, "ok_test.yml",
	           "rule_files: [ok.yml]\n"
	           "tests:\n"
	           "  - interval: 1m\n"
	           "    input_series:\n"
	           "      - series: 'terminus_faults_open{rule=\"invariant\"}'\n"
	           "        values: '0 0 0'\n"
	           "    alert_rule_test:\n"
	           "      - eval_time: 2m\n"
	           "        alertname: Open\n"
	           "        exp_alerts: [{exp_labels: {rule: invariant}}]\n");
	snprintf(cmd, sizeof(cmd), "promtool check rules %s/ok.yml", dir);
	H_CHECK(run(cmd, 0) == 0, "promtool check rules rejected a valid rule");
	snprintf(cmd, sizeof(cmd), "promtool test rules %s/ok_test.yml", dir);
	H_CHECK(run(cmd, 1) == 1, "promtool test rules passed a test that must fail");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	H_CHECK(run(cmd, 0) == 0, "cannot remove %s", dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_promtool_accepts_config_rules_and_unit_tests),
	        cmocka_unit_test(test_every_fault_rule_has_an_alert_and_a_runbook),
	        cmocka_unit_test(test_promtool_rejects_broken_rules),
	};

	/* h_init changes to the repository root: the paths above are relative to it. */
	return H_RUN_SUITE("itest_alerts", tests, NULL, NULL);
}
