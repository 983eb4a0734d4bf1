/* The run loop's C side: adds sched_bind and sched_drive to lnet.core. */
#ifndef LNET_BINDINGS_SCHED_H
#define LNET_BINDINGS_SCHED_H

#include <lua.h>

/* The id of the task running now, 0 outside any: the Lua side reads it
 * through the FFI to know which task a blocking call belongs to. */
extern int lnet_sched_current_id;

/* Sets the functions into the table on top of L's stack. */
void lnet_sched_register(lua_State *L);

#endif
