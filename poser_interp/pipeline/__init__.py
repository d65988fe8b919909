"""Running detectors: `runs` (run folders, a detector over a zoo, blind by `blind`) and `reproduce`
(run what is missing, then draw every figure and the results table)."""
