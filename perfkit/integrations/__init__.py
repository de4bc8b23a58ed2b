"""Callbacks for the training frameworks people use; each records the same run.json as
``@profile_step``: one step per optimizer step, data wait, syncs, the profiler window."""
