/* The core's struct layouts and enum values, for the FFI mirrors' check. */
#ifndef LNET_BINDINGS_LAYOUT_H
#define LNET_BINDINGS_LAYOUT_H

#include <lua.h>

/* Pushes the table of offsets, sizes and enum values (layout.c). */
void lnet_layout_push(lua_State *L);

#endif
