"""Every reason code a verify or settle answer can carry, in one enum.

The first block is the list the facilitator specifications (OpenX402, Ӿ402Nano) share; the rest are
precise per-scheme codes.
Values are the wire strings; workers answer with them and the README's table lists them all.
"""

from enum import StrEnum


class Reason(StrEnum):
    # Seed list (OpenX402 / Ӿ402Nano)
    UNSUPPORTED_SCHEME = "unsupported_scheme"
    UNSUPPORTED_NETWORK = "unsupported_network"
    AMOUNT_TOO_LOW = "amount_too_low"
    RECIPIENT_MISMATCH = "recipient_mismatch"
    EXPIRED = "expired"
    INVALID_SIGNATURE = "invalid_signature"
    NONCE_ALREADY_USED = "nonce_already_used"
    SETTLEMENT_FAILED = "settlement_failed"
    RATE_LIMITED = "rate_limited"
    INSUFFICIENT_BALANCE = "insufficient_balance"

    # Any family
    INVALID_PAYLOAD = "invalid_payload"
    REQUIREMENTS_MISMATCH = "requirements_mismatch"
    UNSUPPORTED_ASSET = "unsupported_asset"
    AMOUNT_MISMATCH = "amount_mismatch"
    SETTLEMENT_PENDING = "settlement_pending"
    DUPLICATE_SETTLEMENT = "duplicate_settlement"
    SIMULATION_FAILED = "simulation_failed"
    NODE_UNAVAILABLE = "node_unavailable"
    CONFIRMATION_TIMEOUT = "confirmation_timeout"
    AMOUNT_BELOW_MINIMUM = "amount_below_minimum"
    FEE_TOO_HIGH = "fee_too_high"
    ADDRESS_NOT_REGISTERED = "address_not_registered"
    INVALID_PAYMENT_IDENTIFIER = "invalid_payment_identifier"
    PAYMENT_IDENTIFIER_CONFLICT = "payment_identifier_conflict"
    INVALID_DISCOVERY_INFO = "invalid_discovery_info"

    # Nano
    INVALID_BLOCK = "invalid_block"
    INVALID_WORK = "invalid_work"
    FRONTIER_MOVED = "frontier_moved"
    FRONTIER_UNCONFIRMED = "frontier_unconfirmed"
    ACCOUNT_NOT_FOUND = "account_not_found"
    BLOCK_ALREADY_EXISTS = "block_already_exists"
    PROCESS_FAILED = "process_failed"

    # EVM (EIP-3009)
    NOT_YET_VALID = "not_yet_valid"
    MISSING_EIP712_DOMAIN = "missing_eip712_domain"
    TOKEN_DOMAIN_MISMATCH = "token_domain_mismatch"
    ASSET_NOT_A_CONTRACT = "asset_not_a_contract"
    INVALID_ERC6492_WRAPPER = "invalid_erc6492_wrapper"
    ERC6492_FACTORY_NOT_ALLOWED = "eip6492_factory_not_allowed"
    SMART_WALLET_DEPLOYMENT_FAILED = "smart_wallet_deployment_failed"

    # EVM (Permit2 and its gas-sponsoring extensions): the official SDK's names
    INVALID_PERMIT2_SPENDER = "invalid_permit2_spender"
    PERMIT2_RECIPIENT_MISMATCH = "invalid_permit2_recipient_mismatch"
    PERMIT2_DEADLINE_EXPIRED = "permit2_deadline_expired"
    PERMIT2_NOT_YET_VALID = "permit2_not_yet_valid"
    PERMIT2_AMOUNT_MISMATCH = "permit2_amount_mismatch"
    PERMIT2_TOKEN_MISMATCH = "permit2_token_mismatch"
    INVALID_PERMIT2_SIGNATURE = "invalid_permit2_signature"
    PERMIT2_ALLOWANCE_REQUIRED = "permit2_allowance_required"
    PERMIT2_INVALID_NONCE = "permit2_invalid_nonce"
    PERMIT2_INVALID_DESTINATION = "permit2_invalid_destination"
    INVALID_EIP2612_EXTENSION_FORMAT = "invalid_eip2612_extension_format"
    EIP2612_FROM_MISMATCH = "eip2612_from_mismatch"
    EIP2612_ASSET_MISMATCH = "eip2612_asset_mismatch"
    EIP2612_SPENDER_NOT_PERMIT2 = "eip2612_spender_not_permit2"
    EIP2612_DEADLINE_EXPIRED = "eip2612_deadline_expired"
    PERMIT2_2612_AMOUNT_MISMATCH = "permit2_2612_amount_mismatch"
    UPTO_FACILITATOR_MISMATCH = "upto_facilitator_mismatch"
    UPTO_SETTLEMENT_EXCEEDS_AMOUNT = "invalid_upto_evm_payload_settlement_exceeds_amount"
    INVALID_ERC20_APPROVAL_EXTENSION_FORMAT = "invalid_erc20_approval_extension_format"
    ERC20_APPROVAL_FROM_MISMATCH = "erc20_approval_from_mismatch"
    ERC20_APPROVAL_ASSET_MISMATCH = "erc20_approval_asset_mismatch"
    ERC20_APPROVAL_SPENDER_NOT_PERMIT2 = "erc20_approval_spender_not_permit2"
    ERC20_APPROVAL_TX_PARSE_FAILED = "erc20_approval_tx_parse_failed"
    ERC20_APPROVAL_TX_SIGNER_MISMATCH = "erc20_approval_tx_signer_mismatch"
    ERC20_APPROVAL_TX_WRONG_TARGET = "erc20_approval_tx_wrong_target"
    ERC20_APPROVAL_TX_WRONG_SELECTOR = "erc20_approval_tx_wrong_selector"
    ERC20_APPROVAL_TX_WRONG_SPENDER = "erc20_approval_tx_wrong_spender"
    ERC20_APPROVAL_TX_NONCE_MISMATCH = "erc20_approval_tx_nonce_mismatch"
    ERC20_APPROVAL_TX_FAILED = "erc20_approval_tx_failed"
    ERC20_APPROVAL_BROADCAST_FAILED = "erc20_approval_broadcast_failed"

    # Solana (SPL TransferChecked)
    INVALID_TRANSACTION = "invalid_transaction"
    FEE_PAYER_NOT_MANAGED = "fee_payer_not_managed"
    FEE_PAYER_TRANSFERRING = "fee_payer_transferring"
    FEE_PAYER_IN_INSTRUCTION = "fee_payer_in_instruction"
    INVALID_INSTRUCTIONS = "invalid_instructions"
    UNKNOWN_INSTRUCTION = "unknown_instruction"
    COMPUTE_PRICE_TOO_HIGH = "compute_price_too_high"
    MINT_MISMATCH = "mint_mismatch"
    ASSET_NOT_A_MINT = "asset_not_a_mint"
    MISSING_SIGNATURE = "missing_signature"
    MEMO_MISSING = "memo_missing"
    MEMO_MISMATCH = "memo_mismatch"
    LOOKUP_TABLE_UNRESOLVED = "lookup_table_unresolved"
    BLOCKHASH_EXPIRED = "blockhash_expired"
    COMPUTE_LIMIT_TOO_HIGH = "compute_limit_too_high"
    MINT_EXTENSION_NOT_ALLOWED = "mint_extension_not_allowed"


# One line per code for the README table and OpenAPI descriptions.
REASON_DESCRIPTIONS: dict[Reason, str] = {
    Reason.UNSUPPORTED_SCHEME: "Payment scheme is not one this facilitator settles on the network (`exact`, and `upto` where enabled).",
    Reason.UNSUPPORTED_NETWORK: "Network not served by this facilitator (or no worker configured for it).",
    Reason.AMOUNT_TOO_LOW: "Payment amount is less than required.",
    Reason.RECIPIENT_MISMATCH: "The signed recipient is not `payTo`.",
    Reason.EXPIRED: "The authorization expired (or expires within the settlement margin).",
    Reason.INVALID_SIGNATURE: "Signature verification failed (or the signature is not canonical).",
    Reason.NONCE_ALREADY_USED: "The authorization nonce was already used on-chain.",
    Reason.SETTLEMENT_FAILED: "The transaction was broadcast but failed on-chain, or could not be sent.",
    Reason.RATE_LIMITED: "Too many settles for this payer in the window (default 10/min).",
    Reason.INSUFFICIENT_BALANCE: "The payer's balance does not cover the amount.",
    Reason.INVALID_PAYLOAD: "The scheme payload is malformed for this network.",
    Reason.REQUIREMENTS_MISMATCH: "`paymentPayload.accepted` does not match `paymentRequirements`.",
    Reason.UNSUPPORTED_ASSET: "The asset is not accepted on this network.",
    Reason.AMOUNT_MISMATCH: "The paid amount is not exactly the required amount (message says under/over).",
    Reason.SETTLEMENT_PENDING: "Broadcast but not yet confirmed; `transaction` holds its id, retry for the outcome.",
    Reason.DUPLICATE_SETTLEMENT: "This payment was already settled (or is being settled) for another request; `transaction` is the one that paid.",
    Reason.SIMULATION_FAILED: "Simulating the transfer failed; the message carries the cause.",
    Reason.NODE_UNAVAILABLE: "No RPC node of the network answered.",
    Reason.CONFIRMATION_TIMEOUT: "The network did not confirm in time.",
    Reason.AMOUNT_BELOW_MINIMUM: "`amount` is below the minimum this network and asset accept (never 0).",
    Reason.FEE_TOO_HIGH: "The fee we would pay for the settlement is above the network's configured maximum.",
    Reason.ADDRESS_NOT_REGISTERED: "`payTo` is not on this facilitator's whitelist (`X402FAC_REQUIRE_REGISTERED_PAYTO` is on).",
    Reason.INVALID_PAYMENT_IDENTIFIER: '`extensions["payment-identifier"].info.id` is not 16-128 characters of `[A-Za-z0-9_-]`.',
    Reason.PAYMENT_IDENTIFIER_CONFLICT: "This payment identifier was already used with a different payment; nothing was settled.",
    Reason.INVALID_DISCOVERY_INFO: "The `bazaar` extension info is malformed: the resource is not listed (the payment itself is unaffected; reported in the settle answer's `extensions.bazaar`).",
    Reason.INVALID_BLOCK: "Nano: the block is not a well-formed state send block.",
    Reason.INVALID_WORK: "Nano: proof of work is below the network threshold for the block's root.",
    Reason.FRONTIER_MOVED: "Nano: `previous` is not the account's current frontier.",
    Reason.FRONTIER_UNCONFIRMED: "Nano: the account's frontier is not confirmed yet.",
    Reason.ACCOUNT_NOT_FOUND: "Nano: the payer account is not opened.",
    Reason.BLOCK_ALREADY_EXISTS: "Nano: the block is already on the ledger.",
    Reason.PROCESS_FAILED: "Nano: the node refused the block (fork, gap, ...).",
    Reason.NOT_YET_VALID: "EVM: `validAfter` is in the future.",
    Reason.MISSING_EIP712_DOMAIN: "EVM: `extra.name` / `extra.version` missing from the requirements.",
    Reason.TOKEN_DOMAIN_MISMATCH: "EVM: the token's EIP-712 name/version differ from `extra` (message says which).",
    Reason.ASSET_NOT_A_CONTRACT: "EVM: the asset address holds no contract.",
    Reason.INVALID_PERMIT2_SPENDER: "EVM Permit2: the signed spender is not the x402 exact Permit2 proxy.",
    Reason.PERMIT2_RECIPIENT_MISMATCH: "EVM Permit2: `witness.to` is not `payTo`.",
    Reason.PERMIT2_DEADLINE_EXPIRED: "EVM Permit2: the permit's `deadline` has passed (or falls within the settlement margin, 6 s).",
    Reason.PERMIT2_NOT_YET_VALID: "EVM Permit2: `witness.validAfter` is in the future.",
    Reason.PERMIT2_AMOUNT_MISMATCH: "EVM Permit2: `permitted.amount` is not exactly `amount`.",
    Reason.PERMIT2_TOKEN_MISMATCH: "EVM Permit2: `permitted.token` is not `asset`.",
    Reason.INVALID_PERMIT2_SIGNATURE: "EVM Permit2: the signature does not recover to (or is refused by, ERC-1271) `permit2Authorization.from`.",
    Reason.PERMIT2_ALLOWANCE_REQUIRED: "EVM Permit2: the payer has not approved Permit2 for the amount, and no enabled gas-sponsoring extension grants it.",
    Reason.PERMIT2_INVALID_NONCE: "EVM Permit2: the payer's Permit2 nonce was already used (or invalidated).",
    Reason.PERMIT2_INVALID_DESTINATION: "EVM Permit2: the proxy refuses the destination (the zero address).",
    Reason.INVALID_EIP2612_EXTENSION_FORMAT: "EVM Permit2: `extensions.eip2612GasSponsoring.info` is malformed.",
    Reason.EIP2612_FROM_MISMATCH: "EVM Permit2: the EIP-2612 permit's `from` is not the payer.",
    Reason.EIP2612_ASSET_MISMATCH: "EVM Permit2: the EIP-2612 permit's `asset` is not the paid token.",
    Reason.EIP2612_SPENDER_NOT_PERMIT2: "EVM Permit2: the EIP-2612 permit's `spender` is not Permit2.",
    Reason.EIP2612_DEADLINE_EXPIRED: "EVM Permit2: the EIP-2612 permit's `deadline` has passed (or falls within 6 s).",
    Reason.PERMIT2_2612_AMOUNT_MISMATCH: "EVM Permit2: the EIP-2612 permit's `amount` is not `permitted.amount` (the proxy requires them equal).",
    Reason.UPTO_FACILITATOR_MISMATCH: "EVM upto: `witness.facilitator` is not one of this facilitator's signers on the network (`extra.facilitatorAddress` of /supported), or the proxy refused the caller.",
    Reason.UPTO_SETTLEMENT_EXCEEDS_AMOUNT: "EVM upto: the settle's `amount` is above the authorized maximum (`permitted.amount`).",
    Reason.INVALID_ERC6492_WRAPPER: "EVM: the signature ends with the ERC-6492 suffix but is not `abi.encode(factory, factoryCalldata, signature)` with a factory, calldata and a signature.",
    Reason.ERC6492_FACTORY_NOT_ALLOWED: "EVM: the ERC-6492 wallet's factory is not in the network's `_ERC6492_FACTORIES` (we would run its call with our gas).",
    Reason.SMART_WALLET_DEPLOYMENT_FAILED: "EVM: the ERC-6492 factory call, simulated, reverted or left no contract at the payer's address (or the network has no Multicall3).",
    Reason.INVALID_ERC20_APPROVAL_EXTENSION_FORMAT: "EVM Permit2: `extensions.erc20ApprovalGasSponsoring.info` is malformed.",
    Reason.ERC20_APPROVAL_FROM_MISMATCH: "EVM Permit2: the sponsored approval's `from` is not the payer.",
    Reason.ERC20_APPROVAL_ASSET_MISMATCH: "EVM Permit2: the sponsored approval's `asset` is not the paid token.",
    Reason.ERC20_APPROVAL_SPENDER_NOT_PERMIT2: "EVM Permit2: the sponsored approval's `spender` is not Permit2.",
    Reason.ERC20_APPROVAL_TX_PARSE_FAILED: "EVM Permit2: `signedTransaction` is not a signed EIP-1559 transaction of this chain sending no ether (message says what).",
    Reason.ERC20_APPROVAL_TX_SIGNER_MISMATCH: "EVM Permit2: the approval transaction is not signed by the payer.",
    Reason.ERC20_APPROVAL_TX_WRONG_TARGET: "EVM Permit2: the approval transaction does not call the paid token.",
    Reason.ERC20_APPROVAL_TX_WRONG_SELECTOR: "EVM Permit2: the approval transaction is not an `approve(address,uint256)` call.",
    Reason.ERC20_APPROVAL_TX_WRONG_SPENDER: "EVM Permit2: the approval transaction approves another spender than Permit2.",
    Reason.ERC20_APPROVAL_TX_NONCE_MISMATCH: "EVM Permit2: the approval transaction's nonce is not the payer's next one, so it cannot be mined now.",
    Reason.ERC20_APPROVAL_TX_FAILED: "EVM Permit2: the approval transaction reverted or was not mined in time; the payment was not sent.",
    Reason.ERC20_APPROVAL_BROADCAST_FAILED: "EVM Permit2: the node refused the approval transaction (or our funding of its gas); the payment was not sent.",
    Reason.INVALID_TRANSACTION: "Solana: the transaction cannot be decoded.",
    Reason.FEE_PAYER_NOT_MANAGED: "Solana: `extra.feePayer` / the fee-payer slot is not one of ours.",
    Reason.FEE_PAYER_TRANSFERRING: "Solana: our fee payer is the transfer authority.",
    Reason.FEE_PAYER_IN_INSTRUCTION: "Solana: our fee payer appears in an instruction's accounts.",
    Reason.INVALID_INSTRUCTIONS: "Solana: instruction count or order is not the exact layout.",
    Reason.UNKNOWN_INSTRUCTION: "Solana: an instruction other than compute budget, transfer, Memo, Lighthouse.",
    Reason.COMPUTE_PRICE_TOO_HIGH: "Solana: compute unit price above the cap (default 5,000,000 micro-lamports).",
    Reason.MINT_MISMATCH: "Solana: the transfer's mint is not `asset`.",
    Reason.ASSET_NOT_A_MINT: "Solana: `asset` is not a Token / Token-2022 mint.",
    Reason.MISSING_SIGNATURE: "Solana: a required signature other than the fee payer's is missing or invalid.",
    Reason.MEMO_MISSING: "Solana: no Memo instruction (the exact scheme requires one).",
    Reason.MEMO_MISMATCH: "Solana: the memo differs from `extra.memo`.",
    Reason.LOOKUP_TABLE_UNRESOLVED: "Solana: an address lookup table could not be resolved.",
    Reason.BLOCKHASH_EXPIRED: "Solana: the transaction's blockhash expired.",
    Reason.COMPUTE_LIMIT_TOO_HIGH: "Solana: the compute unit limit (or the runtime default without one) is above the cap.",
    Reason.MINT_EXTENSION_NOT_ALLOWED: "Solana: a Token-2022 extension that can take a cut or move funds back (allow it in config).",
}
