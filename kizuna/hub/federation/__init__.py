"""Hub-to-hub sync over plain TAXII 2.1: peers, egress and ingress rules, provenance, durable cursors."""
