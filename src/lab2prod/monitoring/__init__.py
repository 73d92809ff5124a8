"""Monitoring and continuous training: drift, delayed-label performance, the history, retraining, a replay simulation."""
