"""One reader per source format; `lab2prod.data.sources` picks one by suffix and is the public entry."""
