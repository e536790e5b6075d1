/* `kvsgate presign`: one presigned WSS URL on stdout and nothing else, for
 * scripts and for checking a deployment's signer against another
 * implementation. Offline: no AWS call is made. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/kvs.h"
#include "aws/presign.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "service/cli.h"

static const char presign_help[] =
    "Usage: kvsgate presign --endpoint wss://HOST[/PATH] --channel-arn ARN [--client-id ID]\n"
    "                       [--region R] [--expires SECONDS] [--date YYYYMMDDTHHMMSSZ]\n"
    "\n"
    "Prints one SigV4-presigned KVS signaling URL on stdout.\n"
    "  --endpoint     the channel's WSS endpoint (GetSignalingChannelEndpoint)\n"
    "  --channel-arn  the signaling channel ARN\n"
    "  --client-id    makes it a VIEWER URL; absent means MASTER\n"
    "  --region       signing region (default: AWS_REGION, then AWS_DEFAULT_REGION)\n"
    "  --expires      X-Amz-Expires in seconds, 1..604800 (default 299; KVS honours\n"
    "                 at most 299)\n"
    "  --date         signing time (default: now)\n"
    "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN.\n";

static int has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

/* Longer than a screen on purpose: one check per flag, in the order of the
 * help text, each ending the command with its own message. */
int cmd_presign(int argc, char **argv)
{
    const char *cmd = "presign";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(presign_help, stdout);
        return KG_EXIT_OK;
    }
    enum { F_ENDPOINT, F_ARN, F_CLIENT, F_REGION, F_EXPIRES, F_DATE, F_COUNT };
    struct cli_flag flags[F_COUNT] = {
        [F_ENDPOINT] = {"endpoint", NULL, 0}, [F_ARN] = {"channel-arn", NULL, 0},
        [F_CLIENT] = {"client-id", NULL, 0},  [F_REGION] = {"region", NULL, 0},
        [F_EXPIRES] = {"expires", NULL, 0},   [F_DATE] = {"date", NULL, 0},
    };
    if (cli_flags_parse(cmd, argc - 1, argv + 1, flags, F_COUNT) != 0)
        return KG_EXIT_USAGE;

    const char *endpoint = flags[F_ENDPOINT].value;
    char host[256], path[1024];
    if (!endpoint)
        return cli_usage_error(cmd, "endpoint", "required (wss://HOST[/PATH])");
    if (kvs_endpoint_split(endpoint, "wss", host, path) != KG_OK)
        return cli_usage_error(cmd, "endpoint", "must be wss://HOST[/PATH] with no query");

    const char *arn = flags[F_ARN].value;
    if (!arn || !*arn)
        return cli_usage_error(cmd, "channel-arn", "required");
    if (strlen(arn) > 1024 || has_control(arn))
        return cli_usage_error(cmd, "channel-arn", "must be 1..1024 printable bytes");

    const char *client_id = flags[F_CLIENT].value;
    if (client_id && (!*client_id || strlen(client_id) > 1024 || has_control(client_id)))
        return cli_usage_error(cmd, "client-id", "must be 1..1024 printable bytes");

    const char *region = flags[F_REGION].value;
    if (!region)
        region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    if (!region || !*region)
        return cli_usage_error(cmd, "region", "required (or set AWS_REGION)");
    if (!kg_kvs_region_valid(region))
        return cli_usage_error(cmd, "region", "must be a region name such as us-west-2");

    long long expires = 299;
    if (flags[F_EXPIRES].value &&
        !cli_parse_int(flags[F_EXPIRES].value, 1, SIGV4_MAX_EXPIRES_S, &expires))
        return cli_usage_error(cmd, "expires", "must be an integer from 1 to 604800");

    int64_t now = kg_now_s();
    if (flags[F_DATE].value && kg_time_parse_amz(flags[F_DATE].value, &now) != KG_OK)
        return cli_usage_error(cmd, "date", "must be YYYYMMDDTHHMMSSZ (UTC)");

    struct sigv4_credentials creds = {
        .access_key_id = getenv("AWS_ACCESS_KEY_ID"),
        .secret_access_key = getenv("AWS_SECRET_ACCESS_KEY"),
        .session_token = getenv("AWS_SESSION_TOKEN"),
    };
    if (!creds.access_key_id || !*creds.access_key_id)
        return cli_usage_error(cmd, NULL, "AWS_ACCESS_KEY_ID is not set");
    if (!creds.secret_access_key || !*creds.secret_access_key)
        return cli_usage_error(cmd, NULL, "AWS_SECRET_ACCESS_KEY is not set");
    if (has_control(creds.access_key_id) || strchr(creds.access_key_id, '/'))
        return cli_usage_error(cmd, NULL, "AWS_ACCESS_KEY_ID is malformed");

    struct kvs_presign_input in = {
        .creds = &creds,
        .region = region,
        .endpoint = endpoint,
        .channel_arn = arn,
        .client_id = client_id,
        .expires_s = expires,
        .now_epoch_s = now,
    };
    struct kg_buf url;
    kg_buf_init_secret(&url, SIGV4_MAX_STRING);
    enum kg_err err = kvs_presign_url(&in, &url);
    if (err != KG_OK) {
        kg_buf_free(&url);
        fprintf(stderr, "kvsgate presign: cannot sign: %s\n", kg_err_title(err));
        return KG_EXIT_FAILURE;
    }
    fwrite(url.data, 1, url.len, stdout);
    fputc('\n', stdout);
    kg_buf_free(&url);
    return fflush(stdout) == 0 ? KG_EXIT_OK : KG_EXIT_FAILURE;
}
