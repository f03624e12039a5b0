"""Generated gRPC stubs for proto/pyctl/*.proto (run proto/generate.sh; do not edit)."""
