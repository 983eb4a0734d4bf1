# cmake --install: the host in bin/, lnet's Lua modules and lnet.core where
# LuaJIT looks by default (share/lua/5.1, and lib/lua/5.1 under /usr/local or
# lib/<multiarch>/lua/5.1 under /usr, as Debian's LuaJIT searches), and the
# core for C: liblnet.a, liblnet.so, <lnet/*.h>, lnet.pc. CMake leaves
# install_manifest.txt in the build, the list to uninstall by.

set(LNET_INSTALL_LUADIR ${CMAKE_INSTALL_DATADIR}/lua/5.1 CACHE STRING
  "Where lnet's Lua modules go (relative to the prefix, or absolute)")
set(LNET_INSTALL_CMODDIR ${CMAKE_INSTALL_LIBDIR}/lua/5.1 CACHE STRING
  "Where lnet.core (lnet/core.so) goes (relative to the prefix, or absolute)")
option(LNET_INSTALL_C "Install the core for C: liblnet, <lnet/*.h>, lnet.pc" ON)

install(TARGETS lnet RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY lua/lnet DESTINATION ${LNET_INSTALL_LUADIR} FILES_MATCHING PATTERN "*.lua")
install(TARGETS lnet_module LIBRARY DESTINATION ${LNET_INSTALL_CMODDIR}/lnet)

if(LNET_INSTALL_C)
  install(TARGETS lnet_core lnet_shared
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  # Every core header: each includes its neighbours by their plain names.
  file(GLOB LNET_HEADERS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/core/*.h)
  install(FILES ${LNET_HEADERS} ${CMAKE_BINARY_DIR}/include/lnet/version.h
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lnet)

  # Libs.private (a static link) names what lnet_core links, so a library
  # the core takes on later is listed without touching this file.
  set(LNET_PC_LIBS_PRIVATE "")
  get_target_property(lnet_deps lnet_core INTERFACE_LINK_LIBRARIES)
  foreach(dep IN LISTS lnet_deps)
    if(dep STREQUAL "Threads::Threads")
      string(APPEND LNET_PC_LIBS_PRIVATE " -pthread")
      continue()
    elseif(IS_ABSOLUTE "${dep}")
      get_filename_component(dep ${dep} NAME_WE)
      string(REGEX REPLACE "^lib" "" dep ${dep})
    elseif(NOT dep MATCHES "^[A-Za-z0-9_+-]+$")
      message(FATAL_ERROR "lnet.pc: cannot name ${dep} for Libs.private")
    endif()
    string(APPEND LNET_PC_LIBS_PRIVATE " -l${dep}")
  endforeach()
  file(RELATIVE_PATH LNET_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
  string(REGEX REPLACE "/$" "" LNET_PC_TO_PREFIX ${LNET_PC_TO_PREFIX})
  configure_file(${CMAKE_CURRENT_LIST_DIR}/lnet.pc.in lnet.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/lnet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
