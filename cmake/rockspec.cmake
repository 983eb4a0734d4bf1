# The release rockspec, lnet-<version>-1.rockspec in the build: the scm one
# (rockspecs/lnet-scm-1.rockspec, the only one kept in the repo) with
# CMakeLists.txt's version, built from the tag v<version>.

file(READ ${CMAKE_SOURCE_DIR}/rockspecs/lnet-scm-1.rockspec LNET_ROCKSPEC)
string(REPLACE "version = \"scm-1\"" "version = \"${PROJECT_VERSION}-1\""
  LNET_ROCKSPEC "${LNET_ROCKSPEC}")
string(REGEX REPLACE "(source = {\n[^}]*url = [^\n]*\n)" "\\1    tag = \"v${PROJECT_VERSION}\",\n"
  LNET_ROCKSPEC "${LNET_ROCKSPEC}")
file(WRITE ${CMAKE_BINARY_DIR}/lnet-${PROJECT_VERSION}-1.rockspec "${LNET_ROCKSPEC}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/rockspecs/lnet-scm-1.rockspec)
