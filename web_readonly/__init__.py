"""The read-only reports web page; filled in by a later issue."""
