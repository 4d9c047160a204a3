"""The case ledger: creating and acting on cases, the shared machines, guards and effects, field validation, who may see and do what, numbers, counts."""
