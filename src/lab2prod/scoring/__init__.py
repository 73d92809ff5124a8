"""Scoring: streaming batch scoring with lineage, and notebook -> production script export."""
