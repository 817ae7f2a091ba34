"""Data floor: DMS, PISCES and plain-sequence preparation; sequences and mutant strings."""
