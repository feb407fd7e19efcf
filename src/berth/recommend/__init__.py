"""Retention recommendations: explained drivers, the playbook, ranking and campaign planning."""
