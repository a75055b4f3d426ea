"""qbizfed: Amazon Q Business with IAM federation, done properly."""

__version__ = "0.1.0"
