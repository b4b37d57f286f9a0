/*
 * fuzz_config — configuration values from the environment: the input is lines of NAME=value,
 * set as the process environment (cleared first) before config_load parses every variable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *line, *save = NULL;
	struct config c;
	struct err e = ERR_INIT;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	clearenv();
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (eq == NULL || eq == line)
			continue;
		*eq = '\0';
		setenv(line, eq + 1, 1);
	}
	memset(&c, 0, sizeof(c));
	if (!config_load(&c, &e))
		err_release(&e);
	free(buf);
	return 0;
}
