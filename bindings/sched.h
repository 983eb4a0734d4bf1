/* The run loop's C side: adds sched_bind and sched_drive to lnet.core. */
#ifndef LNET_BINDINGS_SCHED_H
#define LNET_BINDINGS_SCHED_H

#include <lua.h>

/* Sets the functions into the table on top of L's stack. */
void lnet_sched_register(lua_State *L);

#endif
