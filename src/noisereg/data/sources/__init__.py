"""Readers of datasets in their official layouts."""
