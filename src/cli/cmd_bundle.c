/*
 * cmd_bundle.c - the police evidence bundle from the command line
 * (bundle.h):
 *
 *   threatdesk bundle --office NAME CASE [-o FILE]    write case CASE's bundle
 *   threatdesk verify-bundle FILE [--pubkey HEX]      check one, offline
 *
 * `bundle` acts as the local operator of --office (as `import` does) and
 * takes --db, --data-dir and --home as `verify` does.  It writes to a
 * temporary file beside FILE and renames it into place only when complete,
 * so a failed export never leaves something that looks like a bundle.
 * Default FILE: case-<CASE>.tar; "-" writes to standard output.
 *
 * Exit status: bundle 0 written, 1 no such case, 2 usage or failure;
 * verify-bundle 0 intact, 1 something differs (each problem is printed),
 * 2 the file cannot be read or usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/bundle.h"
#include "threatdesk/pipeline.h"

static void bundle_usage(FILE *f)
{
    fprintf(f, "usage: threatdesk bundle [--office NAME] CASE [-o FILE]\n"
               "  writes the case's police evidence bundle (tar): originals, evidence,\n"
               "  records, audit proof, PDF summary, manifest and Ed25519 signature\n"
               "  FILE defaults to case-CASE.tar; '-' is standard output\n"
               "options: --db PATH  --data-dir DIR  --home DIR  (--office default: default)\n");
}

int td_cmd_bundle(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'},
        {"home", required_argument, NULL, 'H'},
        {"office", required_argument, NULL, 'O'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *data = NULL, *home = NULL, *office = "default", *outp = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'D':
            data = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'O':
            office = optarg;
            break;
        case 'o':
            outp = optarg;
            break;
        case 'h':
            bundle_usage(stdout);
            return 0;
        default:
            bundle_usage(stderr);
            return 2;
        }
    }
    size_t case_id;
    if (optind + 1 != argc || td_cli_size(argv[optind], (size_t)INT64_MAX, &case_id) ||
        case_id == 0) {
        bundle_usage(stderr);
        return 2;
    }
    char defname[64], tmp[4200];
    if (!outp) {
        snprintf(defname, sizeof defname, "case-%zu.tar", case_id);
        outp = defname;
    }
    int to_stdout = !strcmp(outp, "-");
    db = td_cli_db(db);
    if (td_cli_store_missing(db)) {
        td_cli_fail("bundle", "%s: no such store", db);
        return 2;
    }
    struct td_desk *d = NULL;
    struct td_actor op;
    struct td_error err;
    struct td_bundle_info info;
    td_error_clear(&err);
    if (td_cli_open_desk("bundle", db, data, home, &d))
        return 2;
    int rc = td_desk_operator(d, office, &op, &err);
    int fd = -1;
    if (!rc && to_stdout) {
        fd = STDOUT_FILENO;
    } else if (!rc) {
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial-XXXXXX", outp) >= sizeof tmp) {
            td_cli_fail("bundle", "%s: path too long", outp);
            td_desk_close(d);
            return 2;
        }
        if ((fd = mkstemp(tmp)) < 0) {
            td_cli_fail("bundle", "%s: %s", tmp, strerror(errno));
            td_desk_close(d);
            return 2;
        }
    }
    if (!rc)
        rc = td_bundle_write(d, &op, (int64_t)case_id, fd, &info, &err);
    if (!to_stdout && fd >= 0) {
        if (!rc && (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, outp) != 0)) {
            td_cli_fail("bundle", "%s: %s", outp, strerror(errno));
            unlink(tmp);
            td_desk_close(d);
            return 2;
        }
        if (rc) {
            close(fd);
            unlink(tmp);
        }
    }
    td_desk_close(d);
    if (rc) {
        td_cli_error("bundle", &err);
        return rc == TD_ENOTFOUND ? 1 : 2;
    }
    fprintf(to_stdout ? stderr : stdout,
            "bundle: case %zu -> %s: %" PRIu64 " bytes, %zu files (%zu messages, %zu evidence)\n"
            "manifest sha256 %s\nsigned by office key %s\n",
            case_id, to_stdout ? "standard output" : outp, info.bytes, info.files, info.messages,
            info.evidence, info.manifest_sha256, info.public_key);
    return 0;
}

static void verify_usage(FILE *f)
{
    fprintf(f, "usage: threatdesk verify-bundle FILE [--pubkey HEX]\n"
               "  checks every byte of a bundle, every file's SHA-256 against the manifest,\n"
               "  the Ed25519 signature, the audit entries' hashes and the originals;\n"
               "  --pubkey: the office's public key as it gave it to you (else the bundle's\n"
               "  own key is used, which proves integrity but not who signed)\n"
               "  exit 0 intact, 1 something differs, 2 cannot read\n");
}

static int print_problem(void *ud, const struct td_bundle_problem *p)
{
    (void)ud;
    printf("FAIL %s%s%s: %s\n", p->kind, p->path[0] ? " " : "", p->path, p->what);
    if (p->expected[0] || p->found[0])
        printf("  expected: %s\n  found:    %s\n", p->expected, p->found);
    return 0;
}

int td_cmd_verify_bundle(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pubkey", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pubkey = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            pubkey = optarg;
            break;
        case 'h':
            verify_usage(stdout);
            return 0;
        default:
            verify_usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        verify_usage(stderr);
        return 2;
    }
    struct td_bundle_verify_stats st;
    struct td_error err;
    td_error_clear(&err);
    int rc = td_bundle_verify(argv[optind], pubkey, print_problem, NULL, &st, &err);
    if (rc) {
        td_cli_error("verify-bundle", &err);
        return 2;
    }
    printf("bundle: case %" PRId64 ", %" PRIu64 " bytes, %zu members, %zu files in the "
           "manifest, %zu audit entries recomputed\n",
           st.case_id, st.bytes, st.members, st.files, st.audit_entries);
    printf("signature: %s (key %s%s)\n", st.signature_ok ? "valid" : "INVALID",
           st.public_key[0] ? st.public_key : "-",
           pubkey ? ", the one given" : "; compare it with the office's published key");
    if (st.problems) {
        printf("verify-bundle: %zu problem%s: NOT intact\n", st.problems,
               st.problems == 1 ? "" : "s");
        return 1;
    }
    printf("verify-bundle: intact\n");
    return 0;
}
