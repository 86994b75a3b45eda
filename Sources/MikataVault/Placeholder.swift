package enum VaultPlaceholder {}
