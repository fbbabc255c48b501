# filled in by the xml module
