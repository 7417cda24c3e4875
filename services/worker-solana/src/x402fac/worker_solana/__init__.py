"""Solana network worker (SPL TransferChecked)."""
