"""Importers of the customer base (LDAP, phone book); filled in by a later issue."""
