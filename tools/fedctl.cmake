# fedctl: the operator's client for fedrouter's admin socket (config admin.socket).
# jansson parses the router's JSON answers (as dna/ does POSH documents; libjansson-dev).
pkg_check_modules(FEDCTL_JANSSON REQUIRED IMPORTED_TARGET jansson)
add_executable(fedctl fedctl.c)
target_link_libraries(fedctl PRIVATE PkgConfig::FEDCTL_JANSSON)
