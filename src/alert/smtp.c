/*
 * smtp.c - one alert mail through libcurl's SMTP client.
 *
 * TLS: "starttls" makes STARTTLS mandatory (CURLUSESSL_ALL: no silent
 * plain-text fallback when a man in the middle strips the capability),
 * "tls" is implicit TLS (smtps://), "try" upgrades when offered, and "none"
 * is for a relay on loopback.  Certificates are always verified.
 *
 * The mail is rendered first (notice.c refuses header injection) and
 * uploaded from memory; libcurl dot-stuffs it.  Credentials travel in
 * CURLOPT_USERNAME/PASSWORD, never in the URL (which appears in errors).
 */
#include <string.h>

#include <curl/curl.h>

#include "threatdesk/alert.h"

/* "none" sends the password and the alert in the clear: only to a relay on
 * this machine. */
static int loopback_url(const char *url)
{
    const char *h = strstr(url, "://");
    if (!h)
        return 0;
    h += 3;
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        if (!strncmp(h, names[i], n) && (h[n] == '\0' || h[n] == ':' || h[n] == '/'))
            return 1;
    }
    return 0;
}

struct upload {
    const char *p;
    size_t left;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct upload *u = ud;
    size_t n = size * nitems;
    if (n > u->left)
        n = u->left;
    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

int td_alert_smtp_send(const struct td_alert_config *c, const char *to,
                       const struct td_alert_notice *n, int64_t now, struct td_error *err)
{
    struct td_buf mail;
    char angle_from[300], angle_to[300], curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpt = NULL;
    CURL *h = NULL;
    int rc;

    if (!c->smtp_url[0])
        return td_error_set(err, TD_EINVAL, "no smtp_url configured");
    if (!strcmp(c->smtp_tls, "none") && !loopback_url(c->smtp_url))
        return td_error_set(err, TD_EINVAL,
                            "smtp_tls = none is only for a relay on loopback; use starttls or tls");
    td_buf_init(&mail, 64 * 1024);
    if ((rc = td_alert_mail_render(n, c->smtp_from, to, now, &mail, err)))
        goto out;
    snprintf(angle_from, sizeof angle_from, "<%s>", c->smtp_from);
    snprintf(angle_to, sizeof angle_to, "<%s>", to);
    if (!(h = curl_easy_init()) || !(rcpt = curl_slist_append(NULL, angle_to))) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    struct upload up = {mail.data, mail.len};
    long ssl = !strcmp(c->smtp_tls, "none")  ? (long)CURLUSESSL_NONE
               : !strcmp(c->smtp_tls, "try") ? (long)CURLUSESSL_TRY
                                             : (long)CURLUSESSL_ALL;
    curl_easy_setopt(h, CURLOPT_URL, c->smtp_url);
    curl_easy_setopt(h, CURLOPT_USE_SSL, ssl);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->smtp_ca[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, c->smtp_ca);
    if (c->smtp_user[0]) {
        curl_easy_setopt(h, CURLOPT_USERNAME, c->smtp_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->smtp_password);
    }
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, angle_from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->timeout_s);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)(c->timeout_s < 10 ? c->timeout_s : 10));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        rc = td_error_set(err, TD_ENET, "smtp: %s%s%s (reply %ld)", curl_easy_strerror(cc),
                          curl_err[0] ? ": " : "", curl_err, code);
    }
out:
    curl_slist_free_all(rcpt);
    if (h)
        curl_easy_cleanup(h);
    td_buf_release(&mail);
    return rc;
}
