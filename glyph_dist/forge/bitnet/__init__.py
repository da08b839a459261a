"""BitNet b1.58: ternary quantisation-aware training (bitlinear.py, convert.py, qat.py), the packed
2-bit export (pack.py) and inference through an int8 GEMM with ternary weights (kernel.py)."""
