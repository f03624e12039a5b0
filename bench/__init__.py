"""pyctl benchmarks: `python -m bench [--quick] [--only NAME,...]` writes docs/benchmarks.md.

Each benchmark is one module that measures pyctl and, in the same run on the same machine,
the baseline it is compared with (raw etcd, raw runc, ...), and returns a `report.Section`.
"""
