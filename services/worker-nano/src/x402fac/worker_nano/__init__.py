"""Nano network worker."""
