/*
 * commands.h - the threatdesk subcommands.  Each lives in its own
 * src/cli/cmd_<name>.c as `int td_cmd_<name>(int argc, char **argv)` and
 * returns the process exit status (0 ok, 1 some records failed / check
 * failed, 2 usage or fatal error).  main.c dispatches from one table.
 *
 * The declarations are weak so that a build without a module (say, no
 * server) still links; main.c reports such a command as not built.
 */
#ifndef TD_CLI_COMMANDS_H
#define TD_CLI_COMMANDS_H

#define TD_COMMAND_MAP(X)                                                                          \
    X(scan, "analyse messages and print a ranked triage (or --json)")                              \
    X(train, "train the engine from the public datasets")                                          \
    X(pretrain, "learn the subword embeddings from unlabelled text")                               \
    X(eval, "score a labelled JSON Lines file against the shipped model")                          \
    X(grammar, "write or check the grammar's requirement cache (after editing rules)")             \
    X(fetch, "pull new mail from an IMAP mailbox")                                                 \
    X(serve, "start the HTTP desk")                                                                \
    X(worker, "OCR, analyse and file the scanned letters queued by the server")                    \
    X(verify, "check the audit chain and every evidence hash")                                     \
    X(user, "add, list, disable users; set passwords and roles; issue and revoke API keys")        \
    X(office, "add and list offices")                                                              \
    X(feedback, "list or revoke what an office's caseworkers taught its engine")                   \
    X(import, "file mbox, Maildir, e-mail, social exports and letters into the desk")              \
    X(retention, "show, set or apply an office's retention period (UK GDPR)")                      \
    X(erase_sender, "erase a sender's messages, leaving an audited tombstone (UK GDPR)")           \
    X(alerts, "alert recipients and rules, an office's alerts, acknowledgement, one delivery "     \
              "pass")                                                                              \
    X(bundle, "write a case's signed police evidence bundle (tar)")                                \
    X(verify_bundle, "check an evidence bundle offline: every byte, hash and the signature")       \
    X(export, "CSV of the queue or of cases, with filters (streamed)")                             \
    X(report, "the weekly digest PDF: volumes, top senders, cases, review times")                  \
    X(migrate, "copy an SQLite store's offices into PostgreSQL, audit chain intact, verified")

#define TD_COMMAND_DECL(name, help) __attribute__((weak)) int td_cmd_##name(int argc, char **argv);
TD_COMMAND_MAP(TD_COMMAND_DECL)
#undef TD_COMMAND_DECL

#endif
