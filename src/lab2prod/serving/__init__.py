"""Online scoring: the registered pyfunc model, its answers and refusals, and the request log."""
