"""XMPP transport, scheduler, command line and process of the helpdesk bot."""
