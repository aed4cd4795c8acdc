"""baohan: an open electronic-guarantee (电子保函) exchange."""

__version__ = "0.1.0"
