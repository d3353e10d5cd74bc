"""TAXII 2.1: Balai's intelligence served to (and received from) any conformant client."""
