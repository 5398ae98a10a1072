"""CardioCart: the software of a cart-side cardiac exam box."""

__version__ = "0.1.0"

DISCLAIMER_EN = "Not for diagnostic use without review."
DISCLAIMER_ZH = "未经医生审核，不得用于诊断。"
