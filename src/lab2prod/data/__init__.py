"""Data: source adapters, the lake's zones, the contract and its quarantine."""
