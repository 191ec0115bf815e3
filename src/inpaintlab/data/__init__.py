"""Datasets, mask generators and the DataModule that pairs them."""
