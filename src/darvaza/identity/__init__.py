"""Users, sessions and staff API tokens: who is calling."""
