/*
 * cmd_user.c - `threatdesk user`: the local operator manages accounts.
 *
 *   threatdesk user add NAME --office OFFICE --role ROLE   (the office must exist)
 *   threatdesk user passwd NAME
 *   threatdesk user role NAME ROLE
 *   threatdesk user disable NAME | enable NAME
 *   threatdesk user list
 *   threatdesk user key NAME [--label LABEL]     (prints a new API key once)
 *   threatdesk user key list [NAME] [--office OFFICE]
 *   threatdesk user key revoke KEY-ID
 *
 * NAME is "name", or "office/name" when more than one office uses it.
 *
 * Passwords never come from argv (they would show in `ps` and shell
 * history): from the terminal without echo, asked twice, or, when stdin is
 * not a terminal, its first line.  Whoever can run this can read the
 * database file anyway, so these act as the operator (audited as user 0).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/desk.h"

#define PW_CAP 1100

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk user add NAME --office OFFICE --role ROLE\n"
               "       threatdesk user passwd NAME\n"
               "       threatdesk user role NAME ROLE\n"
               "       threatdesk user disable NAME | enable NAME\n"
               "       threatdesk user list\n"
               "       threatdesk user key NAME [--label LABEL]\n"
               "       threatdesk user key list [NAME] [--office OFFICE]\n"
               "       threatdesk user key revoke KEY-ID\n"
               "options: --db PATH  --data-dir DIR  --home DIR\n"
               "roles: admin, caseworker, security, observer, police\n"
               "NAME is 'name', or 'office/name' when more than one office uses the name.\n"
               "Offices are created with `threatdesk office add`.\n"
               "The password is read from the terminal (twice, not echoed) or from the first\n"
               "line of stdin; never from the command line.\n");
}

/* One line from f into buf (without the newline).  0 ok, -1 EOF/too long. */
static int read_line(FILE *f, char *buf, size_t size)
{
    if (!fgets(buf, (int)size, f))
        return -1;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n == size - 1)
        return -1; /* longer than the cap */
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return 0;
}

static int prompt(const char *what, char *buf, size_t size)
{
    struct termios old, quiet;
    fprintf(stderr, "%s: ", what);
    fflush(stderr);
    int tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    int rc = read_line(stdin, buf, size);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return rc;
}

static int read_password(char *pw, size_t size)
{
    if (!isatty(STDIN_FILENO))
        return read_line(stdin, pw, size);
    char again[PW_CAP];
    if (prompt("new password", pw, size) || prompt("again", again, sizeof again))
        return -1;
    int same = !strcmp(pw, again);
    sodium_memzero(again, sizeof again);
    if (!same) {
        td_cli_fail("user", "the passwords differ");
        return -1;
    }
    return 0;
}

/* `user list`, `user key list [NAME]`, `user key revoke ID`: print JSON
 * lines a person can read and a script can parse. */
static int list_or_revoke(const char *verb, int npos, char **pos, const char *office,
                          const char *db, const char *data, const char *home)
{
    struct td_desk *d = NULL;
    struct td_error err;
    json_t *out = NULL, *row;
    size_t i;
    int rc, status = 2;
    td_error_clear(&err);
    int list_users = !strcmp(verb, "list");
    int revoke = !list_users && !strcmp(pos[1], "revoke");
    int64_t kid = 0;
    if ((list_users && npos != 1) || (!list_users && !revoke && npos > 3) ||
        (revoke && npos != 3)) {
        usage(stderr);
        return 2;
    }
    if (revoke) {
        size_t v;
        if (td_cli_positive("user", pos[2], (size_t)INT64_MAX, "a key id is a positive number", &v))
            return 2;
        kid = (int64_t)v;
    }
    if (td_cli_open_desk("user", db, data, home, &d))
        return 2;
    if (list_users)
        rc = td_desk_user_list(d, NULL, &out, &err);
    else if (revoke)
        rc = td_desk_api_key_revoke(d, NULL, kid, &err);
    else
        rc = td_desk_api_key_list(d, NULL, office, npos == 3 ? pos[2] : NULL, &out, &err);
    if (rc) {
        td_cli_error("user", &err);
        status = rc == TD_ENOTFOUND || rc == TD_EINVAL ? 1 : 2;
        goto out;
    }
    if (revoke)
        printf("key %lld revoked\n", (long long)kid);
    json_array_foreach(json_object_get(out, list_users ? "users" : "keys"), i, row)
    {
        char *line = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (line)
            printf("%s\n", line);
        free(line);
    }
    status = 0;
out:
    json_decref(out);
    td_desk_close(d);
    return status;
}

int td_cmd_user(int argc, char **argv)
{
    static const struct option opts[] = {
        {"office", required_argument, NULL, 'o'},   {"role", required_argument, NULL, 'r'},
        {"label", required_argument, NULL, 'l'},    {"db", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'}, {"home", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *office = NULL, *role_s = NULL, *label = NULL, *db = NULL, *data = NULL,
               *home = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            office = optarg;
            break;
        case 'r':
            role_s = optarg;
            break;
        case 'l':
            label = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 'D':
            data = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int npos = argc - optind;
    const char *verb = npos > 0 ? argv[optind] : "";
    const char *name = npos > 1 ? argv[optind + 1] : NULL;
    if (!strcmp(verb, "list") ||
        (!strcmp(verb, "key") && name && (!strcmp(name, "list") || !strcmp(name, "revoke")))) {
        return list_or_revoke(verb, npos, argv + optind, office, db, data, home);
    }
    int want = !strcmp(verb, "role") ? 3 : 2;
    if (!name || npos != want ||
        (strcmp(verb, "add") && strcmp(verb, "passwd") && strcmp(verb, "role") &&
         strcmp(verb, "key") && strcmp(verb, "disable") && strcmp(verb, "enable"))) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(verb, "role"))
        role_s = argv[optind + 2];
    int role = -1;
    if (!strcmp(verb, "add") || !strcmp(verb, "role")) {
        if (!role_s || (role = td_role_from_name(role_s)) < 0) {
            td_cli_fail("user", "--role must be one of admin, caseworker, security, observer, "
                                "police");
            return 2;
        }
        if (!strcmp(verb, "add") && !office) {
            td_cli_fail("user", "add needs --office");
            return 2;
        }
    }

    char pw[PW_CAP];
    pw[0] = '\0';
    if ((!strcmp(verb, "add") || !strcmp(verb, "passwd")) && read_password(pw, sizeof pw)) {
        td_cli_fail("user", "no password read (one line, at most %d bytes)", PW_CAP - 2);
        return 2;
    }

    struct td_desk *d = NULL;
    struct td_error err;
    td_error_clear(&err);
    int status = 2, rc;
    if (td_cli_open_desk("user", db, data, home, &d))
        goto out;
    if (!strcmp(verb, "add")) {
        int64_t id = 0;
        rc = td_desk_user_add(d, NULL, office, name, (enum td_role)role, pw, &id, &err);
        if (!rc)
            printf("added %s (%s) to office %s\n", name, role_s, office);
    } else if (!strcmp(verb, "passwd")) {
        rc = td_desk_user_passwd(d, NULL, name, pw, &err);
        if (!rc)
            printf("password changed for %s\n", name);
    } else if (!strcmp(verb, "role")) {
        rc = td_desk_user_role(d, NULL, name, (enum td_role)role, &err);
        if (!rc)
            printf("%s is now %s\n", name, role_s);
    } else if (!strcmp(verb, "disable") || !strcmp(verb, "enable")) {
        int off = !strcmp(verb, "disable");
        rc = td_desk_user_set_disabled(d, NULL, name, off, &err);
        if (!rc)
            printf("%s %s%s\n", name, off ? "disabled" : "enabled",
                   off ? ": sessions ended, API keys revoked" : "");
    } else {
        char key[TD_TOKEN_SIZE];
        rc = td_desk_api_key_create(d, NULL, name, label, key, NULL, &err);
        if (!rc)
            printf("%s\n", key); /* shown once: only its hash is kept */
        sodium_memzero(key, sizeof key);
    }
    if (rc) {
        td_cli_error("user", &err);
        status = rc == TD_ENOTFOUND || rc == TD_EEXISTS || rc == TD_EINVAL ? 1 : 2;
    } else {
        status = 0;
    }
out:
    sodium_memzero(pw, sizeof pw);
    td_desk_close(d);
    return status;
}
