"""Tests of berth.store and its migrations."""
