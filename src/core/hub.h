/* The hub's internals, for core and the hub layer (transitional: see internal.h). */
#ifndef GROVE_CORE_HUB_H
#define GROVE_CORE_HUB_H
#include "core/internal.h"
#endif
