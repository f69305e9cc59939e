"""What every domain needs of STIX 2.1: markings, ids, timestamps, validation, extension definitions."""
