#include "service/cli.h"

#include "core/num.h"

#include <stdio.h>
#include <string.h>

#include "core/num.h"
#include "core/version.h"
#include "service/config.h"
#include "service/daemon.h"

int cli_usage_error(const char *cmd, const char *flag, const char *why)
{
    if (flag)
        fprintf(stderr, "kvsgate %s: --%s: %s\n", cmd, flag, why);
    else
        fprintf(stderr, "kvsgate %s: %s\n", cmd, why);
    return KG_EXIT_USAGE;
}

int cli_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    int64_t v;
    if (!s || s[0] == '-' || !kg_parse_int64(s, lo, hi, &v))
        return 0;
    *out = v;
    return 1;
}

int cli_flags_parse(const char *cmd, int argc, char **argv, struct cli_flag *flags,
                    int flag_count)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            fprintf(stderr, "kvsgate %s: unexpected argument '%s' (flags start with --)\n", cmd,
                    arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        struct cli_flag *f = NULL;
        for (int k = 0; k < flag_count; k++)
            if (strlen(flags[k].name) == name_len && strncmp(flags[k].name, name, name_len) == 0)
                f = &flags[k];
        if (!f) {
            fprintf(stderr, "kvsgate %s: --%.*s: unknown flag (see kvsgate %s --help)\n", cmd,
                    (int)name_len, name, cmd);
            return -1;
        }
        if (f->value) {
            cli_usage_error(cmd, f->name, "given more than once");
            return -1;
        }
        if (eq) {
            f->value = eq + 1;
        } else if (f->is_bool) {
            f->value = "true";
        } else if (i + 1 < argc) {
            f->value = argv[++i];
        } else {
            cli_usage_error(cmd, f->name, "needs a value");
            return -1;
        }
    }
    return 0;
}

static void print_help(FILE *out)
{
    fprintf(out,
            "kvsgate %s: signed Kinesis Video Streams WebRTC connection info for front ends\n"
            "that must never hold AWS keys.\n"
            "\n"
            "Usage:\n"
            "  kvsgate [serve]\n"
            "      Run the HTTP service (settings below).\n"
            "  kvsgate presign --endpoint wss://HOST[/PATH] --channel-arn ARN [--client-id ID]\n"
            "                  [--region R] [--expires SECONDS] [--date YYYYMMDDTHHMMSSZ]\n"
            "      Print one presigned signaling WSS URL (MASTER, or VIEWER with --client-id).\n"
            "      Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.\n"
            "  kvsgate token --sub ID [--master P,..] [--viewer P,..] [--manage P,..]\n"
            "                [--any-client-id] [--ttl SECONDS] [--iss I] [--aud A] [--claim NAME]\n"
            "      Print a development HS256 JWT with grants (patterns: name, prefix*, {sub}).\n"
            "      Secret: KVSGATE_JWT_HS256_SECRET or KVSGATE_JWT_HS256_SECRET_FILE.\n"
            "  kvsgate auth check [--token-file FILE] [--at EPOCH_SECONDS]\n"
            "      Verify a JWT (FILE or stdin) with the service's settings and print what it\n"
            "      grants or why it is refused (exit 0 accepted, 1 refused).\n"
            "  kvsgate --help | --version\n\n",
            KVSGATE_VERSION);
    config_print_help(out);
}

int kvsgate_main(int argc, char **argv)
{
    if (argc < 2)
        return cmd_serve(1, argv);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_help(stdout);
        return KG_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("kvsgate %s\n", KVSGATE_VERSION);
        return KG_EXIT_OK;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "presign") == 0)
        return cmd_presign(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(argc - 1, argv + 1);
    if (strcmp(cmd, "auth") == 0)
        return cmd_auth(argc - 1, argv + 1);
    fprintf(stderr, "kvsgate: unknown command '%s' (see kvsgate --help)\n", cmd);
    return KG_EXIT_USAGE;
}
