# filled in by the daemon module
