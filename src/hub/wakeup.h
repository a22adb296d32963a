/* Cross-thread wake-up (wakeup.c): how other OS threads (the tpool, other hubs) hand work
 * to a hub. */
#ifndef GROVE_HUB_WAKEUP_H
#define GROVE_HUB_WAKEUP_H

#include "core/thread.h"

/* Runs fn(arg) on hub h's OS thread soon, from any OS thread. fn runs in the hub loop:
 * it must not switch (it may wake waiters, spawn, post). Thread-safe. The caller should
 * hold a keep-alive reference (grove__hub_ref, taken on h's thread) while a post is
 * expected, so h does not decide it is deadlocked meanwhile. Returns 0 or -ENOMEM. */
GROVE_HIDDEN int grove__hub_post(grove__hub *h, void (*fn)(void *), void *arg);
/* For posters that may outlive the hub (tpool jobs): a hold on h's inbox, taken on h's
 * thread (creates the eventfd if needed; NULL + errno on failure), released from any
 * thread. grove__inbox_post is grove__hub_post through a hold: it returns -ESHUTDOWN once
 * the hub is gone, and posts still queued when the hub goes get discard(arg) (if not
 * NULL) on the exiting thread instead of fn(arg). Thread-safe. */
typedef struct grove__inbox grove__inbox;
GROVE_HIDDEN grove__inbox *grove__inbox_hold(grove__hub *h);
GROVE_HIDDEN void grove__inbox_release(grove__inbox *in);
GROVE_HIDDEN int grove__inbox_post(grove__inbox *in, void (*fn)(void *), void (*discard)(void *), void *arg);
/* The hub's eventfd, created on first use (-errno on failure). Hub thread only. */
GROVE_HIDDEN int grove__wakeup_init(grove__hub *h);
/* Runs the posts queued for h (called by the fd table when the eventfd fires). */
GROVE_HIDDEN void grove__wakeup_drain(grove__hub *h);
GROVE_HIDDEN void grove__wakeup_close(grove__hub *h);
/* In a fork child: the inbox (its lock, its eventfd, its holders) belongs to the parent;
 * the child abandons it and makes a new one on demand. */
GROVE_HIDDEN void grove__wakeup_after_fork(grove__hub *h);

#endif
