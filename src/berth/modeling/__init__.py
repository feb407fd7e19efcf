"""Estimators behind the churn, tier and lifetime-value scores: fit on snapshots, cheap to predict."""
