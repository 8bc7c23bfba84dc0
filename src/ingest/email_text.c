/*
 * email_text.c - from decoded mail bodies to the text a person wrote:
 * HTML to text (libxml2's HTML parser, never regular expressions) and the
 * removal of quoted replies and signatures.
 *
 * Quote stripping works on lines and is deliberately conservative: it
 * removes what mail clients put there themselves, not anything a person
 * might have typed.
 *   - lines starting with '>' (RFC 3676 quoting);
 *   - an attribution line "On <date>, <name> wrote:" (also wrapped over two
 *     lines) that precedes quoted text;
 *   - everything from Outlook's "-----Original Message-----" or a line of
 *     underscores followed by "From:" (Outlook's reply header);
 *   - everything after the signature separator "-- " (RFC 3676 4.3).
 * If nothing would be left, the text is kept whole: a reply that is only a
 * quote is still something someone sent.
 */
#include "ingest/email_int.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/buf.h"

/* ---- quotes and signatures ------------------------------------------------ */

static int line_is(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t') &&
           strcmp(lit, "-- ") != 0)
        n--;
    return n == k && memcmp(s, lit, k) == 0;
}

static int starts_with(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && memcmp(s, lit, k) == 0;
}

static int ends_with_wrote(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    return n >= 6 && memcmp(s + n - 6, "wrote:", 6) == 0;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

size_t td_email_strip_quotes(char *text, size_t len)
{
    char *w = malloc(len + 1); /* strip into a copy: the original stays whole
                                  if nothing but quotes would be left */
    if (!w)
        return len;
    size_t out = 0, i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        const char *l = text + i;
        size_t n = e - i;
        size_t next = e < len ? e + 1 : e;
        /* the line after this one, for two-line attributions */
        size_t e2 = next;
        while (e2 < len && text[e2] != '\n')
            e2++;
        if (line_is(l, n, "-- ") || line_is(l, n, "-- \r") ||
            line_is(l, n, "-----Original Message-----") ||
            (n >= 20 && starts_with(l, n, "________________") && next < len &&
             starts_with(text + next, e2 - next, "From:")))
            break; /* signature or Outlook reply: the rest is not the sender's */
        if (n > 0 && l[0] == '>') {
            i = next;
            continue;
        }
        if (starts_with(l, n, "On ") && ends_with_wrote(l, n)) {
            i = next;
            continue;
        }
        if (starts_with(l, n, "On ") && next < len && e2 - next < 80 &&
            ends_with_wrote(text + next, e2 - next)) {
            i = e2 < len ? e2 + 1 : e2;
            continue;
        }
        memcpy(w + out, l, n);
        out += n;
        if (e < len)
            w[out++] = '\n';
        i = next;
    }
    while (out > 0 && (w[out - 1] == '\n' || w[out - 1] == ' ' || w[out - 1] == '\r'))
        out--;
    if (blank(w, out)) {
        free(w);
        return len;
    }
    memcpy(text, w, out);
    text[out] = '\0';
    free(w);
    return out;
}

/* ---- HTML to text ---------------------------------------------------------- */

struct html_walk {
    struct td_buf *b;
    int space; /* last byte emitted was white space */
    int full;
};

static int is_tag(const xmlNode *n, const char *name)
{
    return n->name && xmlStrcasecmp(n->name, (const xmlChar *)name) == 0;
}

static int is_block(const xmlNode *n)
{
    static const char *const blocks[] = {
        "p",  "div", "li", "tr",  "h1",    "h2",      "h3",      "h4",     "h5",     "h6",
        "ul", "ol",  "hr", "pre", "table", "section", "article", "header", "footer", "address"};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        if (is_tag(n, blocks[i]))
            return 1;
    return 0;
}

static int attr_has(xmlNode *n, const char *attr, const char *needle)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)attr);
    int has = v && strstr((const char *)v, needle) != NULL;
    xmlFree(v);
    return has;
}

static void emit(struct html_walk *hw, const char *s, size_t n)
{
    for (size_t i = 0; i < n && !hw->full; i++) {
        char c = s[i];
        int ws = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
        if (ws) {
            if (hw->space)
                continue;
            c = ' ';
            hw->space = 1;
        } else {
            hw->space = 0;
        }
        if (td_buf_putc(hw->b, c))
            hw->full = 1;
    }
}

static void newline(struct html_walk *hw)
{
    if (hw->full)
        return;
    /* replace a trailing space by the newline, and allow one blank line */
    while (hw->b->len > 0 && hw->b->data[hw->b->len - 1] == ' ')
        hw->b->data[--hw->b->len] = '\0';
    if (hw->b->len >= 2 && hw->b->data[hw->b->len - 1] == '\n' &&
        hw->b->data[hw->b->len - 2] == '\n')
        return;
    if (hw->b->len > 0 && td_buf_putc(hw->b, '\n'))
        hw->full = 1;
    hw->space = 1;
}

static void walk(struct html_walk *hw, xmlNode *n, int depth)
{
    for (; n && !hw->full; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            if (n->content)
                emit(hw, (const char *)n->content, strlen((const char *)n->content));
            continue;
        }
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is_tag(n, "script") || is_tag(n, "style") || is_tag(n, "head") || is_tag(n, "title") ||
            is_tag(n, "noscript") || is_tag(n, "template") || is_tag(n, "blockquote"))
            continue;
        if (is_tag(n, "div") &&
            (attr_has(n, "class", "gmail_quote") || attr_has(n, "id", "divRplyFwdMsg") ||
             attr_has(n, "id", "appendonsend") || attr_has(n, "class", "moz-cite-prefix")))
            break; /* the reply quote: it and what follows are not the sender's */
        if (is_tag(n, "br")) {
            if (hw->b->len && hw->b->data[hw->b->len - 1] != '\n' && td_buf_putc(hw->b, '\n'))
                hw->full = 1;
            hw->space = 1;
            continue;
        }
        int block = is_block(n);
        if (block)
            newline(hw);
        if (depth < 256)
            walk(hw, n->children, depth + 1);
        if (block)
            newline(hw);
        else if (is_tag(n, "td") || is_tag(n, "th"))
            emit(hw, " ", 1);
    }
}

int td_email_html_to_text(const char *html, size_t len, size_t max, char **out, size_t *outlen,
                          struct td_error *err)
{
    *out = NULL;
    *outlen = 0;
    if (len > (size_t)INT32_MAX)
        return td_error_set(err, TD_ETOOBIG, "HTML part of %zu bytes", len);
    htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET);
    struct td_buf b;
    td_buf_init(&b, max);
    struct html_walk hw = {&b, 1, 0};
    if (doc)
        walk(&hw, xmlDocGetRootElement(doc), 0);
    if (doc)
        xmlFreeDoc(doc);
    while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
        b.data[--b.len] = '\0';
    if (!b.data && td_buf_append(&b, "", 0))
        return td_error_set(err, TD_ENOMEM, NULL);
    *out = td_buf_detach(&b, outlen);
    return TD_OK;
}
