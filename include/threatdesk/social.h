/*
 * social.h - social-media replies and mentions as the platforms really hand
 * them over (JSON, parsed with jansson), turned into td_message.
 *
 * Shapes understood (one file may hold several JSON documents one after
 * another, as collectors that save page after page of API responses write):
 *
 *   X / Twitter
 *     API v2 responses: {"data": [tweet...] | tweet, "includes": {"users":
 *       [...], "tweets": [...]}, "meta": {...}}; tweet = {id, text,
 *       author_id, created_at (ISO 8601), conversation_id,
 *       referenced_tweets [{type: replied_to|quoted|retweeted, id}],
 *       in_reply_to_user_id}.  Handles come from includes.users, quoted
 *       text from includes.tweets.  A bare v2 tweet object is also read.
 *     Archive tweets.js: "window.YTD.tweets.part0 = [ {"tweet": {id_str,
 *       full_text, created_at ("Wed Oct 10 20:19:24 +0000 2018"),
 *       in_reply_to_status_id_str, in_reply_to_screen_name, ...}} ]"; v1.1
 *       tweets with a "user" object give the author too.
 *   Bluesky / AT Protocol (app.bsky.feed.post)
 *     getAuthorFeed / getTimeline {"feed": [{"post": postView}]},
 *     getPostThread {"thread": {post, parent, replies: [...]}},
 *     searchPosts / getPosts {"posts": [postView]},
 *     listNotifications {"notifications": [{uri, author, reason, record}]},
 *     com.atproto.repo.listRecords {"records": [{uri, cid, value}]};
 *     postView = {uri, cid, author {did, handle, displayName}, record
 *     {$type, text, createdAt, reply {parent, root}, embed}, embed (view)}.
 *     Quoted text comes from embed app.bsky.embed.record#view(Record).
 *   Facebook "Download your information"
 *     comments: {"comments_v2": [{timestamp, data: [{comment: {timestamp,
 *       comment, author}}], title}]}
 *   Instagram export
 *     post_comments_1.json: [{"string_map_data": {"Comment": {value},
 *       "Media Owner": {value}, "Time": {timestamp}}}] (also wrapped as
 *       {"comments_media_comments": [...]}).
 *   Facebook and Instagram exports write UTF-8 bytes as \u00XX escapes
 *   ("L\u00c3\u00b8ye" for "Løye"); such strings are repaired.
 *
 * Every message gets: id and message_id (platform post id), text, channel
 * ("twitter", "bluesky", "facebook", "instagram"), sender_handle,
 * sender_id, sender_name, the canonical sender key (sender.h), time (UTC),
 * url (https://x.com/<handle>/status/<id>,
 * https://bsky.app/profile/<handle>/post/<rkey>), reply_to (id or at://
 * URI), quoted_text, source ("<file>#<JSON pointer>") and original (the
 * record's JSON).
 */
#ifndef THREATDESK_SOCIAL_H
#define THREATDESK_SOCIAL_H

#include <stddef.h>

#include "threatdesk/error.h"
#include "threatdesk/message.h"
#include "threatdesk/reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Which platform's JSON the first bytes look like: TD_FORMAT_TWITTER,
 * TD_FORMAT_BLUESKY, TD_FORMAT_FACEBOOK (Instagram too), or
 * TD_FORMAT_AUTO when it is not one of them.
 */
enum td_format td_social_detect(const unsigned char *head, size_t n);

struct td_social;

/*
 * Parse len bytes (the whole file).  fmt is TD_FORMAT_TWITTER, _BLUESKY,
 * _FACEBOOK, or TD_FORMAT_AUTO to detect.  `source` names the input in
 * m->source and in errors.  TD_EPARSE when no document can be read;
 * TD_EFORMAT when the JSON is none of the shapes above.  *out is yours:
 * td_social_close().  bytes need not outlive the call.
 */
int td_social_open(const char *bytes, size_t len, enum td_format fmt, const char *source,
                   struct td_social **out, struct td_error *err);
/* Next message: TD_OK, TD_EOF, or a per-record error (a record without
 * text, say); call again to go on.  An invalid document after valid ones
 * is reported (TD_EPARSE, located) once, after their records. */
int td_social_next(struct td_social *s, struct td_message *m, struct td_error *err);
/* The platform read (after detection). */
enum td_format td_social_format(const struct td_social *s);
void td_social_close(struct td_social *s);

/*
 * Undo Facebook's mojibake: when every code point of the UTF-8 string s is
 * below U+0100 and those code points, taken as bytes, are valid UTF-8 that
 * differs from s, *out gets the repaired string (yours: free()) and 1 is
 * returned; otherwise 0 and *out is NULL.  -1 on out of memory.
 */
int td_social_unmojibake(const char *s, size_t n, char **out, size_t *outlen);

/* Seconds since the epoch from "2026-11-03T09:15:00.000Z" (any ISO 8601
 * offset) or "Wed Oct 10 20:19:24 +0000 2018"; TD_EPARSE otherwise. */
int td_social_parse_time(const char *s, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif
