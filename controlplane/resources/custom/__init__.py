"""What a CustomResourceDefinition's kinds are made of: the structural schema (validation,
pruning, defaulting), CEL rules, printer columns, accepted names, and the CRD's own checks."""
