"""Learning floor: regression protocols and their solvers, splits, zero-shot scores, fine-tuning, the GO caller."""
