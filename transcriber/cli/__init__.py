"""The command line: its commands, the HTTP client they use, and the submit flow."""
