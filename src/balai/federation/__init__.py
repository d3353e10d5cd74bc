"""Federation: Balai instances (and other TAXII 2.1 servers) exchanging intelligence."""
