# fedctl: the operator's client for fedrouter's admin socket (config admin.socket).
# jansson parses the router's JSON answers.
add_executable(fedctl fedctl.c)
target_link_libraries(fedctl PRIVATE PkgConfig::JANSSON)
install(TARGETS fedctl RUNTIME DESTINATION bin)
