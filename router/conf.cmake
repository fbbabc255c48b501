# filled in by the conf module
