"""Reporting: HTML pages rendered from templates."""
