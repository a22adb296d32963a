/* Event: a value sent once to every waiter (eventlet Event, gevent AsyncResult). */
#include "sync/sync.h"

int grove_event_init(grove_event *ev)
{
    if (!ev)
        return -EINVAL;
    grove__list_init(WL(&ev->waiters_));
    ev->value_ = NULL;
    ev->err_ = 0;
    ev->set_ = 0;
    return 0;
}

int grove_event_destroy(grove_event *ev)
{
    if (!ev)
        return -EINVAL;
    return grove__list_empty(WL(&ev->waiters_)) ? 0 : -EBUSY;
}

static int deliver(grove_event *ev, void *value, int err)
{
    if (ev->set_)
        return -EALREADY;
    ev->set_ = 1;
    ev->value_ = value;
    ev->err_ = err;
    grove__wake_all(WL(&ev->waiters_), err, value);
    return 0;
}

int grove_event_send(grove_event *ev, void *value)
{
    if (!ev)
        return -EINVAL;
    return deliver(ev, value, 0);
}

int grove_event_send_error(grove_event *ev, int err)
{
    if (!ev || err >= 0)
        return -EINVAL;
    return deliver(ev, NULL, err);
}

int grove_event_wait(grove_event *ev, void **value)
{
    if (!ev)
        return -EINVAL;
    if (ev->set_) {
        if (value)
            *value = ev->value_;
        return ev->err_;
    }
    void *v = NULL;
    int rc = sync_wait(WL(&ev->waiters_), "event", &v);
    if (rc == 0 && value)
        *value = v;
    return rc;
}

bool grove_event_ready(const grove_event *ev) { return ev && ev->set_; }

int grove_event_reset(grove_event *ev)
{
    if (!ev)
        return -EINVAL;
    ev->set_ = 0;
    ev->value_ = NULL;
    ev->err_ = 0;
    return 0;
}
