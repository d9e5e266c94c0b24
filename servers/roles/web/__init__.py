"""The web role: pages a shopper's browser opens (the 3-D Secure challenge)."""
