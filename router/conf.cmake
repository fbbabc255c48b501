# router_conf: the configuration loader (libconfig -> immutable rt_conf_t).
add_library(router_conf STATIC conf.c)
target_include_directories(router_conf PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(router_conf PUBLIC router_core dna bssl PkgConfig::LIBCONFIG)

# router_stats: per-worker counters from stats_list.h and the /metrics endpoint (libmicrohttpd).
add_library(router_stats STATIC stats.c metrics.c)
target_include_directories(router_stats PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(router_stats PUBLIC router_core PkgConfig::MHD Threads::Threads)
target_compile_definitions(router_stats PRIVATE RT_VERSION="${PROJECT_VERSION}")
