/* kvsgate: the command line: subcommand dispatch and flag parsing.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad usage (a one-line message on
 * stderr names the flag or setting at fault).
 */
#ifndef KG_SERVICE_CLI_H
#define KG_SERVICE_CLI_H

#define KG_EXIT_OK 0
#define KG_EXIT_FAILURE 1
#define KG_EXIT_USAGE 2

/* Entry point of the kvsgate binary (main.c calls only this). */
int kvsgate_main(int argc, char **argv);

/* One flag of a subcommand: "--name VALUE" or "--name=VALUE". */
struct cli_flag {
    const char *name; /* without the leading dashes */
    const char *value; /* set by cli_flags_parse; NULL when absent */
    int is_bool;       /* "--name" alone sets value to "true" */
};

/* Parses argv[0..argc) against flags. Unknown, repeated or value-less flags and
 * positional arguments print "kvsgate CMD: --flag: why" and return -1. */
int cli_flags_parse(const char *cmd, int argc, char **argv, struct cli_flag *flags,
                    int flag_count);

/* Parses a decimal integer in [lo, hi]: digits only, no sign, no spaces. 1 on success. */
int cli_parse_int(const char *s, long long lo, long long hi, long long *out);

/* Prints "kvsgate CMD: --flag: why" on stderr and returns KG_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *flag, const char *why);

/* Subcommands. argv[0] is the subcommand name. */
int cmd_presign(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_auth(int argc, char **argv);

#endif
