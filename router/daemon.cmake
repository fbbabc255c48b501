# fedrouter: the daemon (event loop, TLS, s2s and component sessions, routing, main).
add_executable(fedrouter
  admin.c
  comp.c
  conn.c
  loop.c
  main.c
  notify.c
  peer.c
  proof.c
  route.c
  s2s_in.c
  s2s_out.c
  tls.c
)
target_link_libraries(fedrouter PRIVATE router_xml router_dns router_posh router_posh_dns router_conf router_stats pool dna
  router_core bssl PkgConfig::URING Threads::Threads)
target_compile_definitions(fedrouter PRIVATE RT_VERSION="${PROJECT_VERSION}")
install(TARGETS fedrouter RUNTIME DESTINATION bin) # /usr/local/bin: the systemd unit runs it there
