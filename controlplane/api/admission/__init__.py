"""Admission: policy a write must pass after validation and before it is stored."""
