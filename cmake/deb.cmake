# cpack -G DEB (in the build): lnet_<version>_<arch>.deb holding what
# `cmake --install` puts under the configured prefix. Configure the build
# for the .deb with -DCMAKE_INSTALL_PREFIX=/usr: the Lua C module's
# directory (lib/<multiarch>/lua/5.1) follows the prefix.

set(CPACK_PACKAGE_NAME lnet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "lnet maintainers <maintainers@lnet.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "network scripting host: Go's net contract on LuaJIT and libev")
set(CPACK_PACKAGE_DESCRIPTION "lnet runs network scripts that read like blocking code while thousands
of them run at once: conns, listeners, packet conns, deadlines and contexts on one
libev loop, bound to LuaJIT. It brings the lnet host, the lnet module for
LuaJIT, and its C core with headers and pkg-config file.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION interpreters)

# Depends: dpkg-shlibdeps reads it off the ELF files, with minimum versions:
# libluajit-5.1-2, libev4, libc-ares2, libedit2, libssl3 (OpenSSL, for
# lnet.tls), libc6; spec/deb_spec.lua checks that list.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shlibs file and the ldconfig trigger, for liblnet.so.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# `require "lnet"` under plain luajit, and the busted helper.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS luajit)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS lua-busted)

include(CPack)
