/*
 * fuzz_config.c - libFuzzer target for the configuration parser: HCL and
 * JSON text through kh_config_parse_text() into a fresh config, then
 * kh_config_free(). Crashes, sanitizer reports and leaks are findings.
 *
 * The input is not NUL-terminated, so any read past size is caught by
 * ASan. Never writes files.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errmsg[KH_ERRMSG_SIZE];
    struct kh_config *config = kh_config_new();

    if (config == NULL)
        return 0;
    (void)kh_config_parse_text(config, (const char *)data, size, "fuzz", errmsg,
                               sizeof(errmsg));
    kh_config_free(config);
    return 0;
}
