/*
 * guard.c - what keeps one client from taking the desk down for everyone.
 *
 *   client address   the peer's address, or - when the peer is the
 *                    configured trusted proxy - the last address of its
 *                    X-Forwarded-For header (the one the proxy appended;
 *                    earlier entries are whatever the client claimed).
 *   login limiter    a token bucket per client address, checked BEFORE a
 *                    login costs an Argon2id hash: login_rate attempts a
 *                    minute with bursts of login_burst; past it 429 +
 *                    Retry-After.  The table is fixed-size (GUARD_SOURCES
 *                    entries); when full, the entry idle longest is reused,
 *                    so rotating addresses cost memory O(1).
 *   address cap      at most per_ip_connections connections from one peer
 *                    address (the trusted proxy excepted: it carries
 *                    everyone); a connection past the cap is shut at once.
 *                    (libmicrohttpd's own PER_IP_CONNECTION_LIMIT cannot
 *                    except the proxy.)
 *   request deadline libmicrohttpd's connection timeout restarts on every
 *                    byte, so a client sending one header line every few
 *                    seconds holds a connection (and a thread) forever.
 *                    Every connection is tracked from accept; a reaper
 *                    thread shuts down (shutdown(2), never close: the
 *                    socket stays libmicrohttpd's) any connection still
 *                    receiving its request request_deadline_s after the
 *                    request began.  A request being handled or answered is
 *                    not cut; the deadline restarts for the next request on
 *                    a kept-alive connection.
 *
 * Safety of shutdown(): a connection is removed from the tracked list in
 * the MHD_CONNECTION_NOTIFY_CLOSED callback, which libmicrohttpd calls
 * before it closes the socket; the reaper holds the same lock while it
 * calls shutdown(), so the descriptor it shuts is still this connection's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server_int.h"

#define GUARD_SOURCES 4096

/* ---- client address ------------------------------------------------------ */

static void peer_address(struct MHD_Connection *conn, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, size, "unknown");
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, buf,
                  (socklen_t)size);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, buf,
                  (socklen_t)size);
}

/* A textual IPv4/IPv6 address, normalised into out; 0 on success. */
static int parse_ip(const char *s, size_t n, char *out, size_t size)
{
    char tmp[64];
    unsigned char bin[16];
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, bin) == 1)
        return inet_ntop(AF_INET, bin, out, (socklen_t)size) ? 0 : -1;
    if (inet_pton(AF_INET6, tmp, bin) == 1)
        return inet_ntop(AF_INET6, bin, out, (socklen_t)size) ? 0 : -1;
    return -1;
}

void td__client_address(struct td__req *r, char *buf, size_t size)
{
    struct td_server *s = r->srv;
    peer_address(r->conn, buf, size);
    if (!s->cfg.trusted_proxy[0] || strcmp(buf, s->cfg.trusted_proxy) != 0)
        return;
    const char *xff = td__header(r, "X-Forwarded-For");
    if (!xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    char ip[64];
    if (parse_ip(last, strlen(last), ip, sizeof ip) == 0)
        snprintf(buf, size, "%s", ip);
}

int td__normalise_ip(const char *s, char *out, size_t size)
{
    return parse_ip(s, strlen(s), out, size);
}

/* ---- login limiter ----------------------------------------------------- */

struct td__bucket {
    char source[64];
    double tokens;
    uint64_t last_ns;
};

struct td__limiter {
    pthread_mutex_t lock;
    struct td__bucket *b;
    size_t n;
    double per_ns; /* tokens added per nanosecond */
    double burst;
};

struct td__limiter *td__limiter_new(unsigned per_minute, unsigned burst)
{
    struct td__limiter *l = calloc(1, sizeof *l);
    if (!l || !(l->b = calloc(GUARD_SOURCES, sizeof *l->b))) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->per_ns = (double)per_minute / 60e9;
    l->burst = burst ? burst : 1;
    return l;
}

void td__limiter_free(struct td__limiter *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l->b);
    free(l);
}

unsigned td__limiter_take(struct td__limiter *l, const char *source)
{
    uint64_t now = td__now_ns();
    unsigned wait = 0;
    size_t i, oldest = 0;
    pthread_mutex_lock(&l->lock);
    for (i = 0; i < l->n; i++) {
        if (!strcmp(l->b[i].source, source))
            break;
        if (l->b[i].last_ns < l->b[oldest].last_ns)
            oldest = i;
    }
    if (i == l->n) {
        if (l->n < GUARD_SOURCES)
            i = l->n++;
        else
            i = oldest; /* the longest idle source starts again full */
        snprintf(l->b[i].source, sizeof l->b[i].source, "%s", source);
        l->b[i].tokens = l->burst;
        l->b[i].last_ns = now;
    }
    struct td__bucket *b = &l->b[i];
    b->tokens += (double)(now - b->last_ns) * l->per_ns;
    if (b->tokens > l->burst)
        b->tokens = l->burst;
    b->last_ns = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        double secs = l->per_ns > 0 ? (1.0 - b->tokens) / l->per_ns / 1e9 : 60;
        wait = (unsigned)secs + 1;
    }
    pthread_mutex_unlock(&l->lock);
    return wait;
}

/* ---- connections and the request deadline ------------------------------- */

struct td__conn {
    struct td__conn *prev, *next;
    MHD_socket fd;
    char addr[64];
    uint64_t deadline_ns; /* 0: not receiving (being handled / answered) */
    int cut;
};

struct td__conns {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct td__conn head; /* circular list sentinel */
    uint64_t deadline_ns;
    unsigned per_addr;
    pthread_t reaper;
    int running, stop;
    size_t cut_total, refused_total;
    struct td_server *srv;
};

static void *reaper_main(void *arg)
{
    struct td__conns *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->wake, &c->lock, &until);
        uint64_t now = td__now_ns();
        size_t cut = 0;
        for (struct td__conn *k = c->head.next; k != &c->head; k = k->next) {
            if (k->deadline_ns && now > k->deadline_ns && !k->cut) {
                shutdown(k->fd, SHUT_RDWR);
                k->cut = 1;
                cut++;
            }
        }
        c->cut_total += cut;
        if (cut) {
            char detail[96];
            snprintf(detail, sizeof detail,
                     "%zu connection(s) closed: request not received within the deadline", cut);
            pthread_mutex_unlock(&c->lock);
            td__log_event(c->srv, TD__LOG_WARN, "deadline", detail);
            pthread_mutex_lock(&c->lock);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

struct td__conns *td__conns_new(struct td_server *s, unsigned deadline_s)
{
    struct td__conns *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    c->head.next = c->head.prev = &c->head;
    c->deadline_ns = (uint64_t)deadline_s * 1000000000u;
    c->per_addr = s->cfg.per_ip_connections;
    c->srv = s;
    if (pthread_create(&c->reaper, NULL, reaper_main, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->wake);
        free(c);
        return NULL;
    }
    c->running = 1;
    return c;
}

void td__conns_free(struct td__conns *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    if (c->running)
        pthread_join(c->reaper, NULL);
    /* libmicrohttpd has reported every connection closed by now. */
    while (c->head.next != &c->head) {
        struct td__conn *k = c->head.next;
        k->prev->next = k->next;
        k->next->prev = k->prev;
        free(k);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    free(c);
}

size_t td__conns_cut(struct td__conns *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->cut_total;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* MHD_OPTION_NOTIFY_CONNECTION */
void td__conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe)
{
    struct td__conns *c = ((struct td_server *)cls)->conns;
    if (!c)
        return;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct td__conn *k = ci ? calloc(1, sizeof *k) : NULL;
        *socket_context = k;
        if (!k)
            return; /* untracked: only the idle timeout applies */
        k->fd = ci->connect_fd;
        peer_address(conn, k->addr, sizeof k->addr);
        int exempt = c->srv->cfg.trusted_proxy[0] && !strcmp(k->addr, c->srv->cfg.trusted_proxy);
        unsigned same = 0;
        pthread_mutex_lock(&c->lock);
        if (!exempt)
            for (struct td__conn *o = c->head.next; o != &c->head; o = o->next)
                same += !o->cut && !strcmp(o->addr, k->addr);
        k->deadline_ns = td__now_ns() + c->deadline_ns;
        k->next = &c->head;
        k->prev = c->head.prev;
        c->head.prev->next = k;
        c->head.prev = k;
        if (same >= c->per_addr) {
            /* Over the cap: closed before a byte is read. */
            shutdown(k->fd, SHUT_RDWR);
            k->cut = 1;
            c->refused_total++;
        }
        pthread_mutex_unlock(&c->lock);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct td__conn *k = *socket_context;
        if (!k)
            return;
        pthread_mutex_lock(&c->lock);
        k->prev->next = k->next;
        k->next->prev = k->prev;
        pthread_mutex_unlock(&c->lock);
        free(k);
        *socket_context = NULL;
    }
}

/* The request has been received (receiving 0) or answered and the next
 * one may begin (receiving 1). */
void td__conn_receiving(struct td_server *s, struct MHD_Connection *conn, int receiving)
{
    struct td__conns *c = s->conns;
    if (!c)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct td__conn *k = ci ? ci->socket_context : NULL;
    if (!k)
        return;
    pthread_mutex_lock(&c->lock);
    k->deadline_ns = receiving ? td__now_ns() + c->deadline_ns : 0;
    pthread_mutex_unlock(&c->lock);
}
