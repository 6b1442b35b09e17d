/*
 * cmd_tpm2.c - `keyhold operator seal-rebind`: seal the root key and the
 * recovery key of a tpm2 seal again to the machine's current PCR values
 * (PUT sys/seal/tpm2/rebind), the last step of hardware.md's re-bind
 * runbook after a firmware, boot loader or kernel update.
 *
 * Owns that verb's request and output. Prints only the PCR selection the
 * server reports, never key material.
 */
#include <stdio.h>

#include "api.h"
#include "cli.h"
#include "output.h"
#include "verbs.h"

static int seal_rebind_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    const json_t *data;
    const char *pcrs;
    int r;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "PUT", "sys/seal/tpm2/rebind", NULL, 0, &res);
    data = cli_result_data(&res);
    if (!cli_result_ok(&res) || data == NULL) {
        r = cli_api_fail(&res, "re-binding the tpm2 seal");
    } else if (ctx->format != CLI_FORMAT_TABLE) {
        r = cli_output_value(ctx, data);
    } else {
        pcrs = cli_json_str(data, "pcrs");
        if (pcrs[0] != '\0')
            printf("Success! The tpm2 seal is bound to the current values "
                   "of PCRs %s (%s bank).\n",
                   pcrs, cli_json_str(data, "pcr_bank"));
        else
            printf("Success! The tpm2 seal was sealed again (no PCRs "
                   "bound).\n");
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

const struct cli_command cli_cmd_seal_rebind = {
    .name = "seal-rebind",
    .run = seal_rebind_run,
    .synopsis = "Re-bind a tpm2 seal to the current PCR values",
    .usage = "Usage: keyhold operator seal-rebind [options]\n"
             "\n"
             "  Seals the root key and the recovery key of a tpm2 seal "
             "again to the\n"
             "  current values of the configured PCRs, so the server "
             "unseals itself\n"
             "  at its next start. Run it after a firmware, boot loader "
             "or kernel\n"
             "  update changed the PCRs and the server was unsealed with "
             "the\n"
             "  recovery keys. Needs sudo; the server must be unsealed.\n",
};
