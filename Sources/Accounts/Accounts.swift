// Accounts and sessions (contract 2a): placeholder until the module lands.
