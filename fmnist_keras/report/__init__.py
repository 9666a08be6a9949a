"""Reports: the results tables (`results`), figures (`plots`) and model cards (`cards`)."""
