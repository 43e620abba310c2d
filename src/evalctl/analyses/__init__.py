"""Analyses: lake selections in, Reports out. Each reads through the lake and judges with checks."""
