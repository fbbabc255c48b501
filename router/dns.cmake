# filled in by the dns module
