"""Evaluation, the only code (with the zoo manifest) that sees labels.

`pairs`: blind pair decisions, pair accuracy with model-level and pair-level bootstrap CIs, the
model-level AUROC and the operating points (TPR at fixed FPR). `diagnostics`: evidence of aligned
models vs fakers at matched confidence and per catch level.
"""
