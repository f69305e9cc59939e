"""The TAXII 2.1 interface of a hub: its routes and the mapping of library errors to TAXII errors."""
