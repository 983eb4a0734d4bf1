-- lnet from a checkout: at its root,
--   luarocks --lua-version=5.1 make rockspecs/lnet-scm-1.rockspec [--tree DIR | --local]
-- (LuaJIT is Lua 5.1 to luarocks, and Debian's luarocks defaults to the
-- system lua). CMake builds the host and lnet.core and installs them with
-- lnet's Lua files into the rock; luarocks puts the host in the tree's
-- bin/, where it finds the tree's share/lua/5.1. The build also writes the
-- release rockspec, lnet-<version>-1.rockspec, with CMakeLists.txt's version.
rockspec_format = "3.0"
package = "lnet"
version = "scm-1"
source = {
    -- No public URL yet: `luarocks make` builds the checkout it runs in.
    url = "git+file://.",
}
description = {
    summary = "A network scripting host: Go's net contract on LuaJIT and libev",
    detailed = [[
Conns, listeners, packet conns, deadlines and contexts on one libev loop,
bound to LuaJIT, so network scripts read like blocking code while thousands
of them run at once. Brings the lnet module, the lnet.busted helper and the
`lnet` host.]],
}
dependencies = {
    "lua == 5.1",
}
build = {
    type = "cmake",
    variables = {
        CMAKE_BUILD_TYPE = "Release",
        CMAKE_INSTALL_PREFIX = "$(PREFIX)",
        CMAKE_INSTALL_BINDIR = "$(BINDIR)",
        LNET_INSTALL_LUADIR = "$(LUADIR)",
        LNET_INSTALL_CMODDIR = "$(LIBDIR)",
        -- A rock holds Lua modules and commands: the core for C (liblnet,
        -- its headers, lnet.pc) comes with `cmake --install` or the .deb.
        LNET_INSTALL_C = "OFF",
        BUILD_TESTING = "OFF",
    },
}
