"""Metrics: CloudWatch-shaped time series with 1 min / 5 min / 1 h rollups and KLL sketches."""
