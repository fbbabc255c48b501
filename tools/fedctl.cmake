# fedctl: the operator's client for fedrouter's admin socket (config admin.socket).
add_executable(fedctl fedctl.c)
