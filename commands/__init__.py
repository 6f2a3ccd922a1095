"""The transport-free command core: parsing, the command registry and the commands."""
