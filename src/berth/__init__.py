"""Berth."""
