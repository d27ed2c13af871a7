"""Everything that speaks OpCenter's REST dialect: wire names, the client, the status map."""
