"""The model forge: Cognate tiny recursive models (cognate/) and, above them, their evolutionary merging."""
