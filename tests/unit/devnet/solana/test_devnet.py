"""The Solana devnet through its JSON-RPC: real programs, signatures, blockhash window, agave shapes."""

import asyncio
import base64

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.transaction import VersionedTransaction
from x402.mechanisms.svm import FacilitatorKeypairSigner, KeypairSigner
from x402.mechanisms.svm.exact import ExactSvmClientScheme
from x402.mechanisms.svm.exact.facilitator import ExactSvmScheme as ExactSvmFacilitatorScheme
from x402.schemas import PaymentPayload, PaymentRequirements

from tests.fixtures.solana import (
    USDC_UNIT,
    ata_transfer,
    b64,
    rpc_call,
    rpc_result,
    usdc_payment,
    wait_status,
)
from x402fac.devnet.solana import DEVNET_GENESIS_HASH, NETWORK, USDC_MINT, faucet
from x402fac.devnet.solana.codec import TOKEN_2022_PROGRAM, b58encode
from x402fac.devnet.solana.instructions import (
    TOKEN,
    ata,
    create_ata_idempotent,
    initialize_mint2,
    mint_to_checked,
)

TOKEN_2022 = Pubkey.from_string(TOKEN_2022_PROGRAM)


async def latest_blockhash(url: str) -> Hash:
    value = (await rpc_result(url, "getLatestBlockhash", [{"commitment": "confirmed"}]))["value"]
    return Hash.from_string(value["blockhash"])


async def fully_signed(solana_devnet, payer: Keypair, to: Pubkey, amount: int) -> VersionedTransaction:
    """A USDC payment signed by the payer and by the devnet's first fee payer, on the latest blockhash."""
    fee_payer = solana_devnet.fee_payers[0]
    blockhash = await latest_blockhash(solana_devnet.url)
    return usdc_payment(payer, to, amount, fee_payer.pubkey(), blockhash, sign_fee_payer=fee_payer)


async def test_answers_as_solana_devnet_with_usdc_mint(solana_devnet):
    url = solana_devnet.url
    assert await rpc_result(url, "getGenesisHash") == "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
    assert NETWORK == "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
    async with AsyncClient(url) as client:
        mint = (await client.get_account_info(USDC_MINT)).value
    assert str(mint.owner) == str(TOKEN)
    assert mint.data[44] == 6
    parsed = await rpc_result(url, "getAccountInfo", [str(USDC_MINT), {"encoding": "jsonParsed"}])
    info = parsed["value"]["data"]["parsed"]["info"]
    assert info["mintAuthority"] == str(solana_devnet.mint_authority.pubkey())
    assert info["decimals"] == 6
    assert parsed["value"]["data"]["program"] == "spl-token"


async def test_transfer_checked_signed_with_solders_executes(solana_devnet, solana_payer):
    url = solana_devnet.url
    fee_payer = solana_devnet.fee_payers[0]
    recipient = Keypair().pubkey()
    solana_devnet.fund(recipient)  # creates the recipient's USDC account
    tx = await fully_signed(solana_devnet, solana_payer, recipient, 1_234_567)
    fee_before = solana_devnet.chain.svm.get_balance(fee_payer.pubkey())
    fee = await rpc_result(url, "getFeeForMessage", [base64.b64encode(bytes(tx.message)).decode()])
    signature = await rpc_result(url, "sendTransaction", [b64(tx), {"encoding": "base64"}])
    assert signature == str(tx.signatures[0])
    status = await wait_status(url, signature, "confirmed")
    assert status["err"] is None and status["status"] == {"Ok": None}
    assert solana_devnet.usdc_balance(recipient) == 1_234_567
    assert solana_devnet.usdc_balance(solana_payer.pubkey()) == 100 * USDC_UNIT - 1_234_567
    # base fee for two signatures plus ceil(1 micro-lamport x 20,000 units) priority fee
    assert fee["value"] == 2 * 5000 + 1
    assert solana_devnet.chain.svm.get_balance(fee_payer.pubkey()) == fee_before - fee["value"]

    got = await rpc_result(
        url, "getTransaction", [signature, {"commitment": "confirmed", "maxSupportedTransactionVersion": 0}]
    )
    assert got["version"] == 0
    assert got["meta"]["fee"] == fee["value"]
    post = {b["owner"]: b["uiTokenAmount"]["amount"] for b in got["meta"]["postTokenBalances"]}
    assert post[str(recipient)] == "1234567"


async def test_processed_then_confirmed_then_finalized(solana_devnet, solana_payer):
    url = solana_devnet.url
    tx = await fully_signed(solana_devnet, solana_payer, solana_devnet.payers[0].pubkey(), 5)
    signature = await rpc_result(url, "sendTransaction", [b64(tx), {"encoding": "base64"}])
    first = (await rpc_result(url, "getSignatureStatuses", [[signature]]))["value"][0]
    assert first["confirmationStatus"] == "processed"
    assert (
        await rpc_result(
            url,
            "getTransaction",
            [signature, {"commitment": "confirmed", "maxSupportedTransactionVersion": 0}],
        )
        is None
    )
    await wait_status(url, signature, "finalized")
    final = (await rpc_result(url, "getSignatureStatuses", [[signature]]))["value"][0]
    assert final["confirmations"] is None
    assert await rpc_result(url, "getTransaction", [signature, {"maxSupportedTransactionVersion": 0}])
    unknown = str(Signature.new_unique())
    assert (await rpc_result(url, "getSignatureStatuses", [[unknown]]))["value"] == [None]


async def test_stale_blockhash_refused_recent_one_accepted(solana_devnet, solana_payer):
    url = solana_devnet.url
    fee_payer = solana_devnet.fee_payers[0]
    recipient = solana_devnet.payers[1].pubkey()
    old = await latest_blockhash(url)
    solana_devnet.chain.advance(100)
    recent_but_not_latest = usdc_payment(
        solana_payer, recipient, 7, fee_payer.pubkey(), old, sign_fee_payer=fee_payer
    )
    assert await rpc_result(url, "sendTransaction", [b64(recent_but_not_latest), {"encoding": "base64"}])

    solana_devnet.chain.advance(51)
    assert (await rpc_result(url, "isBlockhashValid", [str(old)]))["value"] is False
    stale = usdc_payment(solana_payer, recipient, 8, fee_payer.pubkey(), old, sign_fee_payer=fee_payer)
    before = solana_devnet.usdc_balance(solana_payer.pubkey())
    refused = await rpc_call(url, "sendTransaction", [b64(stale), {"encoding": "base64"}])
    assert refused["error"]["code"] == -32002
    assert refused["error"]["message"] == "Transaction simulation failed: Blockhash not found"
    assert refused["error"]["data"]["err"] == "BlockhashNotFound"
    # Without preflight the node takes it and the leader drops it: a signature that never lands.
    signature = await rpc_result(
        url, "sendTransaction", [b64(stale), {"encoding": "base64", "skipPreflight": True}]
    )
    assert (await rpc_result(url, "getSignatureStatuses", [[signature]]))["value"] == [None]
    assert solana_devnet.usdc_balance(solana_payer.pubkey()) == before


async def test_signature_checks(solana_devnet, solana_payer):
    url = solana_devnet.url
    fee_payer = solana_devnet.fee_payers[0]
    unsigned_fee_payer = usdc_payment(
        solana_payer, solana_devnet.payers[0].pubkey(), 9, fee_payer.pubkey(), await latest_blockhash(url)
    )
    refused = await rpc_call(url, "sendTransaction", [b64(unsigned_fee_payer), {"encoding": "base64"}])
    assert refused["error"] == {"code": -32003, "message": "Transaction signature verification failure"}
    verified = await rpc_call(
        url, "simulateTransaction", [b64(unsigned_fee_payer), {"encoding": "base64", "sigVerify": True}]
    )
    assert verified["error"]["code"] == -32003
    # Without sigVerify (the default) the simulation runs.
    simulated = await rpc_result(
        url, "simulateTransaction", [b64(unsigned_fee_payer), {"encoding": "base64"}]
    )
    assert simulated["value"]["err"] is None
    assert simulated["value"]["unitsConsumed"] > 0
    assert any("TransferChecked" in line for line in simulated["value"]["logs"])


async def test_simulation_reports_program_errors_and_replaces_blockhash(solana_devnet, solana_payer):
    url = solana_devnet.url
    fee_payer = solana_devnet.fee_payers[0]
    too_much = await fully_signed(solana_devnet, solana_payer, solana_devnet.payers[0].pubkey(), 10**15)
    simulated = await rpc_result(url, "simulateTransaction", [b64(too_much), {"encoding": "base64"}])
    assert simulated["value"]["err"] == {"InstructionError": [2, {"Custom": 1}]}
    refused = await rpc_call(url, "sendTransaction", [b64(too_much), {"encoding": "base64"}])
    assert (
        refused["error"]["message"]
        == "Transaction simulation failed: Error processing Instruction 2: custom program error: 0x1"
    )
    assert refused["error"]["data"]["logs"]

    stale = usdc_payment(
        solana_payer,
        solana_devnet.payers[0].pubkey(),
        1,
        fee_payer.pubkey(),
        solana_devnet.chain.latest_blockhash,
    )
    solana_devnet.chain.advance(151)
    stale_sim = await rpc_result(url, "simulateTransaction", [b64(stale), {"encoding": "base64"}])
    assert stale_sim["value"]["err"] == "BlockhashNotFound"
    replaced = await rpc_result(
        url, "simulateTransaction", [b64(stale), {"encoding": "base64", "replaceRecentBlockhash": True}]
    )
    assert replaced["value"]["err"] is None
    assert replaced["value"]["replacementBlockhash"]["blockhash"] == str(solana_devnet.chain.latest_blockhash)
    both = await rpc_call(
        url,
        "simulateTransaction",
        [b64(stale), {"encoding": "base64", "sigVerify": True, "replaceRecentBlockhash": True}],
    )
    assert both["error"]["code"] == -32602


async def test_duplicate_is_already_processed_and_pays_once(solana_devnet, solana_payer):
    url = solana_devnet.url
    recipient = solana_devnet.payers[0].pubkey()
    tx = await fully_signed(solana_devnet, solana_payer, recipient, 11)
    before = solana_devnet.usdc_balance(recipient)
    first = await rpc_result(url, "sendTransaction", [b64(tx), {"encoding": "base64"}])
    again = await rpc_call(url, "sendTransaction", [b64(tx), {"encoding": "base64"}])
    assert again["error"]["data"]["err"] == "AlreadyProcessed"
    assert (
        await rpc_result(url, "sendTransaction", [b64(tx), {"encoding": "base64", "skipPreflight": True}])
        == first
    )
    assert solana_devnet.usdc_balance(recipient) == before + 11


async def test_base58_encoding_and_bad_input(solana_devnet, solana_payer):
    url = solana_devnet.url
    tx = await fully_signed(solana_devnet, solana_payer, solana_devnet.payers[0].pubkey(), 12)
    assert await rpc_result(url, "sendTransaction", [b58encode(bytes(tx))]) == str(tx.signatures[0])
    garbage = await rpc_call(url, "sendTransaction", ["AAAA", {"encoding": "base64"}])
    assert garbage["error"]["code"] == -32602
    assert garbage["error"]["message"].startswith(
        "failed to deserialize solana_transaction::versioned::VersionedTransaction"
    )
    bad_key = await rpc_call(url, "getBalance", ["not-a-key"])
    assert bad_key["error"]["code"] == -32602
    assert (await rpc_call(url, "noSuchMethod"))["error"] == {"code": -32601, "message": "Method not found"}


async def test_list_parameters_must_be_lists_of_bounded_length(solana_devnet):
    url = solana_devnet.url
    key, signature = str(Keypair().pubkey()), str(Signature.default())
    for method, item, most in (("getMultipleAccounts", key, 100), ("getSignatureStatuses", signature, 256)):
        assert (await rpc_call(url, method, [[item] * most]))["result"]["value"] == [None] * most
        too_many = await rpc_call(url, method, [[item] * (most + 1)])
        assert too_many["error"]["message"] == f"Too many inputs provided; max {most}"
        not_a_list = await rpc_call(url, method, [item])
        assert not_a_list["error"]["message"] == "Invalid params: invalid type: expected a sequence."


async def test_third_party_creates_mint_accounts_and_transfers(solana_devnet):
    """Someone with only solders and SOL makes their own Token-2022 mint and moves it."""
    url = solana_devnet.url
    owner, mint, friend = Keypair(), Keypair(), Keypair()
    await rpc_result(url, "requestAirdrop", [str(owner.pubkey()), 2_000_000_000])
    mint_space = 82
    rent = await rpc_result(url, "getMinimumBalanceForRentExemption", [mint_space])
    instructions = [
        create_account(
            CreateAccountParams(
                from_pubkey=owner.pubkey(),
                to_pubkey=mint.pubkey(),
                lamports=rent,
                space=mint_space,
                owner=TOKEN_2022,
            )
        ),
        initialize_mint2(mint.pubkey(), 2, owner.pubkey(), TOKEN_2022),
        create_ata_idempotent(owner.pubkey(), owner.pubkey(), mint.pubkey(), TOKEN_2022),
        create_ata_idempotent(owner.pubkey(), friend.pubkey(), mint.pubkey(), TOKEN_2022),
        mint_to_checked(
            mint.pubkey(),
            ata(owner.pubkey(), mint.pubkey(), TOKEN_2022),
            owner.pubkey(),
            10_000,
            2,
            TOKEN_2022,
        ),
        ata_transfer(owner.pubkey(), friend.pubkey(), mint.pubkey(), 2_550, 2, TOKEN_2022),
        transfer(TransferParams(from_pubkey=owner.pubkey(), to_pubkey=friend.pubkey(), lamports=1_000_000)),
    ]
    message = MessageV0.try_compile(owner.pubkey(), instructions, [], await latest_blockhash(url))
    tx = VersionedTransaction(message, [owner, mint])
    signature = await rpc_result(url, "sendTransaction", [b64(tx), {"encoding": "base64"}])
    await wait_status(url, signature)

    friend_ata = str(ata(friend.pubkey(), mint.pubkey(), TOKEN_2022))
    balance = await rpc_result(url, "getTokenAccountBalance", [friend_ata])
    assert balance["value"] == {"amount": "2550", "decimals": 2, "uiAmount": 25.5, "uiAmountString": "25.5"}
    parsed = await rpc_result(url, "getAccountInfo", [friend_ata, {"encoding": "jsonParsed"}])
    assert parsed["value"]["data"]["program"] == "spl-token-2022"
    assert parsed["value"]["data"]["parsed"]["info"]["extensions"] == [{"extension": "immutableOwner"}]
    by_owner = await rpc_result(
        url,
        "getTokenAccountsByOwner",
        [str(friend.pubkey()), {"programId": TOKEN_2022_PROGRAM}, {"encoding": "jsonParsed"}],
    )
    assert [entry["pubkey"] for entry in by_owner["value"]] == [friend_ata]
    assert (await rpc_result(url, "getBalance", [str(friend.pubkey())]))["value"] == 1_000_000


async def test_official_solana_py_client_parses_every_answer(solana_devnet, solana_payer):
    """solana-py (what the x402 SDK uses) decodes our answers with solders' response types."""
    fee_payer = solana_devnet.fee_payers[1]
    recipient = solana_devnet.payers[0].pubkey()
    async with AsyncClient(solana_devnet.url, commitment=Confirmed) as client:
        assert str((await client.get_genesis_hash()).value) == DEVNET_GENESIS_HASH
        latest = (await client.get_latest_blockhash()).value
        tx = usdc_payment(
            solana_payer, recipient, 13, fee_payer.pubkey(), latest.blockhash, sign_fee_payer=fee_payer
        )
        simulated = (await client.simulate_transaction(tx, sig_verify=True)).value
        assert simulated.err is None and simulated.units_consumed > 0
        assert (await client.get_fee_for_message(tx.message)).value == 10_001
        signature = (await client.send_raw_transaction(bytes(tx), TxOpts(skip_preflight=False))).value
        await client.confirm_transaction(signature, Confirmed, sleep_seconds=0.05)
        statuses = (await client.get_signature_statuses([signature])).value
        assert statuses[0].err is None
        got = (
            await client.get_transaction(signature, max_supported_transaction_version=0, commitment=Confirmed)
        ).value
        assert got.slot > 0 and got.transaction.meta.err is None
        balance = (await client.get_token_account_balance(ata(solana_payer.pubkey(), USDC_MINT))).value
        assert balance.amount == str(100 * USDC_UNIT - 13)
        accounts = (await client.get_multiple_accounts([USDC_MINT, Keypair().pubkey()])).value
        assert accounts[0] is not None and accounts[1] is None
        owned = (
            await client.get_token_accounts_by_owner_json_parsed(
                solana_payer.pubkey(), TokenAccountOpts(mint=USDC_MINT)
            )
        ).value
        assert len(owned) == 1
        assert (await client.get_epoch_info()).value.absolute_slot == solana_devnet.chain.slot
        assert (await client.get_slot()).value > 0
        assert (await client.get_version()).value.solana_core
        try:
            await client.send_raw_transaction(bytes(tx))
        except RPCException as error:
            assert "already been processed" in str(error)
        else:
            raise AssertionError("a duplicate was accepted")


async def test_faucet_over_rpc(solana_devnet):
    owner = Keypair().pubkey()
    signature = await faucet(solana_devnet.info(), str(owner), 2_500_000)
    assert (await rpc_result(solana_devnet.url, "getSignatureStatuses", [[signature]]))["value"][0][
        "err"
    ] is None
    assert solana_devnet.usdc_balance(owner) == 2_500_000
    assert solana_devnet.chain.svm.get_balance(owner) > 0
    await faucet(solana_devnet.info(), str(owner), 500_000)
    assert solana_devnet.usdc_balance(owner) == 3_000_000


async def test_official_sdk_client_and_facilitator_run_against_the_devnet(solana_devnet):
    """The x402 SDK's own SVM client and facilitator (solana-py, sync) pay and settle here unchanged."""
    payer = solana_devnet.new_payer(10 * USDC_UNIT)
    seller = Keypair().pubkey()
    solana_devnet.fund(seller)
    fee_payer = solana_devnet.fee_payers[0]
    requirements = PaymentRequirements(
        scheme="exact",
        network=NETWORK,
        asset=str(USDC_MINT),
        amount="2500",
        pay_to=str(seller),
        max_timeout_seconds=60,
        extra={"feePayer": str(fee_payer.pubkey())},
    )

    def pay_and_settle():
        inner = ExactSvmClientScheme(KeypairSigner(payer), solana_devnet.url).create_payment_payload(
            requirements
        )
        payload = PaymentPayload(x402_version=2, accepted=requirements, payload=inner)
        facilitator = ExactSvmFacilitatorScheme(FacilitatorKeypairSigner(fee_payer, solana_devnet.url))
        return facilitator.verify(payload, requirements), facilitator.settle(payload, requirements)

    verified, settled = await asyncio.to_thread(pay_and_settle)
    assert verified.is_valid, verified
    assert settled.success, settled
    assert solana_devnet.usdc_balance(seller) == 2500
    assert solana_devnet.usdc_balance(payer.pubkey()) == 10 * USDC_UNIT - 2500
