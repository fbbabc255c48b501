// hist_list.h: every histogram, listed once (STYLE.md §10). The stats slots, the /metrics text and
// the README table come from this list, as for stats_list.h.
//
// RT_HIST(id, name, labels, help, bounds_us...): |name| is the family name (samples get _bucket,
// _sum and _count); |labels| is the label set as Prometheus text ("" for none); |bounds_us| are
// the bucket upper bounds in MICROSECONDS, strictly increasing, at least one. They are rendered
// in seconds (le="0.0001" for 100); +Inf is implicit.
// No X-macro guard: include it after defining RT_HIST.
RT_HIST(STANZA_ROUTING, "fedrouter_stanza_routing_seconds", "",
        "Time from reading a stanza to writing it to its outgoing stream or component",
        100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
        2500000, 5000000, 10000000)
RT_HIST(PAIR_SETUP, "fedrouter_pair_setup_seconds", "",
        "Time from creating an outbound domain pair to its first valid state",
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
        10000000, 30000000, 60000000)
