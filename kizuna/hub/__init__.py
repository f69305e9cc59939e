"""The exchange: STIX store, TAXII 2.1 API, organisations and TLP access control, federation, audit."""
