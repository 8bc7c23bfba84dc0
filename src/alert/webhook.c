/*
 * webhook.c - one signed POST (alert.h says how a receiver checks it).
 *
 * The timestamp is signed with the body, so a captured request replayed
 * later fails the receiver's window; X-Threatdesk-Alert-Id is the same on
 * every retry, so a receiver that saw a delivery we could not record as
 * delivered (we died first) drops the second copy.  Redirects are not
 * followed: a 3xx could send the signed body somewhere the operator never
 * named.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "threatdesk/alert.h"

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int td_alert_webhook_send(const struct td_alert_config *c, const char *url, const char *secret,
                          const struct td_alert_notice *n, int64_t now, struct td_error *err)
{
    struct td_buf body;
    struct curl_slist *hdr = NULL;
    char sig[72], line[160], curl_err[CURL_ERROR_SIZE] = "";
    CURL *h = NULL;
    int rc;

    if (!td_alert_valid_url(url))
        return td_error_set(err, TD_EINVAL, "not an http(s) URL");
    if (!secret || !*secret)
        return td_error_set(err, TD_EINVAL, "the webhook has no secret");
    if (!td_alert_header_safe(n->key))
        return td_error_set(err, TD_EINVAL, "the alert id holds a control character");
    td_buf_init(&body, 64 * 1024);
    if ((rc = td_alert_webhook_body(n, &body, err)))
        goto out;
    if (td_alert_webhook_sign(secret, now, body.data, body.len, sig)) {
        rc = td_error_set(err, TD_ECRYPTO, "cannot sign");
        goto out;
    }
    if (!(h = curl_easy_init())) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    struct curl_slist *t;
    hdr = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(line, sizeof line, "X-Threatdesk-Timestamp: %lld", (long long)now);
    if (hdr && (t = curl_slist_append(hdr, line)))
        hdr = t;
    snprintf(line, sizeof line, "X-Threatdesk-Signature: %s", sig);
    if (hdr && (t = curl_slist_append(hdr, line)))
        hdr = t;
    snprintf(line, sizeof line, "X-Threatdesk-Alert-Id: %s", n->key);
    if (hdr && (t = curl_slist_append(hdr, line)))
        hdr = t;
    if (hdr && (t = curl_slist_append(hdr, "Expect:")))
        hdr = t;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "threatdesk-alerts/1");
    CURLcode cc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (cc != CURLE_OK)
        rc = td_error_set(err, TD_ENET, "webhook: %s%s%s", curl_easy_strerror(cc),
                          curl_err[0] ? ": " : "", curl_err);
    else if (code < 200 || code > 299)
        rc = td_error_set(err, TD_ENET, "webhook answered HTTP %ld", code);
out:
    curl_slist_free_all(hdr);
    if (h)
        curl_easy_cleanup(h);
    td_buf_release(&body);
    return rc;
}
