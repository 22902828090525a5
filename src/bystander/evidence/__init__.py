"""Evidence: storage, the tamper-evident audit log, retention and the biometric template vault."""
