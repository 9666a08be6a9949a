"""Training: the engine (`engine.train`), its run directory (`rundir.RunDir`),
callbacks, schedules, loss, evaluation, the multi-worker loop and speed measurement."""
