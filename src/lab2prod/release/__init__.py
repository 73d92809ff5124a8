"""Release: evaluation on the holdout, the gate against the champion, the registry's aliases."""
