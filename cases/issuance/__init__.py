"""What a case issues after commit: documents and their 文号, snapshots, recipients, the outbox and the wake-up of its delivery."""
